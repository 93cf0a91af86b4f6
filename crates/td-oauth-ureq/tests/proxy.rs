//! HTTPS_PROXY and NO_PROXY as ureq's users expect them, through td-oauth-testkit's CONNECT proxy: the
//! token request tunnels through the proxy (with the agent this crate builds, trusting only an added root,
//! and with a caller-supplied one), NO_PROXY bypasses it, and redirects and the body cap are still refused
//! through the tunnel. A test binary of its own without the test harness: each case runs in a child process
//! with the variables set on the child only (see `td_oauth_testkit::proxy_env`); the request itself is
//! td-oauth-transport-tests' `proxy::fetch`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use td_oauth_testkit::proxy_env::{BODY_CAP, Case, main as run};
use td_oauth_transport_tests::proxy::fetch;
use td_oauth_ureq::Config;
use td_oauth_ureq::ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};

/// The caller's own agent: ureq's defaults (proxy from the environment included) and the server's root.
fn callers_agent(_: Config, case: &Case) -> Config {
    let tls = TlsConfig::builder()
        .provider(TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .root_certs(RootCerts::from([Certificate::from_der(&case.certificate_der).to_owned()]))
        .build();
    let agent = td_oauth_ureq::ureq::Agent::config_builder().tls_config(tls).build().new_agent();
    Config::new().with_max_response_bytes(BODY_CAP).with_http_client(agent)
}

fn main() {
    run(|case| fetch::<common::Blocking>(case, callers_agent));
}
