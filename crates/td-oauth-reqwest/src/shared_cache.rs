//! The seam for a token cache shared with other processes (td-oauth-redis implements it): how a provider
//! gets a token when its own cache is cold.

use std::fmt;

use async_trait::async_trait;
use td_oauth_core::provider::BackoffRule;
use td_oauth_core::{Grant, TokenResponse};

use crate::{Client, Error};

/// How a [`TokenProvider`](crate::TokenProvider) gets a token when its own cache is cold: from a cache
/// shared with other processes, or by fetching it with `client` (and sharing it).
///
/// Set one with [`Config::with_shared_cache`](td_oauth_core::transport::Config::with_shared_cache). The provider still keeps its own
/// in-process cache in front of it, so warm hits never reach the shared cache. An implementation should
/// fall back to [`Client::fetch`] whenever the shared cache is unavailable: it must not stop token delivery.
#[async_trait]
pub trait SharedCache: Send + Sync + fmt::Debug + 'static {
    /// A token for `grant`: one another process shared, or one fetched with `client`.
    async fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, Error>;

    /// [`fetch`](Self::fetch) under the fleet's backoff [`BackoffRule`] (what it asks of a cache is there): a
    /// provider calls this one. The default shares no failure: it calls [`fetch`](Self::fetch).
    async fn fetch_with_backoff(
        &self,
        client: &Client,
        grant: &Grant,
        _: &BackoffRule,
    ) -> Result<TokenResponse, Error> {
        self.fetch(client, grant).await
    }

    /// `token` was dropped by the provider ([`invalidate`](crate::TokenProvider::invalidate), or the API
    /// refused it): stop handing it out to anyone. Called just before the provider's next
    /// [`fetch`](Self::fetch). Failures are the implementation's to report; the default does nothing.
    async fn discard(&self, client: &Client, grant: &Grant, token: &TokenResponse) {
        let _ = (client, grant, token);
    }
}
