//! HTTPS_PROXY and NO_PROXY as reqwest's users expect them, through td-oauth-testkit's CONNECT proxy: the
//! token request tunnels through the proxy (with the client this crate builds, trusting only an added root,
//! and with a caller-supplied one), NO_PROXY bypasses it, and redirects and the body cap are still refused
//! through the tunnel. A test binary of its own without the test harness: each case runs in a child process
//! with the variables set on the child only (see `td_oauth_testkit::proxy_env`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_reqwest::core::TokenClient;
use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Error, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::proxy_env::{BODY_CAP, Case, Outcome, main_knowing_only_407 as run};

fn fetch(case: &Case) -> Outcome {
    let mut config = Config::new()
        .with_max_response_bytes(BODY_CAP)
        .with_root_certificate(case.certificate_der.clone())
        .with_system_roots(false);
    if case.caller_supplied_client {
        let http = td_oauth_reqwest::http_client_builder(&config).unwrap().build().unwrap();
        config = Config::new().with_max_response_bytes(BODY_CAP).with_http_client(http);
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
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    match runtime.block_on(client.client_credentials(Scopes::none())) {
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
