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
//! The crate root holds the happy path: [`Endpoints`] and [`Region`] (an account name, checked to be one DNS
//! label, to token, authorize and API URLs, every URL `https` except loopback), [`PrivateKey`] (every form a
//! Talkdesk key is pasted in, parsed once; ES256, ES384, PS256/384/512 with ring, ES512 with the `aws-lc-rs`
//! feature), [`Credentials`] (a signed JWT or HTTP Basic), [`TokenClient`] and [`Grant`] (the three grants
//! as `http::Request`s), [`TokenResponse`] (the answer, or the server's [`OAuthError`]),
//! [`AuthorizeRequest`] and [`PendingAuthorization`] (the authorize URL with `state`, `nonce` and PKCE, and
//! the redirect check), the secret types ([`AccessToken`], [`ClientSecret`], …, whose `Debug` prints no
//! secret and which are wiped on drop), and [`Error`]. Everything else is in a module named after its
//! concern:
//!
//! | module | what it holds |
//! |---|---|
//! | [`assertion`] | the `private_key_jwt` client assertion, written straight to compact form |
//! | [`authorize`] | the authorize request, the redirect check and its [`RedirectError`](authorize::RedirectError) |
//! | [`cache`] | the token cache's policy as a state machine: fresh, due (at a jittered point), unusable; one fetch in flight; the backoff after failures |
//! | [`crypto`] | AES-256-GCM and SHA-256 from the crypto backend, for crates that seal tokens in shared caches |
//! | [`clock`] | the time source the providers' rules read, a [`ManualClock`](clock::ManualClock) for tests, and the token endpoint's clock offset ([`clock::offset`]) that assertions are signed on |
//! | [`endpoints`] | account names, regions, checked endpoint URLs, redirect-URI checks |
//! | [`jwt`] | a JWT's header and claims decoded for display, never trusted |
//! | [`key_set`] | several keys of one client, one active, and a key file read again when it changes (key rotation without a restart) |
//! | [`key`] | private keys and [`KeyError`](key::KeyError), why one was refused |
//! | [`oauth_error`] | the server's OAuth error, its code and `Retry-After` |
//! | [`provider`] | the token provider as a state machine both transports drive |
//! | [`random`] | the caller-replaceable source of every random value the crate writes |
//! | [`request`] | grants, the token client, form bodies that print no secret |
//! | [`response`] | the token endpoint's answer, and [`ResponseError`](response::ResponseError) for one that is not a token |
//! | [`retry`] | the retry policy: full jitter, `Retry-After`, attempts and a deadline |
//! | [`signer`] | signers outside the process's memory (HSM, KMS, signing service): the traits, the checks on what they return, [`SignerError`](signer::SignerError) |
//! | [`secret`] | secret strings: redacted `Debug`, no `Display`, wiped on drop |
//! | [`text`] | values from callers and servers made safe to show; URLs without their secret-bearing parts |
//! | [`transport`] | what the transport crates share: one settings type, one error type, the retry loop |
//!
//! ## Not in scope
//!
//! Sockets, TLS, async runtimes and waiting live in the transport crates; the rules they follow (the
//! provider, the retry loop, the token manager) are here, as state machines they drive. The rules read no clock
//! the caller does not hand in (`now` arguments, or a [`Clock`](clock::Clock)); the one exception is the
//! jitter fallback (`transport::jitter`), which spreads retries by the wall clock's nanoseconds when the
//! random source fails. Every random value the crate
//! writes comes from a [`RandomSource`](random::RandomSource) the caller passes or sets
//! ([`OsRandom`](random::OsRandom) by default); only the randomness inside a signature is the crypto
//! backend's own, as neither ring nor aws-lc-rs takes an outside generator.
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
//!   sign with. Without it, an ES512 key is refused with [`KeyError::FeatureRequired`](key::KeyError::FeatureRequired).

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod algorithm;
pub mod assertion;
pub mod authorize;
mod backend;
pub mod cache;
pub mod clock;
mod credentials;
pub mod crypto;
pub mod endpoints;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod jwt;
pub mod key;
mod key_error;
pub mod key_set;
pub mod oauth_error;
pub mod provider;
pub mod random;
pub mod request;
pub mod response;
pub mod retry;
mod scope;
pub mod secret;
pub mod signer;
pub mod telemetry;
pub mod text;
pub mod transport;

pub use algorithm::Algorithm;
pub use authorize::{AuthorizeRequest, PendingAuthorization};
pub use credentials::{ClientId, Credentials, KeyId};
pub use endpoints::{Account, Endpoints, Region};
pub use error::Error;
pub use key::PrivateKey;
pub use oauth_error::{ErrorCode, OAuthError};
pub use request::{Grant, TokenClient};
pub use response::TokenResponse;
pub use scope::Scopes;
pub use secret::{AccessToken, AuthorizationCode, ClientSecret, PkceVerifier, RefreshToken};

pub use http;
pub use url;
