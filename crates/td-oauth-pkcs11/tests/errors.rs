//! What goes wrong with a token, and what the signer says: a wrong PIN (presented once, never again), no
//! PIN, a missing key, an unsupported algorithm, a bad URI or module, a token removed while in use; and
//! never the PIN in an error or in `Debug`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use td_oauth_core::Algorithm as CoreAlgorithm;
use td_oauth_pkcs11::{Pin, Pkcs11Error, Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
use td_oauth_testkit::{Algorithm, SoftHsm, TestServer};

const WRONG_PIN: &str = "wrong-pin-0815";

fn open_with(hsm: &SoftHsm, uri: &str, pin: Option<&str>) -> Result<Pkcs11Signer, Pkcs11Error> {
    let pin = pin.map(|pin| Pin::new(pin).unwrap());
    Pkcs11Signer::open(hsm.module_path(), &Pkcs11Uri::parse(uri).unwrap(), pin, common::kid(), Pkcs11Options::default())
}

/// The error's message and `Debug`, checked to hold neither PIN.
fn shown(err: &Pkcs11Error) -> String {
    let text = format!("{err} / {err:?}");
    assert!(!text.contains(common::PIN) && !text.contains(WRONG_PIN), "a PIN leaked: {text}");
    text
}

#[test]
fn a_wrong_pin_is_named_and_never_shown() {
    SoftHsm::run_isolated("a_wrong_pin_is_named_and_never_shown", |hsm| {
        let server = TestServer::start().unwrap();
        common::token_with_keys(hsm, &server, "td", &[(Algorithm::Es256, "app-key")]);
        let err = open_with(hsm, "pkcs11:token=td;object=app-key", Some(WRONG_PIN)).unwrap_err();
        assert!(matches!(err, Pkcs11Error::WrongPin { .. }), "{err:?}");
        let text = shown(&err);
        assert!(text.contains("refused the PIN") && text.contains("will not be tried again"), "{text}");

        let err = open_with(hsm, "pkcs11:token=td;object=app-key", None).unwrap_err();
        assert!(matches!(err, Pkcs11Error::PinRequired { .. }), "{err:?}");
        assert!(shown(&err).contains("TALKDESK_PKCS11_PIN"));

        // The right PIN still works: one wrong try did not lock the token.
        let signer = open_with(hsm, "pkcs11:token=td;object=app-key", Some(common::PIN)).unwrap();
        let debug = format!("{signer:?}");
        assert!(debug.contains("<redacted>") && !debug.contains(common::PIN), "{debug}");
        signer.sign_raw(b"a.b").unwrap();
    });
}

#[test]
fn missing_tokens_and_keys_are_named() {
    SoftHsm::run_isolated("missing_tokens_and_keys_are_named", |hsm| {
        let server = TestServer::start().unwrap();
        common::token_with_keys(hsm, &server, "td", &[(Algorithm::Es256, "app-key"), (Algorithm::Ps256, "rsa-key")]);
        let err = open_with(hsm, "pkcs11:token=td;object=no-such-key", Some(common::PIN)).unwrap_err();
        assert!(matches!(err, Pkcs11Error::KeyNotFound { .. }), "{err:?}");
        assert!(shown(&err).contains(r#"the key "no-such-key" on the token "td" was not found"#), "{err}");

        let err = open_with(hsm, "pkcs11:token=elsewhere;object=app-key", Some(common::PIN)).unwrap_err();
        assert!(matches!(err, Pkcs11Error::TokenNotFound { .. }), "{err:?}");
        assert!(shown(&err).contains(r#"the token "elsewhere" is not present"#) && err.to_string().contains(r#""td""#));

        // A P-256 key asked to sign ES384, an RSA key asked to sign ES256.
        let uri = Pkcs11Uri::parse("pkcs11:token=td;object=app-key").unwrap();
        let options = Pkcs11Options::default().with_algorithm(CoreAlgorithm::Es384);
        let pin = Some(Pin::new(common::PIN).unwrap());
        let err = Pkcs11Signer::open(hsm.module_path(), &uri, pin.clone(), common::kid(), options).unwrap_err();
        assert!(shown(&err).contains("a P-256 EC key, which cannot sign ES384"), "{err}");
        let uri = Pkcs11Uri::parse("pkcs11:token=td;object=rsa-key").unwrap();
        let options = Pkcs11Options::default().with_algorithm(CoreAlgorithm::Es256);
        let err = Pkcs11Signer::open(hsm.module_path(), &uri, pin, common::kid(), options).unwrap_err();
        assert!(matches!(err, Pkcs11Error::UnsupportedKey { .. }) && shown(&err).contains("2048-bit RSA key"), "{err}");
    });
}

#[test]
fn a_bad_module_is_named() {
    let uri = Pkcs11Uri::parse("pkcs11:object=k").unwrap();
    let err =
        Pkcs11Signer::open(Path::new("/nonexistent/libpkcs11.so"), &uri, None, common::kid(), Pkcs11Options::default())
            .unwrap_err();
    assert!(shown(&err).contains("/nonexistent/libpkcs11.so could not be used"), "{err}");
    // A file that is no shared library.
    let not_a_module = std::env::current_dir().unwrap().join("Cargo.toml");
    let err = Pkcs11Signer::open(&not_a_module, &uri, None, common::kid(), Pkcs11Options::default()).unwrap_err();
    assert!(shown(&err).contains("could not be loaded as a PKCS#11 module"), "{err}");
    // A module-path in the URI that is not the module given.
    let uri = Pkcs11Uri::parse("pkcs11:object=k?module-path=/usr/lib/other.so").unwrap();
    let err = Pkcs11Signer::open(&not_a_module, &uri, None, common::kid(), Pkcs11Options::default()).unwrap_err();
    assert!(shown(&err).contains("module-path names /usr/lib/other.so"), "{err}");
}

#[test]
fn a_removed_token_is_named() {
    SoftHsm::run_isolated("a_removed_token_is_named", |hsm| {
        let server = TestServer::start().unwrap();
        common::token_with_keys(hsm, &server, "td", &[(Algorithm::Es256, "app-key")]);
        let signer = open_with(hsm, "pkcs11:token=td;object=app-key", Some(common::PIN)).unwrap();
        signer.sign_raw(b"before").unwrap();
        hsm.delete_token("td").unwrap();
        // The first signature after the removal finds the session gone, looks for the token again, and
        // says it is not there; so does every later one, without hanging on the pool.
        for _ in 0..3 {
            let err = signer.sign_raw(b"while away").unwrap_err();
            let text = shown(&err);
            assert!(matches!(err, Pkcs11Error::TokenRemoved { .. } | Pkcs11Error::TokenNotFound { .. }), "{err:?}");
            assert!(text.contains(r#"the token "td""#), "{text}");
        }
        assert_eq!(signer.sessions_open(), 0, "the dead sessions were closed and none leaked");
    });
}
