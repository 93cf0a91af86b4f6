//! # td-oauth-reqwest
//!
//! Async access tokens from Talkdesk's identity service over [reqwest] and tokio: a one-shot [`Client`]
//! for every grant, a shared [`TokenProvider`] that keeps a token fresh for every task of a service, and a
//! [`BearerClient`] that calls the Talkdesk API with it.
//!
//! ```text
//!  td-oauth-reqwest (async, this crate)   td-oauth-ureq (blocking)   your own HTTP stack
//!                \                              |                         /
//!                 +------------------ td-oauth-core (sans-IO) -----------+
//! ```
//!
//! This crate is thin. [td-oauth-core](td_oauth_core) builds every request (signing a fresh assertion each
//! time), parses every answer and decides, as plain state machines, when a cached token is due and when a
//! failure is worth a retry. This crate sends the bytes, reads the answers with a size cap and a timeout,
//! sleeps between retries, and drives the core's cache policy with tokio's synchronisation. td-oauth-ureq
//! is the same for blocking programs.
//!
//! Same shape as td-oauth-ureq, by construction: both drive td-oauth-core's provider machine and retry
//! loop, share its [`Config`] type and its [`Error`] type, so every setting, rule and error is the same in
//! both; switching crates changes only `async`/`.await`. This crate's own extras:
//! [`TokenProvider::try_token_now`], [`TokenProvider::bearer_client`] and the [`TokenSource`](source::TokenSource) trait.
//!
//! ## In scope
//!
//! - [`Client`]: client credentials, authorization code (with PKCE) and refresh token, authenticated
//!   with a signed JWT (`private_key_jwt`) or HTTP Basic. Retries transport failures, timeouts, 5xx and 429
//!   with exponential backoff, full jitter and `Retry-After`, within a total deadline; never other 4xx, so
//!   an `invalid_client` surfaces at once with the server's description.
//! - [`TokenProvider`]: `Clone + Send + Sync`; warm hits take no lock and do not allocate
//!   ([`with_token`](TokenProvider::with_token) lends the token without touching a reference count); a cold
//!   or expired cache sends exactly one request however many tasks wait, and a failed fetch's error is
//!   shared for a short backoff instead of every caller sending its own; refresh ahead of expiry in the
//!   background while everyone keeps the valid token; rotated refresh tokens are followed;
//!   [`invalidate`](TokenProvider::invalidate) and [`force_refresh`](TokenProvider::force_refresh).
//! - [`TokenSource`](source::TokenSource): the `async-trait` trait the provider implements, for your own token sources too.
//! - [`SharedCache`]: the seam for a token cache shared between processes
//!   (`Config::with_shared_cache`); td-oauth-redis provides one on Redis.
//! - [`BearerClient`]: `Authorization: Bearer …` on API requests, one new token and one retry on a 401; the
//!   same as `reqwest-middleware` middleware and as a `tower` layer (features `middleware`, `tower`), over
//!   any [`AuthSource`](source::AuthSource) (a [`TokenProvider`] without a boxed future, or `Arc<dyn TokenSource>`).
//! - [`ApiClient`]: the Talkdesk API through td-oauth-api's rules ([`api`]): calls on one gateway, Talkdesk
//!   error bodies as [`ApiError`], HAL lists as a `Stream` of items, userinfo, ending a session.
//! - Partner apps: td-oauth-partner's `TokenManager` is the token manager over this crate.
//! - [`Config`]: timeouts, the 64 KiB body cap, retry and cache policies, the system's roots and extra ones,
//!   a clock for tests, or your own `reqwest::Client` ([`http_client_builder`] starts one with these
//!   settings). Redirects are never followed. TLS is rustls with the ring provider.
//! - `tracing` events for fetches, retries, refreshes and failures, none holding a secret.
//!
//! ## Not in scope
//!
//! Running the authorize step in a browser (build the URL with
//! [`AuthorizeRequest`](td_oauth_core::AuthorizeRequest) and check the redirect with
//! [`PendingAuthorization`](td_oauth_core::PendingAuthorization)), storing refresh tokens, blocking
//! callers (td-oauth-ureq), other async runtimes than tokio, and validating access tokens (Talkdesk
//! publishes no keys for them).
//!
//! ## Example
//!
//! Against the loopback identity server of td-oauth-testkit; for Talkdesk use
//! `Endpoints::talkdesk("your-account", Region::Us)` and the credentials from your app.
//!
//! ```
//! use td_oauth_reqwest::{Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey};
//! # use td_oauth_testkit::{Algorithm, TestServer};
//!
//! # let server = TestServer::start()?;
//! # let registered = server.register_client(Algorithm::Es256)?;
//! # let token_url = server.token_url();
//! # let (client_id, key_id, private_key) = (&registered.client_id, &registered.key_id, &registered.private_key);
//! let endpoints = Endpoints::from_token_url(token_url)?;
//! let credentials = Credentials::private_key_jwt(
//!     ClientId::new(client_id)?,
//!     KeyId::new(key_id)?,
//!     PrivateKey::parse(private_key)?, // Talkdesk's one-line Base64, or PEM
//! );
//! let client = Client::new(&endpoints, credentials)?;
//! let provider = client.provider(Grant::client_credentials("users:read".parse()?));
//!
//! # let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
//! # rt.block_on(async {
//! let token = provider.token().await?; // fetched once, then shared until it is due for refresh
//! assert!(token.scopes().any(|s| s == "users:read"));
//! let again = provider.token().await?;
//! assert!(again.is_same_token(&token)); // the cached one, not a new fetch
//! println!("{token:?}"); // prints no secret
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! - `aws-lc-rs`: ES512 (P-521) keys, through td-oauth-core's aws-lc-rs backend. TLS stays on ring.
//! - `middleware`: [`middleware::BearerMiddleware`], a `reqwest_middleware::Middleware` that attaches tokens
//!   and follows the 401 rule of [`BearerClient`].
//! - `tower`: [`layer::BearerLayer`] and [`layer::BearerService`], the same for any `tower` stack of
//!   `http::Request`s (a hyper-util client, tonic, axum's outgoing calls).
//! - `metrics`: token fetches, retries, cache hits and misses, latency and remaining lifetime through the
//!   `metrics` facade (td-oauth-core's [`telemetry`](td_oauth_core::telemetry) module lists them).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api_client;
mod bearer;
mod client;
mod config;
#[cfg(feature = "tower")]
#[cfg_attr(docsrs, doc(cfg(feature = "tower")))]
pub mod layer;
#[cfg(feature = "middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "middleware")))]
pub mod middleware;
mod provider;
mod send;
mod shared_cache;
pub mod source;

pub use api_client::ApiClient;
/// The attribute a [`SharedCache`] or [`TokenSource`](source::TokenSource) implementation needs (the
/// `async-trait` crate's).
pub use async_trait::async_trait;
pub use bearer::BearerClient;
pub use client::Client;
pub use config::{Config, http_client_builder};
pub use provider::TokenProvider;
pub use shared_cache::SharedCache;

/// reqwest, the HTTP library this crate sends with (its version, for your own `reqwest::Client`).
pub use reqwest;
/// td-oauth-api, the Talkdesk API's rules [`ApiClient`] follows (`ApiGateway`, `Paginator`, …).
pub use td_oauth_api as api;
pub use td_oauth_api::ApiError;
/// td-oauth-core, for what this crate does not re-export by name (`AuthorizeRequest`, `OsRandom`, …).
pub use td_oauth_core as core;
pub use td_oauth_core::Error;
pub use td_oauth_core::cache::CachePolicy;
pub use td_oauth_core::retry::RetryPolicy;
pub use td_oauth_core::{
    AccessToken, Account, AuthorizationCode, ClientId, ClientSecret, Credentials, Endpoints, Grant, KeyId, OAuthError,
    PkceVerifier, PrivateKey, RefreshToken, Region, Scopes, TokenResponse,
};
