//! What the tests share: a SoftHSM2 token holding keys the testkit generated, imported from the PKCS#8 PEM
//! Talkdesk hands out, and a check of a JOSE signature against the key's public half.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use der::Decode as _;
use spki::SubjectPublicKeyInfoRef;
use td_oauth_core::Algorithm;
use td_oauth_pkcs11::{Pin, Pkcs11Options, Pkcs11Signer, Pkcs11Uri};
use td_oauth_testkit::{ClientCredentials, SoftHsm, TestServer};

/// The user PIN of the tests' tokens.
pub const PIN: &str = "4711-test-pin";

/// A token `label` holding one key per entry, each imported from the testkit's PKCS#8 PEM as the object
/// named by the entry and CKA_ID `index + 1`. Returns the clients (registered with `server`).
pub fn token_with_keys(
    hsm: &SoftHsm,
    server: &TestServer,
    label: &str,
    keys: &[(td_oauth_testkit::Algorithm, &str)],
) -> Vec<ClientCredentials> {
    hsm.init_token(label, PIN).unwrap();
    keys.iter()
        .enumerate()
        .map(|(index, (algorithm, object))| {
            let client = server.register_client(*algorithm).unwrap();
            let id = u8::try_from(index + 1).unwrap();
            hsm.import_pkcs8_pem(label, PIN, object, &[id], &client.private_key_pem).unwrap();
            client
        })
        .collect()
}

/// A file holding the PIN, in the store's directory.
pub fn pin_file(hsm: &SoftHsm, pin: &str) -> PathBuf {
    let path = hsm.dir().join(format!("pin-{}", pin.len()));
    std::fs::write(&path, format!("{pin}\n")).unwrap();
    path
}

pub fn open(hsm: &SoftHsm, uri: &str, options: Pkcs11Options) -> Pkcs11Signer {
    let pin = Pin::from_file(&pin_file(hsm, PIN)).unwrap();
    Pkcs11Signer::open(hsm.module_path(), &Pkcs11Uri::parse(uri).unwrap(), Some(pin), kid(), options).unwrap()
}

/// A key id for signers whose assertions no server checks.
pub fn kid() -> td_oauth_core::KeyId {
    td_oauth_core::KeyId::new("0123456789abcdef0123456789abcdef").unwrap()
}

/// The core's algorithm of the same name as the testkit's.
pub fn core_algorithm(algorithm: td_oauth_testkit::Algorithm) -> Algorithm {
    algorithm.as_str().parse().unwrap()
}

/// Verifies a JOSE signature (`r‖s` for ECDSA) of `message` against the SubjectPublicKeyInfo DER `spki`:
/// with ring, and with aws-lc-rs for ES512, which ring lacks.
pub fn verify(algorithm: Algorithm, spki: &[u8], message: &[u8], signature: &[u8]) -> Result<(), String> {
    let info = SubjectPublicKeyInfoRef::from_der(spki).map_err(|err| format!("bad SPKI: {err}"))?;
    let public_key = info.subject_public_key.raw_bytes();
    use ring::signature as ring_sig;
    let ring_algorithm: &dyn ring_sig::VerificationAlgorithm = match algorithm {
        Algorithm::Es256 => &ring_sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::Es384 => &ring_sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::Ps256 => &ring_sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &ring_sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &ring_sig::RSA_PSS_2048_8192_SHA512,
        _ => {
            return aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P521_SHA512_FIXED,
                public_key,
            )
            .verify(message, signature)
            .map_err(|_| format!("{algorithm} signature does not verify"));
        }
    };
    ring_sig::UnparsedPublicKey::new(ring_algorithm, public_key)
        .verify(message, signature)
        .map_err(|_| format!("{algorithm} signature does not verify"))
}
