//! Tokens from the testkit's identity server (an independent verifier: jsonwebtoken and aws-lc-rs) with keys
//! that exist only inside a SoftHSM2 token, through td-oauth-ureq and td-oauth-reqwest, over real sockets.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeInfo, AttributeType, KeyType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use td_oauth_core::{ClientId, Credentials, Endpoints, Grant, KeyId, Scopes};
use td_oauth_pkcs11::{Pin, Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
use td_oauth_testkit::{Algorithm, AuthMethod, ClientSpec, SoftHsm, TOKEN_PATH, TestServer};

/// The DER of the P-256 curve's OID, as CKA_EC_PARAMS holds it.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Generates a P-256 key pair inside the token `label` (private half sensitive and not extractable), and
/// returns the public key as SubjectPublicKeyInfo DER read back through a signer.
fn generate_in_token(hsm: &SoftHsm, label: &str, object: &str) {
    let context = Pkcs11::new(hsm.module_path()).unwrap();
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(err) => panic!("C_Initialize: {err}"),
    }
    let slot = context
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|slot| context.get_token_info(*slot).unwrap().label() == label)
        .unwrap();
    let session = context.open_rw_session(slot).unwrap();
    session.login(UserType::User, Some(&AuthPin::from(common::PIN))).unwrap();
    let id = vec![0x42];
    let public = [
        Attribute::Token(true),
        Attribute::Verify(true),
        Attribute::EcParams(P256_PARAMS.to_vec()),
        Attribute::Label(object.as_bytes().to_vec()),
        Attribute::Id(id.clone()),
    ];
    let private = [
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Label(object.as_bytes().to_vec()),
        Attribute::Id(id),
    ];
    let (_, private) = session.generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private).unwrap();
    // The private value cannot be read out of the token: the key exists only there.
    let info = session.get_attribute_info(private, &[AttributeType::Value]).unwrap();
    assert!(matches!(info.as_slice(), [AttributeInfo::Sensitive]), "{info:?}");
    let kind = session.get_attributes(private, &[AttributeType::KeyType, AttributeType::Class]).unwrap();
    assert!(
        kind.contains(&Attribute::KeyType(KeyType::EC)) && kind.contains(&Attribute::Class(ObjectClass::PRIVATE_KEY))
    );
}

fn signer_for(hsm: &SoftHsm, uri: &str, key_id: &str) -> Pkcs11Signer {
    let pin = Pin::from_file(&common::pin_file(hsm, common::PIN)).unwrap();
    let key_id = KeyId::new(key_id).unwrap();
    Pkcs11Signer::open(hsm.module_path(), &Pkcs11Uri::parse(uri).unwrap(), Some(pin), key_id, Pkcs11Options::default())
        .unwrap()
}

/// A token through each transport, and the server's record of how each client authenticated.
fn fetch_through_both(server: &TestServer, client_id: &str, signer: Pkcs11Signer) {
    let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
    let credentials = || Credentials::signer(ClientId::new(client_id).unwrap(), Arc::new(signer.clone())).unwrap();
    let grant = Grant::client_credentials(Scopes::default());

    let blocking = td_oauth_ureq::Client::new(&endpoints, credentials()).unwrap();
    let token = blocking.fetch(&grant).unwrap();
    assert!(!token.access_token().secret().is_empty());

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let asynchronous = td_oauth_reqwest::Client::new(&endpoints, credentials()).unwrap();
    let token = runtime.block_on(asynchronous.fetch(&grant)).unwrap();
    assert!(!token.access_token().secret().is_empty());

    let requests: Vec<_> = server.requests().into_iter().filter(|r| r.path == TOKEN_PATH).collect();
    assert_eq!(requests.len(), 2, "one token request per transport");
    for request in requests {
        assert_eq!(request.status, Some(200), "{request:?}");
        assert_eq!(request.auth_method, Some(AuthMethod::ClientAssertion));
        let header = request.assertion_header.unwrap();
        assert_eq!(header["alg"], signer.algorithm().as_str());
        assert_eq!(header["kid"], signer.key_id().as_str());
    }
}

#[test]
fn an_es256_key_generated_inside_softhsm_gets_tokens_through_both_transports() {
    SoftHsm::run_isolated("an_es256_key_generated_inside_softhsm_gets_tokens_through_both_transports", |hsm| {
        let server = TestServer::start().unwrap();
        hsm.init_token("td", common::PIN).unwrap();
        generate_in_token(hsm, "td", "app-key");
        let signer = signer_for(hsm, "pkcs11:token=td;object=app-key", "fedcba9876543210fedcba9876543210");
        // Registered with the public key the token shows: the private half was never outside it.
        let client = server
            .register_public_key(
                ClientSpec::new(Algorithm::Es256).key_id(signer.key_id().as_str()),
                signer.public_key_pem().unwrap(),
            )
            .unwrap();
        fetch_through_both(&server, &client.client_id, signer);
    });
}

#[test]
fn an_imported_es256_key_gets_tokens_through_both_transports() {
    SoftHsm::run_isolated("an_imported_es256_key_gets_tokens_through_both_transports", |hsm| {
        let server = TestServer::start().unwrap();
        // Imported from the PKCS#8 PEM Talkdesk hands out; the process keeps no copy of the private key.
        let client = common::token_with_keys(hsm, &server, "td", &[(Algorithm::Es256, "app-key")]).remove(0);
        let (client_id, key_id) = (client.client_id.clone(), client.key_id.clone());
        drop(client);
        let signer = signer_for(hsm, "pkcs11:token=td;object=app-key", &key_id);
        fetch_through_both(&server, &client_id, signer);
    });
}

#[test]
fn a_ps256_key_gets_tokens_through_both_transports() {
    SoftHsm::run_isolated("a_ps256_key_gets_tokens_through_both_transports", |hsm| {
        let server = TestServer::start().unwrap();
        let client = common::token_with_keys(hsm, &server, "td", &[(Algorithm::Ps256, "rsa-key")]).remove(0);
        let signer = signer_for(hsm, "pkcs11:token=td;object=rsa-key", &client.key_id);
        assert_eq!(signer.algorithm().as_str(), "PS256");
        fetch_through_both(&server, &client.client_id, signer);
    });
}

#[test]
fn a_signer_whose_key_the_server_does_not_know_is_refused() {
    SoftHsm::run_isolated("a_signer_whose_key_the_server_does_not_know_is_refused", |hsm| {
        let server = TestServer::start().unwrap();
        // Two clients; the token holds the first one's key, which the second claims as its own.
        let clients = common::token_with_keys(hsm, &server, "td", &[(Algorithm::Es256, "app-key")]);
        let other = server.register_client(td_oauth_testkit::Algorithm::Es256).unwrap();
        let signer = signer_for(hsm, "pkcs11:token=td;object=app-key", &other.key_id);
        let endpoints = Endpoints::from_token_url(server.token_url()).unwrap();
        let credentials = Credentials::signer(ClientId::new(&other.client_id).unwrap(), Arc::new(signer)).unwrap();
        let client = td_oauth_ureq::Client::new(&endpoints, credentials).unwrap();
        let err = client.fetch(&Grant::client_credentials(Scopes::default())).unwrap_err();
        assert!(err.oauth().is_some_and(|oauth| oauth.is_invalid_client()), "{err}");
        assert_ne!(clients[0].client_id, other.client_id);
    });
}
