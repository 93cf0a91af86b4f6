//! The one seam between td-oauth and its crypto libraries.
//!
//! ring signs ES256, ES384 and PS256/384/512 and is always present. P-521 (ES512) is not in ring, so the
//! optional `aws-lc-rs` feature adds aws-lc-rs for those keys; the rest of the crate never names either library.

use ring::rand::SystemRandom;
use ring::signature::{self as ring_sig, KeyPair as _};

use crate::{Algorithm, Error};

/// The largest RSA modulus ring signs with, in bytes (4096 bits).
pub(crate) const MAX_RSA_BYTES: usize = 512;

/// A parsed signing key, ready to sign many times.
pub(crate) enum KeyPair {
    RingEcdsa(ring_sig::EcdsaKeyPair),
    RingRsa(ring_sig::RsaKeyPair),
    #[cfg(feature = "aws-lc-rs")]
    AwsLcEcdsa(aws_lc_rs::signature::EcdsaKeyPair),
}

/// A signature, held without a heap allocation.
#[allow(clippy::large_enum_variant, reason = "lives on the stack for one call; avoids an allocation per signature")]
pub(crate) enum Signature {
    Ring(ring_sig::Signature),
    Rsa {
        bytes: [u8; MAX_RSA_BYTES],
        len: usize,
    },
    #[cfg(feature = "aws-lc-rs")]
    AwsLc(aws_lc_rs::signature::Signature),
}

impl AsRef<[u8]> for Signature {
    fn as_ref(&self) -> &[u8] {
        match self {
            Signature::Ring(sig) => sig.as_ref(),
            Signature::Rsa { bytes, len } => &bytes[..*len],
            #[cfg(feature = "aws-lc-rs")]
            Signature::AwsLc(sig) => sig.as_ref(),
        }
    }
}

fn rejected(err: impl std::fmt::Display) -> Error {
    Error::MalformedKey { reason: format!("the crypto backend rejected it ({err})") }
}

impl KeyPair {
    /// An ECDSA key from PKCS#8 DER whose curve has already been matched to `algorithm`.
    pub(crate) fn ecdsa(algorithm: Algorithm, pkcs8: &[u8], rng: &SystemRandom) -> Result<Self, Error> {
        let ring_alg = match algorithm {
            Algorithm::Es256 => &ring_sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::Es384 => &ring_sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::Es512 => return Self::p521(pkcs8),
            _ => return Err(Error::Crypto("not an ECDSA algorithm")),
        };
        ring_sig::EcdsaKeyPair::from_pkcs8(ring_alg, pkcs8, rng).map(KeyPair::RingEcdsa).map_err(rejected)
    }

    #[cfg(feature = "aws-lc-rs")]
    fn p521(pkcs8: &[u8]) -> Result<Self, Error> {
        use aws_lc_rs::signature as aws_sig;
        aws_sig::EcdsaKeyPair::from_pkcs8(&aws_sig::ECDSA_P521_SHA512_FIXED_SIGNING, pkcs8)
            .map(KeyPair::AwsLcEcdsa)
            .map_err(rejected)
    }

    #[cfg(not(feature = "aws-lc-rs"))]
    fn p521(_pkcs8: &[u8]) -> Result<Self, Error> {
        Err(Error::FeatureRequired { algorithm: Algorithm::Es512, feature: "aws-lc-rs" })
    }

    /// An RSA key from PKCS#8 DER.
    pub(crate) fn rsa_pkcs8(pkcs8: &[u8]) -> Result<Self, Error> {
        ring_sig::RsaKeyPair::from_pkcs8(pkcs8).map(KeyPair::RingRsa).map_err(rejected)
    }

    /// An RSA key from PKCS#1 `RSAPrivateKey` DER.
    pub(crate) fn rsa_pkcs1(der: &[u8]) -> Result<Self, Error> {
        ring_sig::RsaKeyPair::from_der(der).map(KeyPair::RingRsa).map_err(rejected)
    }

    /// Signs `message`; `algorithm` has been checked against the key at parse time.
    pub(crate) fn sign(&self, algorithm: Algorithm, rng: &SystemRandom, message: &[u8]) -> Result<Signature, Error> {
        match self {
            KeyPair::RingEcdsa(pair) => {
                pair.sign(rng, message).map(Signature::Ring).map_err(|_| Error::Crypto("ECDSA signing failed"))
            }
            KeyPair::RingRsa(pair) => {
                let padding: &'static dyn ring_sig::RsaEncoding = match algorithm {
                    Algorithm::Ps384 => &ring_sig::RSA_PSS_SHA384,
                    Algorithm::Ps512 => &ring_sig::RSA_PSS_SHA512,
                    _ => &ring_sig::RSA_PSS_SHA256,
                };
                let len = pair.public().modulus_len();
                let mut bytes = [0u8; MAX_RSA_BYTES];
                let out = bytes.get_mut(..len).ok_or(Error::Crypto("RSA modulus larger than 4096 bits"))?;
                pair.sign(padding, rng, message, out).map_err(|_| Error::Crypto("RSA-PSS signing failed"))?;
                Ok(Signature::Rsa { bytes, len })
            }
            #[cfg(feature = "aws-lc-rs")]
            KeyPair::AwsLcEcdsa(pair) => pair
                .sign(&aws_lc_rs::rand::SystemRandom::new(), message)
                .map(Signature::AwsLc)
                .map_err(|_| Error::Crypto("ECDSA P-521 signing failed")),
        }
    }

    /// The public key as the backend exposes it: an uncompressed EC point, or an RSA `RSAPublicKey` in DER.
    pub(crate) fn public_key(&self) -> &[u8] {
        match self {
            KeyPair::RingEcdsa(pair) => pair.public_key().as_ref(),
            KeyPair::RingRsa(pair) => pair.public_key().as_ref(),
            #[cfg(feature = "aws-lc-rs")]
            KeyPair::AwsLcEcdsa(pair) => {
                use aws_lc_rs::signature::KeyPair as _;
                pair.public_key().as_ref()
            }
        }
    }
}

/// SHA-256, for PKCE code challenges.
pub(crate) fn sha256(data: &[u8]) -> impl AsRef<[u8]> {
    ring::digest::digest(&ring::digest::SHA256, data)
}
