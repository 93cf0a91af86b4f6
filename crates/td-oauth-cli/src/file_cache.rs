//! `token --cache local` (or `--cache DIR`, `--cache file://DIR`): the token kept between runs on one
//! machine, so that a script calling `td-oauth token` in a loop sends one token request per token lifetime.
//!
//! One file per token URL, client and scopes, named by their hash ([`FleetKey`], as the Redis cache keys
//! them). It holds two JSON documents, one a line: what the token is for (token URL, client id, scopes),
//! checked on every read so that a file copied under another client's or URL's name is not used; then the
//! access token as [`sealed::encode_unsealed`] writes it. Not encrypted (a key would have to sit beside it):
//! private by owner and permissions instead (see [`crate::store`]).
//!
//! A token is used while the library's [`CachePolicy`] would keep it in a provider: its
//! [`schedule`](CachePolicy::schedule) for the token's lifetime, capped at the policy's maximum lifetime
//! (24 h), says until when it is fresh, counted from when the token was issued; and it must have more than
//! the expiry margin left, since the script goes on using it after `td-oauth` exits. After that the next
//! run fetches a new one, ahead of expiry. Runs that race take the file's lock in turn: the first fetches
//! and writes, the others find its token when they get the lock.

use std::time::{Instant, SystemTime};

use serde_json::{Value, json};
use td_oauth_core::cache::CachePolicy;
use td_oauth_core::{Grant, TokenResponse};
use td_oauth_redis::sealed::{self, FleetKey};
use td_oauth_ureq::{Client, SharedCache};
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::store::{self, PrivateDir};

/// The `--cache` value that means the user's cache directory.
pub(crate) const LOCAL: &str = "local";

const WHAT: &str = "token cache file";

/// The version of the file's first line.
const VERSION: u32 = 2;

/// Where `--cache` keeps tokens on this machine.
#[derive(Debug)]
pub(crate) struct FileCache {
    dir: PrivateDir,
    policy: CachePolicy,
}

/// One token's file: its name, and what it must say it holds.
struct Entry {
    name: String,
    binding: Value,
}

impl Entry {
    /// The entry of the token `client` gets for `grant`, if it is one to share (client credentials).
    fn of(client: &Client, grant: &Grant) -> Option<Entry> {
        let Grant::ClientCredentials { scopes } = grant else { return None };
        let tokens = client.token_client();
        let key = FleetKey::for_grant(tokens, grant)?;
        Some(Entry {
            name: format!("{}.json", key.digest()),
            binding: json!({
                "version": VERSION,
                "token_url": tokens.token_url().as_str(),
                "client_id": tokens.client_id().as_str(),
                "scope": scopes.as_str(),
            }),
        })
    }

    fn lock_name(&self) -> String {
        format!("{}.lock", self.name)
    }
}

impl FileCache {
    /// The cache `--cache` names: `local` for the user's cache directory, a `file://` URL or a path for
    /// that directory, created 0700 if missing. `Ok(None)` (and a warning) when the directory cannot be
    /// created: the token is then fetched directly. A directory that is unsafe to keep tokens in is refused.
    pub(crate) fn open(value: &str) -> Result<Option<FileCache>, CliError> {
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
        if let Err(err) = store::create_dir(&path) {
            tracing::warn!(dir = %path.display(), %err, "the token cache directory cannot be created; fetching directly");
            return Ok(None);
        }
        Ok(Some(FileCache { dir: PrivateDir::open(path)?, policy: CachePolicy::default() }))
    }

    /// Whether `value` names a file cache rather than Redis.
    pub(crate) fn is_file_cache(value: &str) -> bool {
        value == LOCAL || !value.contains("://") || value.starts_with("file:")
    }

    /// A fresh token from the entry's file, if it holds one. `Err` only for a file that must not be used.
    fn fresh(&self, entry: &Entry) -> Result<Option<TokenResponse>, CliError> {
        let Some(bytes) = self.dir.read(&entry.name, WHAT)? else { return Ok(None) };
        // Anything unreadable (another version's format, another client's token, an expired token, a token
        // with characters no access token has) is as good as no file: the next write replaces it.
        let mut documents = serde_json::Deserializer::from_slice(&bytes).into_iter::<Value>();
        match documents.next() {
            Some(Ok(binding)) if binding == entry.binding => {}
            _ => return Ok(None),
        }
        let (now, wall) = (Instant::now(), SystemTime::now());
        let Ok(stored) = sealed::decode_unsealed(&bytes[documents.byte_offset()..], now, wall) else { return Ok(None) };
        let remaining = stored.token().expires_in();
        let age = stored.lifetime().saturating_sub(remaining);
        // The provider's rule for a token of this lifetime fetched now, so `refresh_at - now` is how long after
        // its issue it stays fresh (the maximum lifetime applied).
        let fresh_for = self.policy.schedule(now, stored.lifetime(), 0).refresh_at.saturating_duration_since(now);
        let fresh = age < fresh_for && remaining > self.policy.expiry_margin();
        Ok(fresh.then(|| stored.into_token()))
    }

    /// The entry's token from the file, or fetched once under the lock and stored. The cache failing (a
    /// directory that cannot be written, a lock that cannot be taken) costs a direct fetch and a warning; a
    /// file that must not be used is refused.
    fn get_or_fetch(
        &self,
        entry: &Entry,
        fetch: impl FnOnce() -> Result<TokenResponse, td_oauth_ureq::Error>,
    ) -> Result<TokenResponse, Fetch> {
        if let Some(token) = self.fresh(entry)? {
            return Ok(token);
        }
        let _lock = match self.dir.lock(&entry.lock_name()) {
            Ok(lock) => lock,
            Err(err) => {
                tracing::warn!(dir = %self.dir.path().display(), %err, "cannot lock the token cache; fetching directly");
                return Ok(fetch()?);
            }
        };
        // Another run may have fetched while this one waited for the lock.
        if let Some(token) = self.fresh(entry)? {
            return Ok(token);
        }
        let token = fetch()?;
        let stored = sealed::encode_unsealed(&token, Instant::now(), SystemTime::now())
            .map_err(CliError::from)
            .and_then(|plain| {
                let mut bytes = Zeroizing::new(entry.binding.to_string().into_bytes());
                bytes.push(b'\n');
                bytes.extend_from_slice(&plain);
                self.dir.write(&entry.name, &bytes, WHAT)
            });
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

/// The file cache as a td-oauth-ureq shared cache, so that `token --cache` takes the provider path with
/// either cache. The refusal of a file must stop the command, which this trait's error cannot say:
/// [`FileCache::check`] checks for it first.
impl SharedCache for FileCache {
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, td_oauth_ureq::Error> {
        let Some(entry) = Entry::of(client, grant) else { return client.fetch(grant) };
        match self.get_or_fetch(&entry, || client.fetch(grant)) {
            Ok(token) => Ok(token),
            Err(Fetch::Token(err)) => Err(err),
            Err(Fetch::Cache(err)) => {
                tracing::warn!(%err, "the token cache cannot be used; fetching directly");
                client.fetch(grant)
            }
        }
    }

    fn discard(&self, client: &Client, grant: &Grant, token: &TokenResponse) {
        let Some(entry) = Entry::of(client, grant) else { return };
        let Ok(_lock) = self.dir.lock(&entry.lock_name()) else { return };
        if let Ok(Some(stored)) = self.fresh(&entry)
            && stored.access_token().secret() == token.access_token().secret()
        {
            let _ = self.dir.remove(&entry.name, WHAT);
        }
    }
}

impl FileCache {
    /// Refuses, before any token request, a cache file or lock file for `grant` that must not be used
    /// (someone else's, others can read it, a link): the [`SharedCache`] path can only warn.
    pub(crate) fn check(&self, client: &Client, grant: &Grant) -> Result<(), CliError> {
        match Entry::of(client, grant) {
            Some(entry) => {
                self.dir.check(&entry.lock_name(), "lock file")?;
                self.fresh(&entry).map(drop)
            }
            None => Ok(()),
        }
    }
}
