//! `token --cache redis://…`: the token through td-oauth-redis's fleet cache, so a script that runs
//! `td-oauth token` in a loop on any number of machines sends one token request per token lifetime.

use td_oauth_core::{FleetKey, Scopes, SealingKey, TokenResponse};
use td_oauth_redis::FleetCache;

use crate::args::Connection;
use crate::error::CliError;

/// The variable holding the cache's encryption key: 32 random bytes, Base64. Never a flag, like every secret.
pub(crate) const CACHE_KEY_VAR: &str = "TD_OAUTH_CACHE_KEY";

/// A client-credentials token for `scopes` from the fleet cache at `cache_url`, or fetched (once for the
/// whole fleet) and stored there. Redis being down or slow costs a direct fetch and a warning, never the token.
pub(crate) fn cached_token(
    connection: &Connection,
    cache_url: &str,
    scopes: Scopes,
) -> Result<TokenResponse, CliError> {
    let key = sealing_key()?;
    let cache = FleetCache::new(cache_url, key).map_err(|err| CliError::Input(format!("--cache: {err}")))?;
    let client = connection.ureq_client()?;
    let token_client = client.token_client();
    let fleet_key = FleetKey::new(token_client.token_url().as_str(), token_client.client_id(), &scopes);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Failed(format!("cannot start the async runtime for the Redis cache: {err}")))?;
    runtime.block_on(cache.get_or_fetch(&fleet_key, || async move {
        // The blocking transport runs off the runtime's one thread, which keeps Redis's connection going.
        match tokio::task::spawn_blocking(move || client.client_credentials(scopes)).await {
            Ok(result) => result.map_err(CliError::from),
            Err(err) => Err(CliError::Failed(format!("the token request did not complete: {err}"))),
        }
    }))
}

/// The key from TD_OAUTH_CACHE_KEY; without it, `--cache` is refused rather than storing tokens unsealed.
fn sealing_key() -> Result<SealingKey, CliError> {
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
