//! `serve`: the local identity server in the foreground, with a ready-to-use client.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use td_oauth_testkit::{Algorithm, TestServer};

use crate::error::CliError;

pub(crate) fn serve(port: u16, https: bool) -> Result<(), CliError> {
    let server = TestServer::builder().port(port).https(https).start()?;
    let client = server.register_client(Algorithm::Es256)?;

    let dir = std::env::temp_dir().join(format!("td-oauth-serve-{}", server.local_addr().port()));
    std::fs::create_dir_all(&dir).map_err(|err| CliError::Failed(format!("cannot create {}: {err}", dir.display())))?;
    let key_path = write_private(&dir.join("client.key"), &client.private_key)?;
    let secret_path = write_private(&dir.join("client.secret"), &client.client_secret)?;
    let ca_path = match server.certificate() {
        Some(certificate) => Some(write_private(&dir.join("ca.pem"), &certificate.pem)?),
        None => None,
    };

    println!("td-oauth serve: a Talkdesk-compatible identity server for local development and tests only");
    println!("token URL:          {}", server.token_url());
    println!("authorize URL:      {}", server.authorize_url());
    println!("protected resource: {}", server.me_url());
    println!("client id:          {}", client.client_id);
    println!("key id:             {}", client.key_id);
    println!("private key file:   {} (ES256, Talkdesk's one-line Base64 form)", key_path.display());
    println!("client secret file: {}", secret_path.display());
    if let Some(ca_path) = &ca_path {
        println!("certificate:        {} (trust it with --ca-file)", ca_path.display());
    }
    println!("\nTry:");
    let ca = ca_path.map(|p| format!(" TALKDESK_CA_FILE={}", p.display())).unwrap_or_default();
    println!(
        "  TALKDESK_TOKEN_URL={} TALKDESK_CLIENT_ID={} TALKDESK_KEY_ID={} TALKDESK_PRIVATE_KEY_FILE={}{ca} td-oauth token",
        server.token_url(),
        client.client_id,
        client.key_id,
        key_path.display()
    );
    println!("\nPress Ctrl-C to stop.");
    // Piped output is block-buffered: flush so scripts and tests can read the lines above at once.
    std::io::stdout().flush().map_err(|err| CliError::Failed(format!("cannot write to standard output: {err}")))?;
    loop {
        std::thread::park();
    }
}

/// Writes a file only the current user can read.
fn write_private(path: &Path, content: &str) -> Result<PathBuf, CliError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file =
        options.open(path).map_err(|err| CliError::Failed(format!("cannot write {}: {err}", path.display())))?;
    file.write_all(content.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|err| CliError::Failed(format!("cannot write {}: {err}", path.display())))?;
    Ok(path.to_path_buf())
}
