//! HTTPS_PROXY and NO_PROXY as reqwest's users expect them, through td-oauth-testkit's CONNECT proxy: the
//! token request tunnels through the proxy (with the client this crate builds, trusting only an added root,
//! and with a caller-supplied one), NO_PROXY bypasses it, and redirects and the body cap are still refused
//! through the tunnel. A test binary of its own without the test harness: each case runs in a child process
//! with the variables set on the child only (see `td_oauth_testkit::proxy_env`); the request itself is
//! td-oauth-transport-tests' `proxy::fetch`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use td_oauth_reqwest::Config;
use td_oauth_testkit::proxy_env::{BODY_CAP, Case, main_knowing_only_407};
use td_oauth_transport_tests::proxy::fetch;

/// The caller's own client: this crate's builder (proxy from the environment included), trusting the
/// server's root as `config` does.
fn callers_client(config: Config, _: &Case) -> Config {
    let http = td_oauth_reqwest::http_client_builder(&config).unwrap().build().unwrap();
    Config::new().with_max_response_bytes(BODY_CAP).with_http_client(http)
}

fn main() {
    main_knowing_only_407(|case| fetch::<common::Async>(case, callers_client));
}
