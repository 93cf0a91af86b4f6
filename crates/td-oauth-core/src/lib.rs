//! # td-oauth-core
//!
//! The sans-IO heart of td-oauth: everything needed to get OAuth 2.0 access tokens from Talkdesk's identity
//! service, without doing any I/O. It builds token requests as [`http::Request`] values and reads
//! [`http::Response`] values back into typed tokens and errors; you send the bytes with whatever HTTP client
//! you already have.
//!
//! ```text
//!  td-oauth-reqwest (async)   td-oauth-ureq (blocking)   your own HTTP stack
//!             \                       |                      /
//!              +------------- td-oauth-core ----------------+
//! ```
//!
//! Most programs should use a transport crate (`td-oauth-reqwest` or `td-oauth-ureq`), which adds sending,
//! retries and a shared token cache. Use this crate directly to embed Talkdesk authentication in another
//! HTTP stack, or to test without a network.
//!
//! ## In scope
//!
//! - [`Endpoints`]: an account name and [`Region`] (or explicit URLs) to token, authorize and API URLs, with
//!   the account checked to be one DNS label and every URL `https` except loopback.
//! - [`PrivateKey`]: every form a Talkdesk key is pasted in (one-line Base64 PKCS#8, wrapped or quoted
//!   Base64, PKCS#8, SEC1 and PKCS#1 PEM, a PEM file with certificates beside the key, binary DER), parsed
//!   once. ES256, ES384, PS256/384/512 with ring; ES512 with the `aws-lc-rs` feature.
//! - [`AssertionSigner`]: the `private_key_jwt` client assertion, written straight to compact form.
//! - [`TokenClient`] and [`Grant`]: client-credentials, authorization-code and refresh-token requests, with a
//!   signed JWT or HTTP Basic.
//! - [`AuthorizeRequest`]: the authorize URL with `state`, `nonce` and optional PKCE, and the redirect check.
//! - [`TokenResponse`]: success, the server's [`OAuthError`], or a precise [`Error`] for anything else.
//! - [`UnverifiedJwt`]: a JWT's header and claims decoded for display, never trusted.
//! - [`InstallationCredentials`]: a partner app's per-account credentials and endpoints from AppConnect's
//!   `app.installed` and `app.credentials_rotated` events, every field checked.
//! - [`Rotation`], [`ManagerPolicy`] and [`IdleMap`]: the partner-app token managers' policy (credential
//!   rotation with a grace-period fallback, bounded idle-evicted providers), with time passed in; and
//!   [`Installations`], the managers' bookkeeping over them (installations, a client per credential set,
//!   providers by account, set and scopes, lazy sweeps), generic over the transport's client and provider.
//! - [`TokenCache`] and [`RetryPolicy`]: the token cache's policy (fresh, due for refresh, unusable; one fetch
//!   in flight; back off after failures) and the retry policy (full jitter, `Retry-After`, deadline), as
//!   deterministic state machines the transports drive with their own clocks and locks.
//! - [`SealingKey`], [`FleetKey`], [`seal`] and [`open`]: tokens encrypted (AES-256-GCM) for a cache shared
//!   between processes, under a key that names no client in clear (td-oauth-redis uses them).
//! - Secret types ([`AccessToken`], [`ClientSecret`], …) whose `Debug` prints no secret and which are wiped on
//!   drop.
//!
//! ## Not in scope
//!
//! Sockets, TLS, async runtimes, retries and caching live in the transport crates. No clock is read: time
//! comes in as `now` arguments. Every random value the crate writes comes from a [`RandomSource`] the caller
//! passes or sets ([`OsRandom`] by default); only the randomness inside a signature is the crypto backend's
//! own, as neither ring nor aws-lc-rs takes an outside generator.
//! Access tokens are opaque here: Talkdesk publishes no JWKS, so nothing in this crate trusts their contents.
//!
//! ## Example
//!
//! ```
//! use std::time::{Instant, SystemTime};
//! use td_oauth_core::{ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey, Region, TokenClient, TokenResponse};
//!
//! # let key_text = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWhRANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C";
//! let endpoints = Endpoints::talkdesk("acme", Region::Us)?;
//! let credentials = Credentials::private_key_jwt(
//!     ClientId::new("0123456789abcdef0123456789abcdef")?,
//!     KeyId::new("fedcba9876543210fedcba9876543210")?,
//!     PrivateKey::parse(key_text)?,
//! );
//! let client = TokenClient::new(&endpoints, credentials);
//!
//! // 1. Build the request: POST, form-encoded, with a freshly signed assertion.
//! let request = client.token_request(&Grant::client_credentials("users:read".parse()?), SystemTime::now())?;
//! assert_eq!(request.method(), "POST");
//!
//! // 2. Send it with any HTTP client. Here, a canned answer stands in for the server.
//! let response = http::Response::builder()
//!     .status(200)
//!     .body(br#"{"access_token":"eyJhbGciOi...","token_type":"Bearer","expires_in":600,"scope":"users:read"}"#)?;
//!
//! // 3. Read the answer.
//! let token = TokenResponse::from_http(&response, Instant::now())?;
//! assert_eq!(token.expires_in().as_secs(), 600);
//! println!("{token:?}"); // prints no secret
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! - `aws-lc-rs`: adds aws-lc-rs as a second crypto backend, used for P-521 (ES512) keys, which ring cannot
//!   sign with. Without it, an ES512 key is refused with [`Error::FeatureRequired`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
mod assertion;
mod authorize;
mod backend;
mod cache;
pub mod clock;
mod credentials;
mod endpoints;
mod error;
mod events;
#[doc(hidden)]
pub mod fuzzing;
mod idle;
mod installation;
mod installations;
mod jwt;
mod key;
pub mod manager;
mod oauth_error;
pub mod provider;
mod random;
mod request;
mod response;
mod retry;
mod scope;
mod sealed;
mod secret;
pub mod transport;

pub use algorithm::Algorithm;
pub use assertion::{
    AssertionSigner, CLIENT_ASSERTION_TYPE, ClientAssertion, DEFAULT_ASSERTION_LIFETIME, MAX_ASSERTION_LIFETIME,
};
pub use authorize::{AuthorizeRequest, PendingAuthorization, pkce_challenge};
pub use cache::{CachePolicy, Decision, FetchKind, Freshness, Schedule, TokenCache};
pub use credentials::{ClientId, Credentials, KeyId};
pub use endpoints::{Account, EndpointUrl, Endpoints, Region, check_redirect_uri};
pub use error::Error;
pub use events::{EventKind, InstallationCredentials};
pub use idle::IdleMap;
pub use installation::{Active, InstallationKey, ManagerPolicy, Rotation, RotationFallback, RotationKind, Which};
pub use installations::{ActiveProvider, Fallback, InstallReport, Installations};
pub use jwt::UnverifiedJwt;
pub use key::PrivateKey;
pub use oauth_error::{ErrorCode, OAuthError, RetryAfter};
pub use random::{OsRandom, RandomSource, random_token};
pub use request::{FormBody, Grant, TokenClient};
pub use response::TokenResponse;
pub use retry::{Failure, RetryPolicy};
pub use scope::Scopes;
pub use sealed::{FleetKey, SealedProblem, SealedToken, SealingKey, open, seal};
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, IdToken, PkceVerifier, RefreshToken};

pub use http;
