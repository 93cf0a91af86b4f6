//! The ring backend: ES256, ES384, PS256/384/512, AES-256-GCM, SHA-256 and the system generator.

use std::sync::LazyLock;

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::digest::{self, SHA256};
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{self as sig, KeyPair as _};

use super::{AEAD_NONCE_LEN, copy_signature, rejected};
use crate::key_error::KeyError;
use crate::{Algorithm, Error};

/// The process's one ring generator: key parsing, signatures and [`fill_random`] all draw from it.
static SYSTEM_RANDOM: LazyLock<SystemRandom> = LazyLock::new(SystemRandom::new);

pub(super) enum KeyPair {
    Ecdsa(sig::EcdsaKeyPair),
    Rsa(sig::RsaKeyPair),
}

impl KeyPair {
    pub(super) fn ecdsa(algorithm: Algorithm, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let curve = match algorithm {
            Algorithm::Es256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::Es384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            _ => return Err(KeyError::Unsupported { reason: "ring signs ECDSA on P-256 and P-384 only".into() }),
        };
        sig::EcdsaKeyPair::from_pkcs8(curve, pkcs8, &*SYSTEM_RANDOM).map(KeyPair::Ecdsa).map_err(rejected)
    }

    pub(super) fn rsa_pkcs8(pkcs8: &[u8]) -> Result<Self, KeyError> {
        sig::RsaKeyPair::from_pkcs8(pkcs8).map(KeyPair::Rsa).map_err(rejected)
    }

    pub(super) fn rsa_pkcs1(der: &[u8]) -> Result<Self, KeyError> {
        sig::RsaKeyPair::from_der(der).map(KeyPair::Rsa).map_err(rejected)
    }

    /// Signs into `out`, returning the signature's length.
    pub(super) fn sign(&self, algorithm: Algorithm, message: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        match self {
            KeyPair::Ecdsa(pair) => {
                let signature =
                    pair.sign(&*SYSTEM_RANDOM, message).map_err(|_| Error::Crypto("ECDSA signing failed"))?;
                copy_signature(signature.as_ref(), out)
            }
            KeyPair::Rsa(pair) => {
                let padding: &'static dyn sig::RsaEncoding = match algorithm {
                    Algorithm::Ps384 => &sig::RSA_PSS_SHA384,
                    Algorithm::Ps512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PSS_SHA256,
                };
                let len = pair.public().modulus_len();
                let out = out.get_mut(..len).ok_or(Error::Crypto("RSA modulus larger than 4096 bits"))?;
                pair.sign(padding, &*SYSTEM_RANDOM, message, out)
                    .map_err(|_| Error::Crypto("RSA-PSS signing failed"))?;
                Ok(len)
            }
        }
    }

    pub(super) fn public_key(&self) -> &[u8] {
        match self {
            KeyPair::Ecdsa(pair) => pair.public_key().as_ref(),
            KeyPair::Rsa(pair) => pair.public_key().as_ref(),
        }
    }
}

/// Whether `signature` verifies under `public_key` for `algorithm` (ES256, ES384, PS256/384/512).
pub(super) fn verify(algorithm: Algorithm, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let params: &'static dyn sig::VerificationAlgorithm = match algorithm {
        Algorithm::Es256 => &sig::ECDSA_P256_SHA256_FIXED,
        Algorithm::Es384 => &sig::ECDSA_P384_SHA384_FIXED,
        Algorithm::Ps384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::Ps512 => &sig::RSA_PSS_2048_8192_SHA512,
        Algorithm::Ps256 => &sig::RSA_PSS_2048_8192_SHA256,
        _ => return false,
    };
    sig::UnparsedPublicKey::new(params, public_key).verify(message, signature).is_ok()
}

/// Fills `dest` from the system generator.
pub(crate) fn fill_random(dest: &mut [u8]) -> Result<(), Error> {
    SYSTEM_RANDOM.fill(dest).map_err(|_| Error::Crypto("the system random source failed"))
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(data);
    hasher.finish()
}

/// SHA-256 over data given in parts.
pub(crate) struct Sha256(digest::Context);

impl Sha256 {
    pub(crate) fn new() -> Self {
        Sha256(digest::Context::new(&SHA256))
    }

    pub(crate) fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SHA-256 output is 32 bytes; copy_from_slice cannot see another length.
        out.copy_from_slice(self.0.finish().as_ref());
        out
    }
}

/// ring's AES-256-GCM key, made per call so the expanded key schedule does not outlive it.
fn aead_key(key: &[u8; 32]) -> Result<LessSafeKey, Error> {
    UnboundKey::new(&AES_256_GCM, key).map(LessSafeKey::new).map_err(|_| Error::Crypto("AES-256-GCM refused the key"))
}

/// Encrypts `in_out` in place under `key` and `nonce`, authenticating `aad`, and appends the tag (the vector
/// grows only after encryption, so a reallocation leaves no plaintext behind).
pub(crate) fn seal_in_place(
    key: &[u8; 32],
    nonce: [u8; AEAD_NONCE_LEN],
    aad: &[u8],
    in_out: &mut Vec<u8>,
) -> Result<(), Error> {
    aead_key(key)?
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out)
        .map_err(|_| Error::Crypto("AES-256-GCM sealing failed"))
}

/// Authenticates and decrypts `in_out` (ciphertext then tag) in place; the plaintext, or `None` when it
/// does not authenticate under `key`, `nonce` and `aad`.
pub(crate) fn open_in_place<'a>(
    key: &[u8; 32],
    nonce: [u8; AEAD_NONCE_LEN],
    aad: &[u8],
    in_out: &'a mut [u8],
) -> Option<&'a [u8]> {
    let key = aead_key(key).ok()?;
    key.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(aad), in_out).ok().map(|plain| &*plain)
}
