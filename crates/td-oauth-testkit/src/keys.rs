//! Key material: the algorithms Talkdesk hands out, key generation (P-256 and P-384 with rcgen on ring;
//! RSA and P-521, which ring cannot generate, with aws-lc-rs behind the `aws-lc-rs` feature), the encodings
//! clients receive, and randomness helpers.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::PublicKeyData as _;
use ring::rand::{SecureRandom as _, SystemRandom};

use crate::algorithm::Algorithm;
use crate::error::Error;

impl FromStr for Algorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| Error::UnknownAlgorithm(s.to_owned()))
    }
}

/// A freshly generated key pair in the encodings the server and its clients need.
pub(crate) struct GeneratedKey {
    /// PKCS#8 (v1) DER of the private key.
    pub(crate) pkcs8_der: Vec<u8>,
    /// X.509 SubjectPublicKeyInfo DER of the public key.
    pub(crate) spki_der: Vec<u8>,
}

/// Generates a key pair for `algorithm` (RSA keys are 2048 bits, as Talkdesk's are).
pub(crate) fn generate(algorithm: Algorithm) -> Result<GeneratedKey, Error> {
    let curve = match algorithm {
        Algorithm::Es256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Algorithm::Es384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        _ => return generate_with_aws_lc(algorithm),
    };
    let pair = rcgen::KeyPair::generate_for(curve).map_err(|_| Error::KeyGeneration(algorithm))?;
    Ok(GeneratedKey { pkcs8_der: pair.serialize_der(), spki_der: pair.subject_public_key_info() })
}

/// RSA and P-521 keys, which ring cannot generate.
fn generate_with_aws_lc(algorithm: Algorithm) -> Result<GeneratedKey, Error> {
    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
    use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    let failed = |_| Error::KeyGeneration(algorithm);
    if algorithm.is_rsa() {
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(failed)?;
        let pkcs8: Pkcs8V1Der<'_> = pair.as_der().map_err(failed)?;
        let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().map_err(failed)?;
        return Ok(GeneratedKey { pkcs8_der: pkcs8.as_ref().to_vec(), spki_der: spki.as_ref().to_vec() });
    }
    let pair = EcdsaKeyPair::generate(&ECDSA_P521_SHA512_FIXED_SIGNING).map_err(failed)?;
    let pkcs8 = pair.to_pkcs8v1().map_err(failed)?;
    let spki: PublicKeyX509Der<'_> = pair.public_key().as_der().map_err(failed)?;
    Ok(GeneratedKey { pkcs8_der: pkcs8.as_ref().to_vec(), spki_der: spki.as_ref().to_vec() })
}

/// Reads a caller-supplied public key: SPKI as PEM (`-----BEGIN PUBLIC KEY-----`) or DER, and
/// checks with aws-lc-rs that it is a valid key for `algorithm`. Returns the SPKI DER.
pub(crate) fn parse_public_key(algorithm: Algorithm, key: &[u8]) -> Result<Vec<u8>, Error> {
    let invalid = |reason: &str| Error::InvalidPublicKey { algorithm, reason: reason.to_owned() };
    let der = match std::str::from_utf8(key) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN") => {
            if !text.contains("-----BEGIN PUBLIC KEY-----") {
                return Err(invalid("expected an X.509 SubjectPublicKeyInfo PEM (-----BEGIN PUBLIC KEY-----)"));
            }
            let body: String = text
                .lines()
                .filter(|line| !line.starts_with("-----"))
                .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
                .collect();
            STANDARD.decode(body).map_err(|_| invalid("the PEM body is not valid Base64"))?
        }
        _ => key.to_vec(),
    };
    aws_lc_rs::signature::ParsedPublicKey::new(algorithm.verification(), &der)
        .map_err(|e| invalid(&format!("aws-lc-rs rejected it ({e})")))?;
    Ok(der)
}

/// Wraps DER in PEM armour with 64-column lines.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// One-line standard Base64 (the form Talkdesk hands private keys out in).
pub(crate) fn base64_line(der: &[u8]) -> String {
    STANDARD.encode(der)
}

/// Base64url without padding, as JWTs and PKCE use.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub(crate) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// `n_bytes` of system randomness as lowercase hex (so 16 bytes give Talkdesk's 32-character ids).
pub(crate) fn random_hex(n_bytes: usize) -> String {
    let mut buf = vec![0u8; n_bytes];
    // SystemRandom reads the OS source; if that fails the process has bigger problems than a
    // test id, so fall back to a clock-derived value rather than panicking.
    if SystemRandom::new().fill(&mut buf).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (nanos >> ((i % 16) * 8)) as u8 ^ (i as u8);
        }
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random UUID v4 string, for `jti` and session ids.
pub(crate) fn random_uuid() -> String {
    let h = random_hex(16);
    // Set the version (4) and variant (10xx) nibbles so it is a well-formed v4 UUID.
    let variant = match h.as_bytes().get(16) {
        Some(b'0'..=b'3') => '8',
        Some(b'4'..=b'7') => '9',
        Some(b'8'..=b'b') => 'a',
        _ => 'b',
    };
    format!("{}-{}-4{}-{}{}-{}", &h[0..8], &h[8..12], &h[13..16], variant, &h[17..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p256_pkcs8_has_talkdesk_prefix() {
        let key = generate(Algorithm::Es256).unwrap();
        assert!(base64_line(&key.pkcs8_der).starts_with("MIGHAgEAMBMGByqGSM49"));
    }

    #[test]
    fn p384_keys_come_from_ring() {
        let key = generate(Algorithm::Es384).unwrap();
        // PKCS#8 of a P-384 key: the secp384r1 OID (1.3.132.0.34) inside, the public point in the SPKI.
        assert!(key.pkcs8_der.windows(5).any(|w| w == [0x2b, 0x81, 0x04, 0x00, 0x22]));
        assert_eq!(key.spki_der.len(), 120);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
        }
        assert!("HS256".parse::<Algorithm>().is_err());
    }

    #[test]
    fn uuid_shape() {
        let id = random_uuid();
        assert_eq!(id.len(), 36);
        assert_eq!(id.as_bytes()[14], b'4');
    }
}
