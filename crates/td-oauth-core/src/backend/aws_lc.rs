//! The aws-lc-rs backend (feature `aws-lc-rs`): ECDSA on P-521 (ES512), which ring lacks.

use std::sync::LazyLock;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, KeyPair as _};

use super::{copy_signature, rejected};
use crate::Error;
use crate::key_error::KeyError;

/// The one aws-lc-rs generator handle, made once rather than per signature. (aws-lc-rs signs with AWS-LC's
/// own generator whatever it is handed; its API still asks for one.)
static SYSTEM_RANDOM: LazyLock<SystemRandom> = LazyLock::new(SystemRandom::new);

pub(super) struct KeyPair(sig::EcdsaKeyPair);

impl KeyPair {
    pub(super) fn p521(pkcs8: &[u8]) -> Result<Self, KeyError> {
        sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P521_SHA512_FIXED_SIGNING, pkcs8).map(KeyPair).map_err(rejected)
    }

    /// Signs into `out`, returning the signature's length.
    pub(super) fn sign(&self, message: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        let signature =
            self.0.sign(&*SYSTEM_RANDOM, message).map_err(|_| Error::Crypto("ECDSA P-521 signing failed"))?;
        copy_signature(signature.as_ref(), out)
    }

    pub(super) fn public_key(&self) -> &[u8] {
        self.0.public_key().as_ref()
    }
}

/// Whether `signature` is an ES512 signature of `message` under the P-521 point `public_key`.
pub(super) fn verify_p521(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    sig::UnparsedPublicKey::new(&sig::ECDSA_P521_SHA512_FIXED, public_key).verify(message, signature).is_ok()
}
