//! Signatures from keys inside a SoftHSM2 token: every algorithm Talkdesk hands out, in the JOSE form, each
//! verified against the key's public half, and the public key the signer reads back from the token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use td_oauth_pkcs11::Pkcs11Options;
use td_oauth_testkit::{Algorithm, SoftHsm, TestServer};

#[test]
fn every_algorithm_signs_in_jose_form_and_verifies() {
    SoftHsm::run_isolated("every_algorithm_signs_in_jose_form_and_verifies", |hsm| {
        let server = TestServer::start().unwrap();
        let keys = [
            (Algorithm::Es256, "es256"),
            (Algorithm::Es384, "es384"),
            (Algorithm::Es512, "es512"),
            (Algorithm::Ps256, "ps256"),
            (Algorithm::Ps384, "ps384"),
            (Algorithm::Ps512, "ps512"),
        ];
        let clients = common::token_with_keys(hsm, &server, "td", &keys);
        for ((algorithm, object), client) in keys.iter().zip(&clients) {
            let algorithm = common::core_algorithm(*algorithm);
            let options = Pkcs11Options::default().with_algorithm(algorithm);
            let signer = common::open(hsm, &format!("pkcs11:token=td;object={object}"), options);
            assert_eq!(signer.algorithm(), algorithm);
            assert_eq!(signer.public_key_der(), Some(&client.public_key_der[..]), "{algorithm}: public key read back");
            let message = format!("eyJhbGciOiJ{algorithm}.eyJpc3MiOiJ0ZXN0In0");
            let signature = signer.sign_raw(message.as_bytes()).unwrap();
            let expected_len = match algorithm.as_str() {
                "ES256" => 64,
                "ES384" => 96,
                "ES512" => 132,
                _ => 256,
            };
            assert_eq!(signature.len(), expected_len, "{algorithm}: JOSE length");
            common::verify(algorithm, &client.public_key_der, message.as_bytes(), &signature).unwrap();
            // A signature of another message does not verify: the check is real.
            assert!(common::verify(algorithm, &client.public_key_der, b"other", &signature).is_err());
        }
    });
}

#[test]
fn keys_are_found_by_id_alone_and_ec_algorithms_are_inferred() {
    SoftHsm::run_isolated("keys_are_found_by_id_alone_and_ec_algorithms_are_inferred", |hsm| {
        let server = TestServer::start().unwrap();
        let clients = common::token_with_keys(
            hsm,
            &server,
            "by id",
            &[(Algorithm::Es384, "first"), (Algorithm::Ps256, "second")],
        );
        let signer = common::open(hsm, "pkcs11:token=by%20id;id=%01", Pkcs11Options::default());
        assert_eq!(signer.algorithm().as_str(), "ES384");
        let signature = signer.sign_raw(b"a.b").unwrap();
        common::verify(signer.algorithm(), &clients[0].public_key_der, b"a.b", &signature).unwrap();
        // An RSA key without an algorithm signs PS256.
        let signer = common::open(hsm, "pkcs11:id=%02;type=private", Pkcs11Options::default());
        assert_eq!(signer.algorithm().as_str(), "PS256");
        let signature = signer.sign_raw(b"a.b").unwrap();
        common::verify(signer.algorithm(), &clients[1].public_key_der, b"a.b", &signature).unwrap();
        assert!(signer.public_key_pem().unwrap().starts_with("-----BEGIN PUBLIC KEY-----\n"));
    });
}
