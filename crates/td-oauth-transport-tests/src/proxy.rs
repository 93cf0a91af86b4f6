//! The token request of one `HTTPS_PROXY`/`NO_PROXY` case of `td_oauth_testkit::proxy_env` (which runs
//! each case in a child process with the variables set on the child only), and what came of it.

use td_oauth_core::transport::Config;
use td_oauth_core::{ClientId, Credentials, Endpoints, Error, KeyId, PrivateKey, Scopes, TokenClient};
use td_oauth_testkit::proxy_env::{BODY_CAP, Case, Outcome};

use crate::driver::Driver;

/// Fetches one token as `case` says: with the transport's own HTTP client trusting only the case's
/// certificate, or with the caller's own that `callers_client` puts in settings for the case (from the
/// settings it is given: the case's certificate trusted, bodies capped at [`BODY_CAP`]).
pub fn fetch<D: Driver>(
    case: &Case,
    callers_client: impl FnOnce(Config<D::Client>, &Case) -> Config<D::Client>,
) -> Outcome {
    let mut config = Config::new()
        .with_max_response_bytes(BODY_CAP)
        .with_root_certificate(case.certificate_der.clone())
        .with_system_roots(false);
    if case.caller_supplied_client {
        config = callers_client(config, case);
    }
    let credentials = Credentials::private_key_jwt(
        ClientId::new(&case.client_id).unwrap(),
        KeyId::new(&case.key_id).unwrap(),
        PrivateKey::parse(&case.private_key).unwrap(),
    );
    let tokens = TokenClient::new(&Endpoints::from_token_url(&case.token_url).unwrap(), credentials)
        .with_assertion_audience(&case.audience)
        .unwrap();
    let client = match D::client(tokens, config) {
        Ok(client) => client,
        Err(err) => return Outcome::Config(err.to_string()),
    };
    match D::block_on(D::client_credentials(&client, Scopes::none())) {
        Ok(_) => Outcome::Token,
        Err(Error::Redirected { .. }) => Outcome::Redirected,
        Err(Error::ResponseTooLarge { .. }) => Outcome::TooLarge,
        Err(Error::ProxyRefused { status, .. }) => Outcome::ProxyRefused(status),
        Err(err @ Error::Proxy { .. }) => Outcome::ProxyFailed(err.to_string()),
        Err(err @ Error::Config { .. }) => Outcome::Config(err.to_string()),
        Err(other) => Outcome::Other(other.to_string()),
    }
}
