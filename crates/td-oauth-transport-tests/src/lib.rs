//! The end-to-end scenarios td-oauth-reqwest and td-oauth-ureq both run, written once.
//!
//! Each transport's tests implement [`Driver`]: how to build its client and token provider from the
//! core's types, how to call them (async, or blocking with futures that are ready when made), and how to
//! run a scenario to its end ([`Driver::block_on`]: a tokio runtime, or [`poll_ready`]). The scenarios
//! are then generic functions over that driver, run over real sockets against td-oauth-testkit's
//! [`TestServer`](td_oauth_testkit::TestServer):
//!
//! | module | what both transports run |
//! |---|---|
//! | [`fault_matrix`] | the testkit's fault matrix (every fault × cold, warm and due caches), and the odd `expires_in` values beside it |
//! | [`provider_cases`] | the testkit's table of the token provider's behaviours, and `with_token` |
//! | [`api`] | the Talkdesk API: userinfo, HAL lists, Talkdesk errors, the Apps API's lifecycle calls, STS tokens, ending a session |
//! | [`redirects`] | redirects from the token endpoint are refused, never followed |
//! | [`key_rotation`] | a key file swapped like a Kubernetes secret under a running client, and several keys of one client |
//! | [`signers`] | assertions signed by signers outside memory (blocking and async): tokens, and the errors for a signer that fails, hangs or answers in the wrong form |
//! | [`proxy`] | the token request of one `HTTPS_PROXY`/`NO_PROXY` case of `td_oauth_testkit::proxy_env` |
//!
//! A test file declares a module's scenarios as `#[test]` functions, each under its scenario's name, with
//! [`scenario_tests!`]: `td_oauth_transport_tests::scenario_tests!(MyDriver, api);`. [`setup`] holds what the
//! tests of both transports (and td-oauth-partner's) build their servers, settings, credentials and clocks
//! with.
//!
//! The testkit stays independent of the core (it verifies what the core signs); this crate is where the
//! two meet. It is a dev-dependency only and is never published.
//!
//! Scenarios are tests: a disagreement panics with what was expected and what was seen.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod api;
pub mod clock_skew;
mod driver;
pub mod fault_matrix;
pub mod key_rotation;
mod macros;
pub mod provider_cases;
pub mod proxy;
pub mod redirects;
pub mod setup;
pub mod signers;
mod subject;

pub use driver::{Driver, poll_ready};
