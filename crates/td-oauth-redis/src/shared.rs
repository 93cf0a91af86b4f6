//! The fleet cache as td-oauth-reqwest's [`SharedCache`]: what a provider calls when its own cache is cold,
//! and when it drops a token (invalidated, or refused by the API).

use crate::sealed::FleetKey;
use async_trait::async_trait;
use td_oauth_core::provider::BackoffRule;
use td_oauth_core::{Grant, TokenResponse};
use td_oauth_reqwest::{Client, Error, SharedCache};

use crate::FleetCache;

#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
#[async_trait]
impl SharedCache for FleetCache {
    /// Client-credentials tokens go through the fleet cache, keyed by token URL, client id and scopes.
    /// Other grants are per user (authorization code, refresh token): they are fetched directly.
    async fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, Error> {
        match FleetKey::for_grant(client.token_client(), grant) {
            Some(key) => self.get_or_fetch(&key, || client.fetch(grant)).await,
            None => client.fetch(grant).await,
        }
    }

    /// As [`fetch`](SharedCache::fetch), and the fleet backs off together: the process about to send the
    /// fleet's request (the lease holder, or one fetching directly) first reads the refusal recorded beside
    /// the token, and records its own before it releases the lease. Tokens in Redis are served as usual.
    async fn fetch_with_backoff(
        &self,
        client: &Client,
        grant: &Grant,
        backoff: &BackoffRule,
    ) -> Result<TokenResponse, Error> {
        match FleetKey::for_grant(client.token_client(), grant) {
            Some(key) => {
                self.get_or_fetch(&key, || self.fetch_unless_refused(&key, backoff, || client.fetch(grant))).await
            }
            None => client.fetch(grant).await,
        }
    }

    /// Deletes the fleet's token if it is still `token`, so that no process is handed it again.
    async fn discard(&self, client: &Client, grant: &Grant, token: &TokenResponse) {
        if let Some(key) = FleetKey::for_grant(client.token_client(), grant) {
            self.discard(&key, token).await;
        }
    }
}
