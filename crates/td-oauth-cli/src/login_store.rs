//! The refresh token `td-oauth login` keeps, and `token --user` turning it into an access token.
//!
//! One file per token endpoint (so per account) and client, in `$XDG_CONFIG_HOME/td-oauth/logins` (else
//! `~/.config/td-oauth/logins`), 0600, named by a hash of the two, holding them and the refresh token as
//! JSON. Every use takes the file's lock for the refresh and the write-back, because the server rotates the
//! refresh token (the old one stops working once used): two runs refreshing with the same token at once
//! would lose the login.

use serde_json::{Value, json};
use td_oauth_core::oauth_error::ErrorCode;
use td_oauth_core::{Grant, RefreshToken, Scopes, TokenResponse};
use td_oauth_redis::FleetKey;
use zeroize::Zeroizing;

use crate::args::Connection;
use crate::error::CliError;
use crate::store::{self, FileLock, PrivateDir};

const WHAT: &str = "login file";

/// Where the login of one client at one token endpoint is kept.
pub(crate) struct LoginStore {
    dir: PrivateDir,
    name: String,
    token_url: String,
    client_id: String,
}

impl LoginStore {
    /// The store for the connection's token endpoint and client (nothing is read or created yet).
    pub(crate) fn for_connection(connection: &Connection) -> Result<LoginStore, CliError> {
        let endpoints = connection.endpoints()?;
        let client_id = connection.client_id()?;
        let token_url = endpoints.token_url().as_str().to_owned();
        let key = FleetKey::new(&token_url, &client_id, &Scopes::none());
        Ok(LoginStore {
            dir: PrivateDir::at(store::config_dir("logins")?),
            name: format!("{}.json", key.digest()),
            token_url,
            client_id: client_id.as_str().to_owned(),
        })
    }

    /// The login file's path.
    pub(crate) fn path(&self) -> std::path::PathBuf {
        self.dir.file(&self.name)
    }

    /// The token endpoint and client, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("client {} at {}", self.client_id, self.token_url)
    }

    /// Creates the directory and takes the lock that every reader and writer of the login holds.
    pub(crate) fn lock(&self) -> Result<(PrivateDir, FileLock), CliError> {
        let dir = PrivateDir::create(self.dir.path().to_path_buf())?;
        let lock = dir.lock(&format!("{}.lock", self.name))?;
        Ok((dir, lock))
    }

    /// Keeps `refresh_token`, replacing any earlier login of this client. Call with the lock held.
    pub(crate) fn save(&self, refresh_token: &RefreshToken, scope: Option<&str>) -> Result<(), CliError> {
        let body = json!({
            "version": 1,
            "token_url": self.token_url,
            "client_id": self.client_id,
            "scope": scope,
            "refresh_token": refresh_token.secret(),
        });
        let bytes = Zeroizing::new(serde_json::to_vec_pretty(&body).unwrap_or_default());
        let dir = PrivateDir::create(self.dir.path().to_path_buf())?;
        dir.write(&self.name, &bytes, WHAT)
    }

    /// The kept refresh token and the scope it was granted; an error that says to log in when there is none.
    pub(crate) fn load(&self) -> Result<(RefreshToken, Option<String>), CliError> {
        let not_logged_in = || {
            CliError::Input(format!(
                "not logged in as a user for {}: run `td-oauth login` with the same --account (or --token-url) \
                 and --client-id first",
                self.describe()
            ))
        };
        let bytes = self.dir.read(&self.name, WHAT)?.ok_or_else(not_logged_in)?;
        let damaged = || {
            CliError::Input(format!(
                "the {WHAT} {} is not one td-oauth wrote: run `td-oauth logout` and `td-oauth login` again",
                self.path().display()
            ))
        };
        let mut body: Value = serde_json::from_slice(&bytes).map_err(|_| damaged())?;
        if body["token_url"] != self.token_url || body["client_id"] != self.client_id {
            return Err(damaged());
        }
        let scope = body["scope"].as_str().map(str::to_owned);
        match body["refresh_token"].take() {
            Value::String(token) if !token.is_empty() => Ok((RefreshToken::new(token), scope)),
            _ => Err(damaged()),
        }
    }

    /// Removes the login; whether there was one.
    pub(crate) fn remove(&self) -> Result<bool, CliError> {
        if !self.dir.path().exists() {
            return Ok(false);
        }
        let (dir, _lock) = self.lock()?;
        let removed = dir.remove(&self.name, WHAT)?;
        // The lock file goes too: nothing of this login is left behind.
        let _ = dir.remove(&format!("{}.lock", self.name), "lock file");
        Ok(removed)
    }
}

/// `token --user`: an access token for the logged-in user, from the kept refresh token, which is replaced
/// by the one the server rotates to. `--dry-run` shows the refresh request instead, its token redacted.
pub(crate) fn user_token(
    connection: &Connection,
    scopes: Scopes,
    dry_run: bool,
) -> Result<Option<TokenResponse>, CliError> {
    let login = LoginStore::for_connection(connection)?;
    if dry_run {
        let grant = Grant::refresh_token(login.load()?.0, scopes);
        crate::dry_run::print_request(connection, &grant)?;
        return Ok(None);
    }
    let client = connection.ureq_client()?;
    // Not logged in (or a file that must not be used) is said before anything is created or locked.
    login.load()?;
    let (_dir, _lock) = login.lock()?;
    // Read again under the lock: another run may have rotated it meanwhile.
    let (refresh_token, granted) = login.load()?;
    let grant = Grant::refresh_token(refresh_token, scopes);
    let token = client.fetch(&grant).map_err(|err| {
        let expired = err.oauth().is_some_and(|oauth| *oauth.code() == ErrorCode::InvalidGrant);
        let err = connection.explain(err, client.token_client());
        if expired {
            err.with_hint("the kept login was revoked or has expired: run `td-oauth login` again")
        } else {
            err
        }
    })?;
    // A rotated refresh token keeps the scope of the one it replaces (RFC 6749 §6), whatever --scope asked.
    if let Some(rotated) = token.refresh_token() {
        login.save(rotated, granted.as_deref())?;
    }
    Ok(Some(token))
}
