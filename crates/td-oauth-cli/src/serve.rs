//! `serve`: the local identity server in the foreground, with a ready-to-use client.
//!
//! The client's key and secret are written to a fresh directory that only the current user can enter, with
//! a random name, and each file is created new (never through an existing file or link): a shared temporary
//! directory is where another local user could otherwise read the key or make us overwrite a file of theirs.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use td_oauth_core::random::{OsRandom, random_token};
use td_oauth_testkit::{Algorithm, TestServer};

use crate::error::CliError;
use crate::output::{self, out};

pub(crate) fn serve(port: u16, https: bool) -> Result<(), CliError> {
    let server = TestServer::builder().port(port).https(https).start()?;
    let client = server.register_client(Algorithm::Es256)?;

    let dir = private_dir()?;
    let key_path = write_private(&dir.join("client.key"), &client.private_key)?;
    let secret_path = write_private(&dir.join("client.secret"), &client.client_secret)?;
    // A test user's refresh token, for `whoami` and `api /users/me` (single use: it rotates, as Talkdesk's may).
    let refresh_token = server.issue_refresh_token(&client.client_id, &["openid", "users:read"]);
    let refresh_path = write_private(&dir.join("user.refresh-token"), &refresh_token)?;
    let ca_path = match server.certificate() {
        Some(certificate) => Some(write_private(&dir.join("ca.pem"), &certificate.pem)?),
        None => None,
    };

    out!("td-oauth serve: a Talkdesk-compatible identity server for local development and tests only")?;
    out!("token URL:          {}", server.token_url())?;
    out!("authorize URL:      {}", server.authorize_url())?;
    out!("protected resource: {}", server.me_url())?;
    out!("API gateway:        {} (/users/me, /users, the Apps API)", server.base_url())?;
    out!("client id:          {}", client.client_id)?;
    out!("key id:             {}", client.key_id)?;
    out!("private key file:   {} (ES256, Talkdesk's one-line Base64 form)", key_path.display())?;
    out!("client secret file: {}", secret_path.display())?;
    out!("user refresh token: {} (single use: refresh tokens rotate)", refresh_path.display())?;
    if let Some(ca_path) = &ca_path {
        out!("certificate:        {} (trust it with --ca-file)", ca_path.display())?;
    }
    out!("\nTry:")?;
    let ca = ca_path.map(|p| format!(" TALKDESK_CA_FILE={}", p.display())).unwrap_or_default();
    out!(
        "  TALKDESK_TOKEN_URL={} TALKDESK_CLIENT_ID={} TALKDESK_KEY_ID={} TALKDESK_PRIVATE_KEY_FILE={}{ca} td-oauth token",
        server.token_url(),
        client.client_id,
        client.key_id,
        key_path.display()
    )?;
    out!(
        "  TALKDESK_TOKEN_URL={} TALKDESK_API_URL={} TALKDESK_CLIENT_ID={} TALKDESK_KEY_ID={} TALKDESK_PRIVATE_KEY_FILE={}{ca} td-oauth api --paginate /users",
        server.token_url(),
        server.base_url(),
        client.client_id,
        client.key_id,
        key_path.display()
    )?;
    out!("  … td-oauth whoami --refresh-token-file {}", refresh_path.display())?;
    out!("\nPress Ctrl-C to stop. The key works only with this server; {} can be removed afterwards.", dir.display())?;
    output::flush()?;
    loop {
        std::thread::park();
    }
}

/// A new directory under the system's temporary directory, named at random and private to this user. `mkdir`
/// fails rather than reuse anything already there, link or not.
fn private_dir() -> Result<PathBuf, CliError> {
    let name = random_token(&OsRandom::new(), 12)?;
    let dir = std::env::temp_dir().join(format!("td-oauth-serve-{name}"));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(&dir).map_err(|err| CliError::Failed(format!("cannot create {}: {err}", dir.display())))?;
    Ok(dir)
}

/// Creates a new file only the current user can read; an existing file or link at `path` is an error.
fn write_private(path: &Path, content: &str) -> Result<PathBuf, CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).map_err(|err| CliError::Failed(format!("cannot write {}: {err}", path.display())))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|err| CliError::Failed(format!("cannot write {}: {err}", path.display())))?;
    Ok(path.to_path_buf())
}
