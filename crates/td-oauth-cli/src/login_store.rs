//! The logins `td-oauth login` keeps, and `token --user` turning one into an access token.
//!
//! Each login (one per token endpoint, so per account, and client) has a record in
//! `$XDG_CONFIG_HOME/td-oauth/logins` (else `~/.config/td-oauth/logins`), 0600, named by a hash of the two:
//! the token URL, client id, granted scope, the user (`sub` and name from the login's ID token, when it
//! had one), when the login happened and when the refresh token last rotated, and where the refresh token
//! is kept: in the system's credential store ([`crate::keyring_store`]), whose entry then holds the
//! token URL, client id, scope and refresh token, or in the record itself (the file store).
//!
//! Every use takes the login's lock file beside the record, whichever store holds the token, for the
//! refresh and the write-back: the server rotates the refresh token (the old one stops working once used),
//! so two runs refreshing with the same token at once would lose the login.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use td_oauth_core::oauth_error::ErrorCode;
use td_oauth_core::{Grant, RefreshToken, Scopes, TokenResponse};
use td_oauth_redis::FleetKey;
use zeroize::Zeroizing;

use crate::args::{Connection, StorageChoice};
use crate::error::CliError;
use crate::keyring_store::{self, KeyringEntry};
use crate::output::report;
use crate::store::{self, FileLock, PrivateDir};

const WHAT: &str = "login file";
/// The record's format: 1 held the refresh token always (the file store), 2 says where it is.
const VERSION: u64 = 2;

/// Where a login's refresh token is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Storage {
    /// The system's credential store.
    Keyring,
    /// The login's record, a file only the user can read.
    File,
}

impl Storage {
    fn as_str(self) -> &'static str {
        match self {
            Storage::Keyring => "keyring",
            Storage::File => "file",
        }
    }
}

/// Who logged in, as the login's ID token said (for display: nothing trusts it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct User {
    pub(crate) sub: Option<String>,
    pub(crate) name: Option<String>,
}

/// A login's record: everything but the refresh token.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    pub(crate) token_url: String,
    pub(crate) client_id: String,
    pub(crate) scope: Option<String>,
    pub(crate) storage: Storage,
    pub(crate) user: User,
    /// Seconds since the Unix epoch.
    pub(crate) logged_in_at: Option<u64>,
    /// Seconds since the Unix epoch.
    pub(crate) rotated_at: Option<u64>,
}

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
        LoginStore::new(endpoints.token_url().as_str(), client_id.as_str())
    }

    fn new(token_url: &str, client_id: &str) -> Result<LoginStore, CliError> {
        let key = FleetKey::new(token_url, &td_oauth_core::ClientId::new(client_id)?, &Scopes::none());
        Ok(LoginStore {
            dir: PrivateDir::at(logins_dir()?),
            name: format!("{}.json", key.digest()),
            token_url: token_url.to_owned(),
            client_id: client_id.to_owned(),
        })
    }

    /// The login record's path.
    pub(crate) fn path(&self) -> PathBuf {
        self.dir.file(&self.name)
    }

    /// The token endpoint and client, for messages.
    pub(crate) fn describe(&self) -> String {
        format!("client {} at {}", self.client_id, self.token_url)
    }

    /// Where a login's refresh token is, for messages.
    pub(crate) fn where_kept(&self, storage: Storage) -> String {
        match storage {
            Storage::Keyring => keyring_store::NAME.to_owned(),
            Storage::File => format!("the file {}", self.path().display()),
        }
    }

    fn keyring(&self) -> Result<KeyringEntry, CliError> {
        KeyringEntry::new(&self.token_url, &self.client_id)
    }

    /// Where a new login goes for `choice`, and why, in words for the user.
    pub(crate) fn choose(&self, choice: StorageChoice) -> Result<(Storage, String), CliError> {
        match choice {
            StorageChoice::File => Ok((Storage::File, "as --storage file (or TD_OAUTH_STORAGE) asks".into())),
            StorageChoice::Keyring => match self.keyring()?.probe() {
                Ok(()) => Ok((Storage::Keyring, "as --storage keyring (or TD_OAUTH_STORAGE) asks".into())),
                Err(why) => Err(CliError::Input(format!(
                    "--storage keyring: {} cannot be used: {why}; start or unlock it, or use --storage file",
                    keyring_store::NAME
                ))),
            },
            StorageChoice::Auto => match self.keyring().and_then(|entry| entry.probe().map_err(CliError::Failed)) {
                Ok(()) => Ok((Storage::Keyring, "it answered (--storage file keeps logins in a file)".into())),
                Err(why) => Ok((
                    Storage::File,
                    format!(
                        "{} did not answer ({why}); --storage keyring insists on it, --storage file says so",
                        keyring_store::NAME
                    ),
                )),
            },
        }
    }

    /// Creates the directory and takes the lock that every reader and writer of the login holds.
    pub(crate) fn lock(&self) -> Result<(PrivateDir, FileLock), CliError> {
        let dir = PrivateDir::create(self.dir.path().to_path_buf())?;
        let lock = dir.lock(&format!("{}.lock", self.name))?;
        Ok((dir, lock))
    }

    /// Keeps a new login in `storage`, replacing any earlier login of this client wherever it was kept.
    /// Call with the lock held.
    pub(crate) fn save_new(
        &self,
        storage: Storage,
        refresh_token: &RefreshToken,
        scope: Option<&str>,
        user: User,
    ) -> Result<(), CliError> {
        let earlier = self.read_record().ok().flatten().map(|(record, _)| record.storage);
        let now = unix_now();
        let record = Record {
            token_url: self.token_url.clone(),
            client_id: self.client_id.clone(),
            scope: scope.map(str::to_owned),
            storage,
            user,
            logged_in_at: now,
            rotated_at: now,
        };
        self.save(&record, refresh_token)?;
        if earlier == Some(Storage::Keyring) && storage == Storage::File {
            // The login moved to the file: the keyring must not keep the old refresh token. The new login
            // is kept either way, so a keyring that cannot be reached now (often why the file was chosen)
            // is a warning; `logout` tries again.
            if let Err(err) = self.keyring().and_then(|entry| entry.remove()) {
                report(format_args!("warning: the earlier login's entry could not be removed: {err}"));
            }
        }
        Ok(())
    }

    /// Keeps `refresh_token` where `record` says, and the record. Call with the lock held.
    fn save(&self, record: &Record, refresh_token: &RefreshToken) -> Result<(), CliError> {
        let mut body = json!({
            "version": VERSION,
            "token_url": record.token_url,
            "client_id": record.client_id,
            "scope": record.scope,
            "storage": record.storage.as_str(),
            "user": { "sub": record.user.sub, "name": record.user.name },
            "logged_in_at": record.logged_in_at,
            "rotated_at": record.rotated_at,
        });
        match record.storage {
            Storage::File => body["refresh_token"] = json!(refresh_token.secret()),
            Storage::Keyring => {
                let secret = json!({
                    "version": VERSION,
                    "token_url": record.token_url,
                    "client_id": record.client_id,
                    "scope": record.scope,
                    "refresh_token": refresh_token.secret(),
                });
                self.keyring()?.write(&Zeroizing::new(serde_json::to_vec(&secret).unwrap_or_default()))?;
            }
        }
        let bytes = Zeroizing::new(serde_json::to_vec_pretty(&body).unwrap_or_default());
        let dir = PrivateDir::create(self.dir.path().to_path_buf())?;
        dir.write(&self.name, &bytes, WHAT)
    }

    fn damaged(&self) -> CliError {
        CliError::Input(format!(
            "the {WHAT} {} is not one td-oauth wrote: run `td-oauth logout` and `td-oauth login` again",
            self.path().display()
        ))
    }

    /// The record, `None` when there is none; refused (with the fix) when it must not be used.
    fn read_record(&self) -> Result<Option<(Record, Value)>, CliError> {
        let Some(bytes) = self.dir.read(&self.name, WHAT)? else { return Ok(None) };
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| self.damaged())?;
        if body["token_url"] != self.token_url || body["client_id"] != self.client_id {
            return Err(self.damaged());
        }
        let storage = match body["storage"].as_str() {
            None | Some("file") => Storage::File,
            Some("keyring") => Storage::Keyring,
            Some(_) => return Err(self.damaged()),
        };
        let text = |value: &Value| value.as_str().map(str::to_owned);
        let record = Record {
            token_url: self.token_url.clone(),
            client_id: self.client_id.clone(),
            scope: text(&body["scope"]),
            storage,
            user: User { sub: text(&body["user"]["sub"]), name: text(&body["user"]["name"]) },
            logged_in_at: body["logged_in_at"].as_u64(),
            rotated_at: body["rotated_at"].as_u64(),
        };
        Ok(Some((record, body)))
    }

    /// The record, an error that says to log in when there is none.
    pub(crate) fn record(&self) -> Result<Record, CliError> {
        Ok(self.read_record()?.ok_or_else(|| self.not_logged_in())?.0)
    }

    fn not_logged_in(&self) -> CliError {
        CliError::Input(format!(
            "not logged in as a user for {}: run `td-oauth login` with the same --account (or --token-url) and \
             --client-id first",
            self.describe()
        ))
    }

    /// The login and its refresh token, wherever it is kept; an error that says to log in when there is none.
    pub(crate) fn load(&self) -> Result<(Record, RefreshToken), CliError> {
        let (record, body) = self.read_record()?.ok_or_else(|| self.not_logged_in())?;
        let mut secret = match record.storage {
            Storage::File => body,
            Storage::Keyring => self.keyring_secret()?,
        };
        match secret["refresh_token"].take() {
            Value::String(token) if !token.is_empty() => Ok((record, RefreshToken::new(token))),
            _ => Err(self.damaged()),
        }
    }

    /// What the login's keyring entry holds, checked to be this login's.
    fn keyring_secret(&self) -> Result<Value, CliError> {
        let bytes = self.keyring()?.read()?.ok_or_else(|| {
            CliError::Input(format!(
                "the login of {} should be in {}, which has no entry for it (removed outside td-oauth?): run \
                 `td-oauth login` again",
                self.describe(),
                keyring_store::NAME
            ))
        })?;
        let damaged = || {
            CliError::Input(format!(
                "the entry of {} in {} is not one td-oauth wrote: run `td-oauth logout` and `td-oauth login` again",
                self.describe(),
                keyring_store::NAME
            ))
        };
        let secret: Value = serde_json::from_slice(&bytes).map_err(|_| damaged())?;
        if secret["token_url"] != self.token_url || secret["client_id"] != self.client_id {
            return Err(damaged());
        }
        Ok(secret)
    }

    /// Keeps the refresh token the server rotated to, where the login is. Call with the lock held.
    fn save_rotated(&self, record: &Record, refresh_token: &RefreshToken) -> Result<(), CliError> {
        let record = Record { rotated_at: unix_now(), ..record.clone() };
        self.save(&record, refresh_token)
    }

    /// Removes the login, wherever it is kept; where it was, if anywhere. A keyring entry without a record
    /// (its record deleted by hand) goes too.
    pub(crate) fn remove(&self) -> Result<Option<Storage>, CliError> {
        if self.dir.path().exists() {
            let (dir, _lock) = self.lock()?;
            // A record that cannot be read is removed all the same: that is what logout is for.
            let storage = self.read_record().ok().flatten().map(|(record, _)| record.storage);
            // The keyring entry first: if it cannot be removed, the record stays to say where it is.
            if storage == Some(Storage::Keyring) {
                self.keyring()?.remove()?;
            }
            let removed = dir.remove(&self.name, WHAT)?;
            // The lock file goes too: nothing of this login is left behind.
            let _ = dir.remove(&format!("{}.lock", self.name), "lock file");
            if removed {
                if storage != Some(Storage::Keyring) {
                    // An entry an earlier login left when the keyring could not be reached, if any.
                    let _ = self.keyring().and_then(|entry| entry.remove());
                }
                return Ok(Some(storage.unwrap_or(Storage::File)));
            }
        }
        // An entry whose record was deleted by hand.
        let orphan = self.keyring().and_then(|entry| entry.remove()).unwrap_or(false);
        Ok(orphan.then_some(Storage::Keyring))
    }

    /// Removes this login's record and lock by name alone (for a record that cannot be read).
    pub(crate) fn remove_record_file(&self) -> Result<bool, CliError> {
        let dir = PrivateDir::open(self.dir.path().to_path_buf())?;
        let removed = dir.remove(&self.name, WHAT)?;
        let _ = dir.remove(&format!("{}.lock", self.name), "lock file");
        Ok(removed)
    }

    /// The store of the record named `name`, as the record itself says, checked to be the one its name is.
    fn named(&self) -> Result<LoginStore, CliError> {
        let bytes = self.dir.read(&self.name, WHAT)?.ok_or_else(|| self.damaged())?;
        let body: Value = serde_json::from_slice(&bytes).map_err(|_| self.damaged())?;
        let (Some(token_url), Some(client_id)) = (body["token_url"].as_str(), body["client_id"].as_str()) else {
            return Err(self.damaged());
        };
        LoginStore::new(token_url, client_id).ok().filter(|store| store.name == self.name).ok_or_else(|| self.damaged())
    }
}

/// `$XDG_CONFIG_HOME/td-oauth/logins` (else `~/.config/td-oauth/logins`).
fn logins_dir() -> Result<PathBuf, CliError> {
    store::config_dir("logins")
}

/// A kept login's store, with its record or why that cannot be read.
pub(crate) type Kept = (LoginStore, Result<Record, CliError>);

/// Every kept login, in the order of their records' names.
pub(crate) fn all() -> Result<Vec<Kept>, CliError> {
    let dir = logins_dir()?;
    let entries = match std::fs::read_dir(&dir) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        other => other.map_err(|err| CliError::Input(format!("cannot read {}: {err}", dir.display())))?,
    };
    PrivateDir::open(dir.clone())?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json") && !name.starts_with('.'))
        .collect();
    names.sort();
    let mut logins = Vec::new();
    for name in names {
        let unnamed =
            LoginStore { dir: PrivateDir::at(dir.clone()), name, token_url: String::new(), client_id: String::new() };
        match unnamed.named() {
            Ok(store) => {
                let record = store.record();
                logins.push((store, record));
            }
            Err(err) => logins.push((unnamed, Err(err))),
        }
    }
    Ok(logins)
}

fn unix_now() -> Option<u64> {
    SystemTime::now().duration_since(UNIX_EPOCH).ok().map(|since| since.as_secs())
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
        let grant = Grant::refresh_token(login.load()?.1, scopes);
        crate::dry_run::print_request(connection, &grant)?;
        return Ok(None);
    }
    let client = connection.ureq_client()?;
    // Not logged in (or a record that must not be used) is said before anything is created or locked.
    login.record()?;
    let (_dir, _lock) = login.lock()?;
    // Read under the lock: another run may have rotated it meanwhile.
    let (record, refresh_token) = login.load()?;
    let grant = Grant::refresh_token(refresh_token, scopes);
    let fetched = client.fetch(&grant);
    crate::clock_hint::keep(client.token_client());
    let token = fetched.map_err(|err| {
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
        login.save_rotated(&record, rotated)?;
    }
    Ok(Some(token))
}
