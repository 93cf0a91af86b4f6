//! A Talkdesk-compatible OAuth 2.0 identity server on loopback, for tests and demos.
//!
//! [`TestServer`] starts, in-process, a real HTTP (or HTTPS, with a self-signed certificate it
//! makes) server on `127.0.0.1` with an ephemeral port. It behaves like Talkdesk's identity
//! service as described in the repository's `docs/talkdesk.md`: `POST /oauth/token` with the
//! `client_credentials`, `authorization_code` (optionally with PKCE S256) and rotating
//! `refresh_token` grants; client authentication by signed JWT assertion (ES256, ES384, ES512,
//! PS256, PS384, PS512) or HTTP Basic; per-client scopes; `GET /oauth/authorize`, which approves
//! a test user at once; and a small protected resource, `GET /api/me`. Tests can register
//! clients (with keys generated in Talkdesk's format, or their own public keys), inspect every
//! request the server received, and inject faults (error statuses, `Retry-After`, delays,
//! dropped connections, truncated, slow, huge or malformed bodies, odd `expires_in` values, fields
//! replaced or removed, a byte-order mark).
//! The Talkdesk API side is served too: userinfo (`/users/me`, 400 "no user context" for a token without
//! a user), a paginated HAL list (`/users`, [`TestServer::set_user_count`]), the Apps API's lifecycle calls
//! (every one recorded: [`TestServer::acknowledgements`]; a second acknowledgement of a rotation is a 409),
//! `/oauth/end_user_session`, and `/sts/me` for STS tokens (no `Bearer` word); refusals are Talkdesk error
//! bodies. [`EventDelivery`] posts AppConnect events to a callback URL with Talkdesk's redelivery after 5
//! and 10 minutes (delays settable), and [`lifecycle_event`] and [`app_event_with_root`] write their bodies.
//! [`SecretVolume`] is a directory laid out and updated as Kubernetes mounts a secret. [`SigningService`] is a
//! Vault-transit-style signing service holding keys that never leave it, for signers outside the client's
//! process. [`RedisServer`] runs a real `redis-server` on loopback for td-oauth-redis's tests, and
//! [`PostgresServer`] a real PostgreSQL (`initdb` and `postgres`) for td-oauth-postgres's; [`app_event`]
//! writes AppConnect event bodies for partner-app tests; [`SoftHsm`] makes a SoftHSM2 token store of a test's
//! own for PKCS#11 signing; [`LogCapture`] keeps what reaches `tracing`.
//! [`matrix`] is the fault matrix both transports' tests run: every fault × cold, warm and due caches,
//! with the expected outcome of each cell and the checks, behind a small [`matrix::Subject`] trait.
//! [`providers`] is the table of the token provider's behaviours (refresh ahead, rotation, the herd,
//! cancellation, …) both transports run on a clock they step instead of sleeping.
//! It backs the transports' end-to-end tests, `td-oauth serve` and `td-oauth demo`.
//!
//! The server runs on a thread of its own with its own tokio runtime, so blocking tests and
//! async tests use it the same way; dropping the [`TestServer`] stops it and joins the thread.
//! Every server has its own port, keys and state, so tests can run many in parallel.
//!
//! What it is not: a production identity server (state lives in memory, keys are made per
//! process, nothing is hardened against a hostile network). It verifies client assertions with
//! `jsonwebtoken` and aws-lc-rs, independently of `td-oauth-core`, and it must never become a
//! dependency of the library crates.
//!
//! aws-lc-rs (a C library) is always built: it is jsonwebtoken's backend here, and generates the RSA
//! (PS256/384/512) and P-521 (ES512) keys that ring can neither generate nor use.
//!
//! ```
//! use td_oauth_testkit::{Algorithm, TestServer};
//!
//! # fn main() -> Result<(), td_oauth_testkit::Error> {
//! let server = TestServer::start()?;
//! let client = server.register_client(Algorithm::Es256)?;
//! println!("token URL: {}", server.token_url());
//! println!("client {} signs with key {}", client.client_id, client.key_id);
//! assert!(client.private_key.starts_with("MIGHAgEAMBMGByqGSM49"));
//! # Ok(())
//! # }
//! ```
//!
//! Answers follow Talkdesk's documentation; where it is silent this crate chooses, and says so
//! in the module that implements it (`refresh_token` and `sid` for every `authorization_code`
//! and `refresh_token` grant, `id_token` when `openid` was granted, rotating refresh tokens).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod algorithm;
mod assertion;
mod authorize;
mod body;
mod clients;
mod connection;
mod delivery;
mod error;
mod events;
mod faults;
mod fuzz_corpus;
mod issuer;
mod keys;
mod logs;
pub mod matrix;
mod paths;
mod postgres;
pub mod providers;
mod proxy;
pub mod proxy_env;
mod record;
mod redis;
mod redis_cluster;
mod redis_tls;
mod reply;
mod resource;
#[cfg(unix)]
mod secret_volume;
mod server;
mod signing_service;
mod softhsm;
mod state;
mod talkdesk_api;
mod tls;
mod token;

pub use algorithm::Algorithm;
pub use assertion::JWT_BEARER;
pub use clients::{ClientCredentials, ClientInfo, ClientSpec, DEFAULT_SCOPES, Grant};
pub use delivery::{DeliveryAttempt, EventDelivery, TALKDESK_REDELIVERY};
pub use error::Error;
pub use events::{
    AppEvent, TEST_APP_ID, app_event, app_event_with_root, check_fallback_warning, lifecycle_event,
    rotated_to_unknown_client,
};
pub use faults::{Fault, FaultTarget};
pub use fuzz_corpus::{fuzz_inputs, replay_fuzz};
pub use logs::{CaptureGuard, LogCapture};
pub use paths::{
    AUTHORIZE_PATH, ECHO_AUTHORIZATION_PATH, END_USER_SESSION_PATH, ME_PATH, STS_ME_PATH, TOKEN_PATH, USERS_ME_PATH,
    USERS_PATH,
};
pub use postgres::{POSTGRES_USER, PostgresServer};
pub use proxy::ConnectProxy;
pub use record::{Acknowledgement, AuthMethod, RecordedRequest};
pub use redis::{RedisServer, bulk_payload};
pub use redis_cluster::RedisCluster;
pub use redis_tls::TlsRedisServer;
#[cfg(unix)]
pub use secret_volume::SecretVolume;
pub use server::{ServerBuilder, TestServer};
pub use signing_service::SigningService;
pub use softhsm::SoftHsm;
pub use talkdesk_api::{TEST_USER_ID, talkdesk_error_body};
pub use tls::Certificate;
