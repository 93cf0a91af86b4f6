//! `token --cache local` (or `--cache DIR`, `--cache file://DIR`): the token kept between runs on one
//! machine, so that a script calling `td-oauth token` in a loop sends one token request per token lifetime.
//!
//! One file per token URL, client and scopes, named by their hash ([`FleetKey`], as the Redis cache keys
//! them), holding the access token as [`sealed::encode_unsealed`] writes it: not encrypted (a key would
//! have to sit beside it), private by permissions instead (see [`crate::store`]). A token is used while
//! fresh by the library's [`CachePolicy`]: more than its refresh share of the lifetime left, and more than
//! the expiry margin; after that the next run fetches a new one, ahead of expiry. Runs that race take the
//! file's lock in turn: the first fetches and writes, the others find its token when they get the lock.

use std::time::{Instant, SystemTime};

use td_oauth_core::cache::CachePolicy;
use td_oauth_core::{Grant, TokenResponse};
use td_oauth_redis::sealed::{self, FleetKey};
use td_oauth_ureq::{Client, SharedCache};

use crate::error::CliError;
use crate::store::{self, PrivateDir};

/// The `--cache` value that means the user's cache directory.
pub(crate) const LOCAL: &str = "local";

const WHAT: &str = "token cache file";

/// Where `--cache` keeps tokens on this machine.
#[derive(Debug)]
pub(crate) struct FileCache {
    dir: PrivateDir,
    policy: CachePolicy,
}

impl FileCache {
    /// The cache `--cache` names: `local` for the user's cache directory, a `file://` URL or a path for
    /// that directory. Created 0700 if missing.
    pub(crate) fn open(value: &str) -> Result<FileCache, CliError> {
        let path = if value == LOCAL {
            store::cache_dir("tokens")?
        } else if value.starts_with("file:") {
            url::Url::parse(value)
                .ok()
                .filter(|url| url.host_str().is_none_or(str::is_empty))
                .and_then(|url| url.to_file_path().ok())
                .ok_or_else(|| {
                    CliError::Input(format!(
                        "--cache {value}: a file URL names a local directory, as file:///home/me/.cache/td-oauth"
                    ))
                })?
        } else {
            value.into()
        };
        Ok(FileCache { dir: PrivateDir::create(path)?, policy: CachePolicy::default() })
    }

    /// Whether `value` names a file cache rather than Redis.
    pub(crate) fn is_file_cache(value: &str) -> bool {
        value == LOCAL || !value.contains("://") || value.starts_with("file:")
    }

    /// A fresh token from the file, if it holds one. `Err` only for a file that must not be used.
    fn fresh(&self, name: &str) -> Result<Option<TokenResponse>, CliError> {
        let Some(bytes) = self.dir.read(name, WHAT)? else { return Ok(None) };
        // Anything unreadable (another version's format, an expired token) is as good as no file.
        let Ok(stored) = sealed::decode_unsealed(&bytes, Instant::now(), SystemTime::now()) else { return Ok(None) };
        let fresh = stored.token().expires_in() > self.policy.expiry_margin()
            && !stored.remaining_below_percent(self.policy.refresh_percent());
        Ok(fresh.then(|| stored.into_token()))
    }

    /// The token for `key` from the file, or fetched once under the lock and stored. The cache failing
    /// (a directory that cannot be written, a lock that cannot be taken) costs a direct fetch and a
    /// warning; a file others can read is refused.
    fn get_or_fetch(
        &self,
        key: &FleetKey,
        fetch: impl FnOnce() -> Result<TokenResponse, td_oauth_ureq::Error>,
    ) -> Result<TokenResponse, Fetch> {
        let name = file_name(key);
        if let Some(token) = self.fresh(&name)? {
            return Ok(token);
        }
        let _lock = match self.dir.lock(&format!("{name}.lock")) {
            Ok(lock) => lock,
            Err(err) => {
                tracing::warn!(dir = %self.dir.path().display(), %err, "cannot lock the token cache; fetching directly");
                return Ok(fetch()?);
            }
        };
        // Another run may have fetched while this one waited for the lock.
        if let Some(token) = self.fresh(&name)? {
            return Ok(token);
        }
        let token = fetch()?;
        let stored = sealed::encode_unsealed(&token, Instant::now(), SystemTime::now())
            .map_err(|err| CliError::Failed(err.to_string()))
            .and_then(|bytes| self.dir.write(&name, &bytes, WHAT));
        if let Err(err) = stored {
            tracing::warn!(%err, "the token could not be stored in the cache");
        }
        Ok(token)
    }
}

/// What a cached fetch stopped on: the cache itself (a file that must not be used) or the fetch.
#[derive(Debug)]
pub(crate) enum Fetch {
    Cache(CliError),
    Token(td_oauth_ureq::Error),
}

impl From<CliError> for Fetch {
    fn from(err: CliError) -> Self {
        Fetch::Cache(err)
    }
}

impl From<td_oauth_ureq::Error> for Fetch {
    fn from(err: td_oauth_ureq::Error) -> Self {
        Fetch::Token(err)
    }
}

/// `<hex>.json`: the fleet key's hash, which names no client, account or scope in clear.
fn file_name(key: &FleetKey) -> String {
    format!("{}.json", key.digest())
}

/// The file cache as a td-oauth-ureq shared cache, so that `token --cache` takes the provider path with
/// either cache. The refusal of a shared file must stop the command, which this trait's error cannot say:
/// [`FileCache::check`] checks for it first.
impl SharedCache for FileCache {
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, td_oauth_ureq::Error> {
        let Some(key) = FleetKey::for_grant(client.token_client(), grant) else { return client.fetch(grant) };
        match self.get_or_fetch(&key, || client.fetch(grant)) {
            Ok(token) => Ok(token),
            Err(Fetch::Token(err)) => Err(err),
            Err(Fetch::Cache(err)) => {
                tracing::warn!(%err, "the token cache cannot be used; fetching directly");
                client.fetch(grant)
            }
        }
    }

    fn discard(&self, client: &Client, grant: &Grant, token: &TokenResponse) {
        let Some(key) = FleetKey::for_grant(client.token_client(), grant) else { return };
        let name = file_name(&key);
        let Ok(_lock) = self.dir.lock(&format!("{name}.lock")) else { return };
        if let Ok(Some(stored)) = self.fresh(&name)
            && stored.access_token().secret() == token.access_token().secret()
        {
            let _ = self.dir.remove(&name, WHAT);
        }
    }
}

impl FileCache {
    /// Refuses a cache file for `grant` that others can read, before any token request: the
    /// [`SharedCache`] path can only warn.
    pub(crate) fn check(&self, client: &Client, grant: &Grant) -> Result<(), CliError> {
        match FleetKey::for_grant(client.token_client(), grant) {
            Some(key) => self.fresh(&file_name(&key)).map(drop),
            None => Ok(()),
        }
    }
}
