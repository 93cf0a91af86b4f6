//! Every key form parses to the same key; every bad key gets its own clear error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use td_oauth_core::key::KeyError;
use td_oauth_core::{Algorithm, PrivateKey};

const ES256_B64: &str = include_str!("keys/es256.pkcs8.b64");
const ES256_PKCS8: &str = include_str!("keys/es256.pkcs8.pem");
const ES256_SEC1: &str = include_str!("keys/es256.sec1.pem");
const ES256_PUB: &str = include_str!("keys/es256.pub.pem");
const ES256_ENCRYPTED: &str = include_str!("keys/es256.encrypted.pem");
const ES256_NO_PUBLIC: &str = include_str!("keys/es256.no-public-key.b64");
const ES384_PKCS8: &str = include_str!("keys/es384.pkcs8.pem");
const ES384_PUB: &str = include_str!("keys/es384.pub.pem");
const ES512_PKCS8: &str = include_str!("keys/es512.pkcs8.pem");
const RSA_PKCS8: &str = include_str!("keys/rsa2048.pkcs8.pem");
const RSA_PKCS1: &str = include_str!("keys/rsa2048.pkcs1.pem");
const RSA_PUB: &str = include_str!("keys/rsa2048.pub.pem");
const RSA_1024: &str = include_str!("keys/rsa1024.pkcs8.pem");
const ED25519: &str = include_str!("keys/ed25519.pkcs8.pem");
const RSA_PUB_PKCS1: &str = include_str!("keys/rsa2048.pkcs1.pub.pem");
const ES256_DER: &[u8] = include_bytes!("keys/es256.pkcs8.der");
const ES256_CERT_THEN_KEY: &str = include_str!("keys/es256.cert-then-key.pem");
const ES256_CERT_DER: &[u8] = include_bytes!("keys/es256.cert.der");

fn public_pem(text: &str) -> String {
    PrivateKey::parse(text).unwrap().public_key_pem()
}

/// Talkdesk's form, wrapped at `width` columns with `newline`.
fn wrapped(width: usize, newline: &str) -> String {
    ES256_B64.trim().as_bytes().chunks(width).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(newline)
}

#[test]
fn every_es256_form_is_the_same_key() {
    let expected = ES256_PUB.replace("\r\n", "\n");
    let forms = [
        ES256_B64.to_owned(),
        format!("  {}\n", ES256_B64.trim()),
        wrapped(64, "\n"),
        wrapped(76, "\r\n"),
        wrapped(17, " \t"),
        ES256_PKCS8.to_owned(),
        ES256_PKCS8.replace('\n', "\r\n"),
        ES256_PKCS8.replace('\n', "\\n"),
        ES256_SEC1.to_owned(),
        format!("\u{feff}{ES256_PKCS8}"),
        // What the Talkdesk samples build: the one-line key wrapped at 64 inside PKCS#8 armour.
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----", wrapped(64, "\n")),
        // URL-safe Base64 without padding, as some tools re-encode it.
        ES256_B64.trim().replace('+', "-").replace('/', "_").trim_end_matches('=').to_owned(),
    ];
    for form in forms {
        let key = PrivateKey::parse(&form).unwrap_or_else(|err| panic!("{form:?}: {err}"));
        assert_eq!(key.algorithm(), Algorithm::Es256);
        assert_eq!(key.public_key_pem(), expected, "{form:?}");
    }
}

#[test]
fn a_quoted_key_is_read_and_a_stray_quote_is_named() {
    let expected = ES256_PUB.replace("\r\n", "\n");
    for quoted in
        [format!("\"{}\"", ES256_B64.trim()), format!("'{}'\n", ES256_B64.trim()), format!("\"{ES256_PKCS8}\"")]
    {
        let key = PrivateKey::parse(&quoted).unwrap_or_else(|err| panic!("{quoted:?}: {err}"));
        assert_eq!(key.public_key_pem(), expected);
    }
    // JSON-escaped PEM, quotes included, as `jq` prints a `private_key` field.
    let json = serde_json::to_string(ES256_PKCS8).unwrap();
    assert_eq!(PrivateKey::parse(&json).unwrap().public_key_pem(), expected);
    assert_refused(
        &format!("\"{}", ES256_B64.trim()),
        |e| matches!(e, KeyError::Malformed { .. }),
        "remove the quotes",
    );
    assert_refused(&format!("{}'", ES256_B64.trim()), |e| matches!(e, KeyError::Malformed { .. }), "remove the quotes");
}

#[test]
fn a_certificate_before_the_key_is_skipped() {
    let key = PrivateKey::parse(ES256_CERT_THEN_KEY).unwrap();
    assert_eq!(key.public_key_pem(), ES256_PUB);
    // A public key beside the private one is skipped too; two private keys are ambiguous.
    assert_eq!(PrivateKey::parse(&format!("{ES256_PUB}{ES256_PKCS8}")).unwrap().algorithm(), Algorithm::Es256);
    let two = format!("{ES256_PKCS8}{ES384_PKCS8}");
    assert_refused(&two, |e| matches!(e, KeyError::Malformed { .. }), "holds 2 private keys");
    // Only certificates: still named as such.
    let cert_only = &ES256_CERT_THEN_KEY[..ES256_CERT_THEN_KEY.find("-----BEGIN PRIVATE KEY").unwrap()];
    assert_refused(cert_only, |e| matches!(e, KeyError::NotAPrivateKey { found: "certificate" }), "certificate");
}

#[test]
fn binary_der_files_are_read() {
    let key = PrivateKey::from_der(ES256_DER).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es256);
    assert_eq!(key.public_key_pem(), ES256_PUB);
    assert_eq!(PrivateKey::from_der_with_algorithm(ES256_DER, Algorithm::Es256).unwrap().algorithm(), Algorithm::Es256);
    let err = PrivateKey::from_der_with_algorithm(ES256_DER, Algorithm::Ps256).unwrap_err();
    assert!(matches!(err, KeyError::AlgorithmMismatch { suggested: Algorithm::Es256, .. }), "{err:?}");
    // Text handed over as binary is pointed to `parse`.
    for text in [ES256_PKCS8, ES256_B64] {
        let err = PrivateKey::from_der(text.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("not binary DER") && err.contains("PrivateKey::parse"), "{err}");
    }
    let err = PrivateKey::from_der(ES256_CERT_DER).unwrap_err();
    assert!(matches!(err, KeyError::NotAPrivateKey { found: "certificate" }), "{err:?}");
    let err = PrivateKey::from_der(&ES256_DER[..100]).unwrap_err().to_string();
    assert!(err.contains("truncated"), "{err}");
}

#[test]
fn talkdesk_form_starts_like_the_documentation_says() {
    assert!(ES256_B64.starts_with("MIGHAgEAMBMGByqGSM49"));
}

#[test]
fn rsa_pkcs8_and_pkcs1_are_the_same_key() {
    assert_eq!(public_pem(RSA_PKCS8), RSA_PUB);
    assert_eq!(public_pem(RSA_PKCS1), RSA_PUB);
    assert_eq!(PrivateKey::parse(RSA_PKCS1).unwrap().algorithm(), Algorithm::Ps256);
    for alg in [Algorithm::Ps256, Algorithm::Ps384, Algorithm::Ps512] {
        assert_eq!(PrivateKey::parse_with_algorithm(RSA_PKCS8, alg).unwrap().algorithm(), alg);
    }
}

#[test]
fn es384_is_inferred_from_the_curve() {
    let key = PrivateKey::parse(ES384_PKCS8).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es384);
    assert_eq!(key.public_key_pem(), ES384_PUB);
}

#[cfg(feature = "aws-lc-rs")]
#[test]
fn es512_parses_with_aws_lc_rs() {
    let key = PrivateKey::parse(ES512_PKCS8).unwrap();
    assert_eq!(key.algorithm(), Algorithm::Es512);
    assert_eq!(key.public_key_pem(), include_str!("keys/es512.pub.pem"));
}

#[cfg(not(feature = "aws-lc-rs"))]
#[test]
fn es512_names_the_feature_it_needs() {
    let err = PrivateKey::parse(ES512_PKCS8).unwrap_err();
    assert!(matches!(err, KeyError::FeatureRequired { algorithm: Algorithm::Es512, feature: "aws-lc-rs" }), "{err:?}");
    assert!(err.to_string().contains("`aws-lc-rs` feature"), "{err}");
}

fn assert_refused(text: &str, check: impl Fn(&KeyError) -> bool, says: &str) {
    let err = PrivateKey::parse(text).expect_err(says);
    assert!(check(&err), "{says}: got {err:?}");
    let message = err.to_string();
    assert!(message.contains(says), "{message:?} should mention {says:?}");
    // No error repeats the key's material.
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    if body.len() > 16 {
        assert!(!message.contains(&body[4..16]), "{message}");
    }
}

#[test]
fn bad_keys_each_get_their_own_error() {
    let half = &ES256_B64.trim()[..ES256_B64.trim().len() / 2];
    assert_refused(half, |e| matches!(e, KeyError::Malformed { .. }), "truncated");
    let pem_cut = &ES256_PKCS8[..ES256_PKCS8.len() - 40];
    assert_refused(pem_cut, |e| matches!(e, KeyError::Malformed { .. }), "truncated");
    let mut corrupt = ES256_B64.trim().to_owned();
    corrupt.replace_range(10..11, "!");
    assert_refused(&corrupt, |e| matches!(e, KeyError::Malformed { .. }), "neither PEM nor Base64");
    assert_refused("BAJhYg==", |e| matches!(e, KeyError::Malformed { .. }), "not a DER private key");
    assert_refused("", |e| matches!(e, KeyError::Malformed { .. }), "empty");
    assert_refused(ES256_PUB, |e| matches!(e, KeyError::NotAPrivateKey { .. }), "public key");
    let spki_b64: String = ES256_PUB.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_refused(&spki_b64, |e| matches!(e, KeyError::NotAPrivateKey { .. }), "public key");
    assert_refused(ES256_ENCRYPTED, |e| matches!(e, KeyError::Encrypted), "encrypted");
    let encrypted_b64: String = ES256_ENCRYPTED.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_refused(&encrypted_b64, |e| matches!(e, KeyError::Encrypted), "encrypted");
    let traditional = ES256_SEC1.replacen(
        "-----BEGIN EC PRIVATE KEY-----\n",
        "-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
        1,
    );
    assert_refused(&traditional, |e| matches!(e, KeyError::Encrypted), "encrypted");
    assert_refused(RSA_1024, |e| matches!(e, KeyError::RsaTooSmall { bits: 1024 }), "1024 bits");
    // PKCS#1 `RSAPublicKey` without its armour: told apart from a private key by its shape.
    let rsa_pub_b64: String = RSA_PUB_PKCS1.lines().filter(|l| !l.starts_with("-----")).collect();
    assert_refused(&rsa_pub_b64, |e| matches!(e, KeyError::NotAPrivateKey { found: "public key" }), "public key");
    let relabelled = ES256_SEC1.replace("EC PRIVATE KEY", "PRIVATE KEY");
    assert_refused(&relabelled, |e| matches!(e, KeyError::Malformed { .. }), "labelled `PRIVATE KEY` but holds a SEC1");
    assert_refused(ED25519, |e| matches!(e, KeyError::Unsupported { .. }), "EdDSA");
    assert_refused(ES256_NO_PUBLIC, |e| matches!(e, KeyError::Malformed { .. }), "omits its public key");
    assert_refused(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        |e| matches!(e, KeyError::NotAPrivateKey { .. }),
        "certificate",
    );
}

#[test]
fn algorithm_must_fit_the_key() {
    let err = PrivateKey::parse_with_algorithm(ES256_B64, Algorithm::Es384).unwrap_err();
    assert!(
        matches!(err, KeyError::AlgorithmMismatch { requested: Algorithm::Es384, suggested: Algorithm::Es256, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("P-256"), "{err}");
    let err = PrivateKey::parse_with_algorithm(RSA_PKCS8, Algorithm::Es256).unwrap_err();
    assert!(matches!(err, KeyError::AlgorithmMismatch { suggested: Algorithm::Ps256, .. }), "{err:?}");
    let err = PrivateKey::parse_with_algorithm(ES384_PKCS8, Algorithm::Ps256).unwrap_err();
    assert!(matches!(err, KeyError::AlgorithmMismatch { .. }), "{err:?}");
}

#[test]
fn debug_shows_no_key_material() {
    let key = PrivateKey::parse(ES256_B64).unwrap();
    let debug = format!("{key:?} {key:#?}");
    assert!(debug.contains("Es256"), "{debug}");
    assert!(!debug.contains(&ES256_B64[20..40]), "{debug}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = PrivateKey::from_der(&bytes);
        let _ = PrivateKey::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_keys_never_panic(pos in 0usize..138, byte in any::<u8>(), cut in 0usize..140) {
        use base64::Engine as _;
        let mut der = base64::engine::general_purpose::STANDARD.decode(ES256_B64.trim()).unwrap();
        let len = der.len();
        der[pos % len] = byte;
        let _ = PrivateKey::from_der(&der);
        let _ = PrivateKey::from_der(&der[..cut.min(der.len())]);
    }

    #[test]
    fn any_wrapping_width_and_whitespace_parse(width in 1usize..200, newline in "[ \t\r\n]{1,3}") {
        let key = PrivateKey::parse(&wrapped(width, &newline)).unwrap();
        prop_assert_eq!(key.algorithm(), Algorithm::Es256);
    }
}
