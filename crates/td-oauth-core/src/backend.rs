//! The one seam between td-oauth-core and its crypto libraries: signing keys, AES-256-GCM, SHA-256 and the
//! operating system's random generator. No other file of the crate names a crypto library.
//!
//! ring (`backend/ring.rs`) is the backend for all of it. P-521 (ES512) is not in ring, so the optional
//! `aws-lc-rs` feature adds aws-lc-rs (`backend/aws_lc.rs`) for those keys only: with or without the
//! feature, every other key, every seal and every digest goes through ring, so the code the tests run with
//! all features is the code every user runs.
//!
//! Each backend holds one generator for the process. The signature's own randomness (ECDSA's per-signature
//! secret, the PSS salt) comes from it and not from a caller's `RandomSource`: ring signs with no generator
//! but its own (its `SecureRandom` trait is sealed), and aws-lc-rs uses AWS-LC's internal one whatever it is
//! handed. Every random value td-oauth itself writes (`jti`, `state`, `nonce`, PKCE verifiers, AES-GCM
//! nonces) comes from the caller's source.

#[cfg(feature = "aws-lc-rs")]
mod aws_lc;
mod ring;

use crate::key_error::KeyError;
use crate::{Algorithm, Error};

pub(crate) use self::ring::{Sha256, fill_random, open_in_place, seal_in_place, sha256};

/// The largest RSA modulus accepted, in bytes (4096 bits).
pub(crate) const MAX_RSA_BYTES: usize = 512;

/// The largest signature any key makes: an RSA-4096 signature (ECDSA P-521's fixed form is 132 bytes).
const MAX_SIGNATURE_LEN: usize = MAX_RSA_BYTES;

/// AES-256-GCM's nonce length.
pub(crate) const AEAD_NONCE_LEN: usize = 12;

/// AES-256-GCM's tag length.
pub(crate) const AEAD_TAG_LEN: usize = 16;

/// A parsed signing key, ready to sign many times.
pub(crate) struct KeyPair(Pair);

enum Pair {
    Ring(self::ring::KeyPair),
    #[cfg(feature = "aws-lc-rs")]
    AwsLc(aws_lc::KeyPair),
}

impl KeyPair {
    /// An ECDSA key from PKCS#8 DER whose curve has already been matched to `algorithm`.
    pub(crate) fn ecdsa(algorithm: Algorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        match algorithm {
            Algorithm::Es512 => Self::p521(pkcs8),
            _ => self::ring::KeyPair::ecdsa(algorithm, pkcs8).map(|pair| KeyPair(Pair::Ring(pair))),
        }
    }

    #[cfg(feature = "aws-lc-rs")]
    fn p521(pkcs8: &[u8]) -> Result<Self, KeyError> {
        aws_lc::KeyPair::p521(pkcs8).map(|pair| KeyPair(Pair::AwsLc(pair)))
    }

    #[cfg(not(feature = "aws-lc-rs"))]
    fn p521(_pkcs8: &[u8]) -> Result<Self, KeyError> {
        Err(KeyError::FeatureRequired { algorithm: Algorithm::Es512, feature: "aws-lc-rs" })
    }

    /// An RSA key from PKCS#8 DER.
    pub(crate) fn rsa_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        self::ring::KeyPair::rsa_pkcs8(pkcs8).map(|pair| KeyPair(Pair::Ring(pair)))
    }

    /// An RSA key from PKCS#1 `RSAPrivateKey` DER.
    pub(crate) fn rsa_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        self::ring::KeyPair::rsa_pkcs1(der).map(|pair| KeyPair(Pair::Ring(pair)))
    }

    /// Signs `message`; `algorithm` has been checked against the key at parse time. ECDSA signatures are
    /// JOSE's fixed `r‖s` form.
    pub(crate) fn sign(&self, algorithm: Algorithm, message: &[u8]) -> Result<Signature, Error> {
        let mut signature = Signature { bytes: [0; MAX_SIGNATURE_LEN], len: 0 };
        signature.len = match &self.0 {
            Pair::Ring(pair) => pair.sign(algorithm, message, &mut signature.bytes)?,
            #[cfg(feature = "aws-lc-rs")]
            Pair::AwsLc(pair) => pair.sign(message, &mut signature.bytes)?,
        };
        Ok(signature)
    }

    /// The public key as the backend exposes it: an uncompressed EC point, or an RSA `RSAPublicKey` in DER.
    pub(crate) fn public_key(&self) -> &[u8] {
        match &self.0 {
            Pair::Ring(pair) => pair.public_key(),
            #[cfg(feature = "aws-lc-rs")]
            Pair::AwsLc(pair) => pair.public_key(),
        }
    }
}

/// Whether `signature` is `algorithm`'s signature of `message` under `public_key` (an uncompressed EC point,
/// or an RSA `RSAPublicKey` in DER); `None` when no backend of this build verifies `algorithm` (ES512 without
/// the `aws-lc-rs` feature).
pub(crate) fn verify(algorithm: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> Option<bool> {
    match algorithm {
        Algorithm::Es512 => verify_p521(public_key, message, signature),
        _ => Some(self::ring::verify(algorithm, public_key, message, signature)),
    }
}

#[cfg(feature = "aws-lc-rs")]
fn verify_p521(public_key: &[u8], message: &[u8], signature: &[u8]) -> Option<bool> {
    Some(aws_lc::verify_p521(public_key, message, signature))
}

#[cfg(not(feature = "aws-lc-rs"))]
fn verify_p521(_public_key: &[u8], _message: &[u8], _signature: &[u8]) -> Option<bool> {
    None
}

/// A signature, held on the stack: one per assertion, no allocation.
pub(crate) struct Signature {
    bytes: [u8; MAX_SIGNATURE_LEN],
    len: usize,
}

impl AsRef<[u8]> for Signature {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The error for a key the backend refused after the structure checks passed.
fn rejected(err: impl std::fmt::Display) -> KeyError {
    KeyError::Malformed { reason: format!("the crypto backend rejected it ({err})") }
}

/// Copies a backend's signature into `out`, returning its length.
fn copy_signature(signature: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    out.get_mut(..signature.len())
        .ok_or(Error::Crypto("signature longer than the largest supported key's"))?
        .copy_from_slice(signature);
    Ok(signature.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_vector_whole_and_in_parts() {
        // FIPS 180-2, "abc".
        let expected = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let hex = |bytes: [u8; 32]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
        assert_eq!(hex(sha256(b"abc")), expected);
        let mut parts = Sha256::new();
        parts.update(b"a");
        parts.update(b"bc");
        assert_eq!(hex(parts.finish()), expected);
    }

    #[test]
    fn seal_then_open_round_trips_and_refuses_other_data() {
        let key = [3u8; 32];
        let nonce = [9u8; AEAD_NONCE_LEN];
        let mut buffer = b"plain".to_vec();
        seal_in_place(&key, nonce, b"aad", &mut buffer).unwrap();
        assert_eq!(buffer.len(), 5 + AEAD_TAG_LEN);
        assert_ne!(&buffer[..5], b"plain");
        let mut copy = buffer.clone();
        assert_eq!(open_in_place(&key, nonce, b"aad", &mut copy), Some(&b"plain"[..]));
        let mut copy = buffer.clone();
        assert_eq!(open_in_place(&key, nonce, b"other", &mut copy), None);
        let mut copy = buffer.clone();
        assert_eq!(open_in_place(&[4u8; 32], nonce, b"aad", &mut copy), None);
    }

    #[test]
    fn the_system_generator_fills() {
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        fill_random(&mut a).unwrap();
        fill_random(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
