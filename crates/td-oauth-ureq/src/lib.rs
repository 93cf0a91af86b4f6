//! # td-oauth-ureq
//!
//! Blocking access tokens from Talkdesk's identity service, sent with [ureq] 3 (rustls on ring). This crate
//! is the thin I/O layer over `td-oauth-core`: the core builds each token request and reads each answer,
//! and this crate sends them, retries, and keeps one token shared by every thread of a program.
//!
//! ```text
//!  td-oauth-reqwest (async)   td-oauth-ureq (blocking, this crate)   your own HTTP stack
//!             \                       |                                 /
//!              +------------- td-oauth-core (sans-IO) -----------------+
//! ```
//!
//! Use it from threads, CLIs and other synchronous code. An async program wants `td-oauth-reqwest`.
//!
//! Same shape as td-oauth-reqwest, by construction: both drive td-oauth-core's provider machine and retry
//! loop, share its [`Config`] type and its [`Error`] type, so every setting, rule and error is the same in
//! both; switching crates changes only `async`/`.await`.
//!
//! ## In scope
//!
//! - [`Client`]: one token for any grant (client credentials, authorization code, refresh token) with
//!   either client authentication (signed JWT or Basic), retried on connection failures, timeouts, truncated
//!   answers, 5xx and 429 (`Retry-After` honoured) with full-jitter backoff and a total deadline; never on
//!   other 4xx, so an `invalid_client` surfaces at once with the server's description.
//! - [`TokenProvider`]: a token shared by many threads. Warm hits are a lock-free read
//!   ([`with_token`](TokenProvider::with_token) lends it without touching a reference count); a cold cache
//!   sends exactly one request however many threads ask, and a failed fetch's error is shared for a short
//!   backoff instead of every caller sending its own; a token due for refresh is refreshed by one background
//!   thread while everyone keeps using it; rotated refresh tokens are followed.
//! - [`Config`]: connect and per-attempt timeouts, a response body cap, the retry and cache policies, the
//!   system's roots and extra ones, the user agent, a clock for tests, or your own `ureq::Agent`. Redirects
//!   are never followed.
//! - [`SharedCache`]: the seam for a token cache shared between processes (`Config::with_shared_cache`);
//!   td-oauth-redis provides one on Redis (`BlockingFleetCache`).
//! - [`BearerClient`]: sends your API requests with `Authorization: Bearer …`, and on a 401 gets a new token
//!   and tries once more.
//! - [`ApiClient`]: the Talkdesk API through td-oauth-api's rules ([`api`]): calls on one gateway, Talkdesk
//!   error bodies as [`ApiError`], HAL lists as an [`Iterator`] of items, userinfo, ending a
//!   session.
//! - Partner apps: td-oauth-partner's `BlockingTokenManager` is the token manager over this crate.
//! - [`Error`]: td-oauth-core's error, each variant something a caller can act on; no secret in any
//!   message.
//!
//! ## Not in scope
//!
//! Key parsing, assertion signing, request building, response parsing and the cache and retry rules live in
//! `td-oauth-core` (re-exported here as [`core`]). The authorize step of the authorization-code flow is the
//! browser's: build its URL with [`core::AuthorizeRequest`]. Async code: `td-oauth-reqwest`.
//!
//! ## Example
//!
//! Against the loopback identity server from `td-oauth-testkit`; with Talkdesk, use
//! `Endpoints::talkdesk("your-account", Region::Us)` and the credentials from your app's install event.
//!
//! ```
//! use td_oauth_ureq::{Client, ClientId, Credentials, Endpoints, KeyId, PrivateKey, TokenProvider};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = td_oauth_testkit::TestServer::start()?;
//! let registered = server.register_client(td_oauth_testkit::Algorithm::Es256)?;
//!
//! let endpoints = Endpoints::from_token_url(server.token_url())?;
//! let credentials = Credentials::private_key_jwt(
//!     ClientId::new(&registered.client_id)?,
//!     KeyId::new(&registered.key_id)?,
//!     PrivateKey::parse(&registered.private_key)?, // Talkdesk's one-line Base64 form
//! );
//! let client = Client::new(&endpoints, credentials)?;
//!
//! // Share one provider between threads; each `token()` is a cheap, cached read.
//! let provider = TokenProvider::client_credentials(client, "users:read".parse()?);
//! let token = provider.token()?;
//! assert!(token.expires_in().as_secs() > 0);
//! let header = format!("Bearer {}", token.access_token().secret());
//! # assert!(header.len() > 7);
//! println!("{token}"); // Display and Debug never show the token itself
//! # Ok(())
//! # }
//! ```
//!
//! ## Features
//!
//! - `aws-lc-rs`: ES512 (P-521) keys, through td-oauth-core's aws-lc-rs backend. TLS stays on ring.
//! - `metrics`: token fetches, retries, cache hits and misses, latency and remaining lifetime through the
//!   `metrics` facade (td-oauth-core's `telemetry` module; the same as td-oauth-reqwest's).
//!
//! [ureq]: https://docs.rs/ureq/3

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod api_client;
mod bearer;
mod client;
mod config;
mod provider;
mod resolver;
mod send;
mod shared_cache;

pub use api_client::ApiClient;
pub use bearer::BearerClient;
pub use client::Client;
pub use config::Config;
pub use provider::TokenProvider;
pub use shared_cache::SharedCache;

/// td-oauth-api, the Talkdesk API's rules [`ApiClient`] follows (`ApiGateway`, `Paginator`, …).
pub use td_oauth_api as api;
pub use td_oauth_api::ApiError;
/// td-oauth-core, for what this crate does not re-export by name (`AuthorizeRequest`, `OsRandom`, …).
pub use td_oauth_core as core;
pub use td_oauth_core::Error;
pub use td_oauth_core::{AccessToken, Account, AuthorizationCode, ClientId, ClientSecret, Credentials, Endpoints};
pub use td_oauth_core::{Grant, KeyId, OAuthError, PkceVerifier, PrivateKey, RefreshToken, Region, Scopes};
pub use td_oauth_core::{TokenResponse, cache::CachePolicy, retry::RetryPolicy};
/// ureq, the HTTP library this crate sends with (its version, for your own `ureq::Agent`).
pub use ureq;
