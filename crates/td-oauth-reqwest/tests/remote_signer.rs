//! The worked example's signer (examples/transit_signer: an `AsyncSigner` over a Vault-transit-style
//! service) against the testkit's `SigningService` and `TestServer`, over real sockets: a token from a key
//! that never leaves the service, and what each of the service's failures becomes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../examples/transit_signer/signer.rs"]
mod signer;

use std::sync::Arc;
use std::time::Duration;

use signer::TransitSigner;
use td_oauth_reqwest::core::signer::{AsyncSigner, SignerError};
use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Error, KeyId, RetryPolicy, Scopes};
use td_oauth_testkit::{Algorithm, ClientInfo, ClientSpec, SigningService, TOKEN_PATH, TestServer};

const VAULT_TOKEN: &str = "s.test-vault-token";

struct Setup {
    vault: SigningService,
    identity: TestServer,
    registered: ClientInfo,
    public_key_pem: String,
}

/// A transit key, and a client registered with its public half.
fn setup() -> Setup {
    let vault = SigningService::start(VAULT_TOKEN).unwrap();
    let public_key_pem = vault.create_key("talkdesk-app", Algorithm::Es256).unwrap();
    let identity = TestServer::start().unwrap();
    let registered = identity.register_public_key(ClientSpec::new(Algorithm::Es256), &public_key_pem).unwrap();
    Setup { vault, identity, registered, public_key_pem }
}

fn client(setup: &Setup, vault_token: &str, key_name: &str) -> Client {
    let signer = TransitSigner::new(
        &setup.vault.url(),
        vault_token,
        key_name,
        KeyId::new(&setup.registered.key_id).unwrap(),
        td_oauth_reqwest::core::Algorithm::Es256,
        &setup.public_key_pem,
    )
    .unwrap();
    let credentials = Credentials::async_signer(
        ClientId::new(&setup.registered.client_id).unwrap(),
        Arc::new(signer) as Arc<dyn AsyncSigner>,
    )
    .unwrap();
    let retry = RetryPolicy::default()
        .with_backoff(Duration::from_millis(10), Duration::from_millis(20))
        .unwrap()
        .with_max_retries(2)
        .with_deadline(Duration::from_secs(10));
    let config = Config::default().with_signer_timeout(Duration::from_millis(500)).with_retry_policy(retry);
    Client::with_config(&Endpoints::from_token_url(setup.identity.token_url()).unwrap(), credentials, config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn signer_error(err: Error) -> SignerError {
    match err {
        Error::Signer(err) => err,
        other => panic!("expected a signer error, got {other:?}"),
    }
}

#[test]
fn a_token_from_a_key_that_never_leaves_the_signing_service() {
    let setup = setup();
    let client = client(&setup, VAULT_TOKEN, "talkdesk-app");
    let token = runtime().block_on(client.client_credentials(Scopes::none())).unwrap();
    assert!(!token.access_token().secret().is_empty());
    assert_eq!(setup.vault.requests(), 1);
    let request = setup.identity.last_request().unwrap();
    assert_eq!(request.assertion_header.unwrap()["kid"], setup.registered.key_id.as_str());
}

#[test]
fn a_sealed_service_is_retried_and_then_signs() {
    let setup = setup();
    setup.vault.fail_next(2);
    let client = client(&setup, VAULT_TOKEN, "talkdesk-app");
    runtime().block_on(client.client_credentials(Scopes::none())).unwrap();
    assert_eq!(setup.vault.requests(), 3, "two 503s, then the signature");
    assert_eq!(setup.identity.count_path(TOKEN_PATH), 1, "only the signed request was sent");
}

#[test]
fn a_refused_vault_token_is_a_lasting_failure_that_names_the_status_not_the_token() {
    let setup = setup();
    let client = client(&setup, "s.wrong-token", "talkdesk-app");
    let err = signer_error(runtime().block_on(client.client_credentials(Scopes::none())).unwrap_err());
    assert!(matches!(err, SignerError::Failed { retryable: false, .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("403") && message.contains("permission denied"), "{message}");
    assert!(!message.contains("s.wrong-token"), "{message}");
    assert_eq!(setup.vault.requests(), 1, "not retried");
    assert_eq!(setup.identity.count_path(TOKEN_PATH), 0);
}

#[test]
fn a_slow_service_times_out_per_signature() {
    let setup = setup();
    setup.vault.set_delay(Duration::from_secs(2));
    let client = client(&setup, VAULT_TOKEN, "talkdesk-app");
    let err = signer_error(runtime().block_on(client.client_credentials(Scopes::none())).unwrap_err());
    assert!(matches!(err, SignerError::TimedOut { .. }), "{err:?}");
    assert_eq!(setup.identity.count_path(TOKEN_PATH), 0);
}

#[test]
fn a_transit_key_other_than_the_registered_one_is_caught_before_sending() {
    let setup = setup();
    setup.vault.create_key("another-key", Algorithm::Es256).unwrap();
    let client = client(&setup, VAULT_TOKEN, "another-key");
    let err = signer_error(runtime().block_on(client.client_credentials(Scopes::none())).unwrap_err());
    assert!(matches!(err, SignerError::NotVerified { .. }), "{err:?}");
    assert_eq!(setup.identity.count_path(TOKEN_PATH), 0, "Talkdesk never saw the assertion");
}
