//! HTTPS_PROXY and NO_PROXY as ureq's users expect them, through td-oauth-testkit's CONNECT proxy: the
//! token request tunnels through the proxy (with the agent this crate builds, trusting only an added root,
//! and with a caller-supplied one), NO_PROXY bypasses it, and redirects and the body cap are still refused
//! through the tunnel. A test binary of its own without the test harness: each case runs in a child process
//! with the variables set on the child only (see `td_oauth_testkit::proxy_env`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use td_oauth_testkit::proxy_env::{BODY_CAP, Case, Outcome, main as run};
use td_oauth_ureq::core::TokenClient;
use td_oauth_ureq::ureq::tls::{Certificate, RootCerts, TlsConfig, TlsProvider};
use td_oauth_ureq::{Client, ClientId, Config, Credentials, Endpoints, Error, KeyId, PrivateKey, Scopes};

fn fetch(case: &Case) -> Outcome {
    let mut config = Config::new()
        .with_max_response_bytes(BODY_CAP)
        .with_root_certificate(case.certificate_der.clone())
        .with_system_roots(false);
    if case.caller_supplied_client {
        // The caller's own agent: ureq's defaults (proxy from the environment included) and the server's root.
        let tls = TlsConfig::builder()
            .provider(TlsProvider::Rustls)
            .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .root_certs(RootCerts::from([Certificate::from_der(&case.certificate_der).to_owned()]))
            .build();
        let agent = td_oauth_ureq::ureq::Agent::config_builder().tls_config(tls).build().new_agent();
        config = Config::new().with_max_response_bytes(BODY_CAP).with_http_client(agent);
    }
    let credentials = Credentials::private_key_jwt(
        ClientId::new(&case.client_id).unwrap(),
        KeyId::new(&case.key_id).unwrap(),
        PrivateKey::parse(&case.private_key).unwrap(),
    );
    let tokens = TokenClient::new(&Endpoints::from_token_url(&case.token_url).unwrap(), credentials)
        .with_assertion_audience(&case.audience)
        .unwrap();
    let client = match Client::from_token_client(tokens, config) {
        Ok(client) => client,
        Err(err) => return Outcome::Config(err.to_string()),
    };
    match client.client_credentials(Scopes::none()) {
        Ok(_) => Outcome::Token,
        Err(Error::Redirected { .. }) => Outcome::Redirected,
        Err(Error::ResponseTooLarge { .. }) => Outcome::TooLarge,
        Err(Error::ProxyRefused { status, .. }) => Outcome::ProxyRefused(status),
        Err(err @ Error::Proxy { .. }) => Outcome::ProxyFailed(err.to_string()),
        Err(err @ Error::Config { .. }) => Outcome::Config(err.to_string()),
        Err(other) => Outcome::Other(other.to_string()),
    }
}

fn main() {
    run(fetch);
}
