//! `token --cache redis://…`: the token through td-oauth-redis's fleet cache, so a script that runs
//! `td-oauth token` in a loop on any number of machines sends one token request per token lifetime; and
//! `token --cache local` (or a directory), the same on one machine through a file.

use std::path::Path;
use std::sync::Arc;

use td_oauth_core::{Grant, TokenResponse};
use td_oauth_redis::{BlockingFleetCache, FleetConfig, SealingKey};
use td_oauth_ureq::Config;

use crate::args::Connection;
use crate::error::CliError;
use crate::file_cache::FileCache;
use crate::secrets::{self, Lifetime};

/// The variable holding the cache's encryption key: 32 random bytes, Base64. Never a flag, like every secret.
pub(crate) const CACHE_KEY_VAR: &str = "TD_OAUTH_CACHE_KEY";
/// The variable naming a PEM file of the CA certificates a `rediss://` cache's certificate must chain to, in
/// place of the system's.
pub(crate) const CACHE_CA_FILE_VAR: &str = "TD_OAUTH_CACHE_CA_FILE";

/// A token for `grant` (client credentials) from the fleet cache at `cache_url`, or fetched (once for the
/// whole fleet) and stored there. Redis being down or slow costs a direct fetch and a warning, never the token.
///
/// A `--cache` value that is no Redis URL (`local`, a path, `file://…`) is the machine's file cache instead
/// (see [`crate::file_cache`]), through the same provider path.
pub(crate) fn cached_token(
    connection: &Connection,
    cache_url: &str,
    grant: Grant,
) -> Result<Arc<TokenResponse>, CliError> {
    if FileCache::is_file_cache(cache_url) {
        let Some(cache) = FileCache::open(cache_url)? else { return Ok(Arc::new(connection.fetch(&grant)?)) };
        let cache = Arc::new(cache);
        let client = connection.ureq_client_with(Config::new().with_shared_cache(cache.clone()))?;
        cache.check(&client, &grant)?;
        return connection.finish(&client, client.provider(grant).token());
    }
    let key = sealing_key()?;
    let mut config = FleetConfig::new();
    if let Some(path) = std::env::var_os(CACHE_CA_FILE_VAR).filter(|path| !path.is_empty()) {
        let pem = secrets::read_file(Path::new(&path), "CA", secrets::MAX_CA_FILE_BYTES, Lifetime::Short)
            .map_err(|err| CliError::Input(format!("{CACHE_CA_FILE_VAR}: {err}")))?;
        config = config.with_ca_certificates(pem.to_vec());
    }
    let cache = BlockingFleetCache::with_config(cache_url, key, config)
        .map_err(|err| CliError::Input(format!("--cache: {err}")))?;
    // The provider path, as a blocking service would use it: its cold fetch goes through the fleet cache.
    let client = connection.ureq_client_with(Config::new().with_shared_cache(Arc::new(cache)))?;
    connection.finish(&client, client.provider(grant).token())
}

/// The key from TD_OAUTH_CACHE_KEY; without it, `--cache` is refused rather than storing tokens unsealed.
pub(crate) fn sealing_key() -> Result<SealingKey, CliError> {
    match std::env::var(CACHE_KEY_VAR) {
        Ok(text) if !text.trim().is_empty() => {
            Ok(SealingKey::from_base64(&text).map_err(|err| CliError::Input(format!("{CACHE_KEY_VAR}: {err}")))?)
        }
        _ => Err(CliError::Input(format!(
            "--cache needs an encryption key for the tokens it stores: set {CACHE_KEY_VAR} to 32 random bytes in \
             Base64 (make one with `openssl rand -base64 32`), the same on every machine that shares the cache"
        ))),
    }
}
