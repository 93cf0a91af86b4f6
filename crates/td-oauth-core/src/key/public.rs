//! [`PublicKey`]: the public half of a client key, which an outside signer may give so that its first
//! signature is verified before any assertion carries it.

use std::fmt;

use base64::Engine as _;
use der::Decode as _;
use der::asn1::ObjectIdentifier;
use spki::SubjectPublicKeyInfoRef;

use super::{KeyKind, curve_algorithm, malformed, oid};
use crate::backend;
use crate::key_error::KeyError;
use crate::{Algorithm, PrivateKey};

/// A P-256, P-384, P-521 or RSA public key, read from SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kind: KeyKind,
    /// What the backends verify with: the uncompressed EC point, or the PKCS#1 `RSAPublicKey` DER.
    raw: Vec<u8>,
    /// The RSA modulus length in bytes (the length of every signature it verifies); 0 for EC keys.
    modulus_len: usize,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey").field("key", &self.kind.describe()).finish_non_exhaustive()
    }
}

impl PublicKey {
    /// Reads SubjectPublicKeyInfo DER (what `openssl pkey -pubout -outform DER` writes, or a KMS's
    /// `GetPublicKey` returns).
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let info = SubjectPublicKeyInfoRef::from_der(der)
            .map_err(|_| malformed("the public key is not SubjectPublicKeyInfo DER (`BEGIN PUBLIC KEY`)"))?;
        let raw = info
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| malformed("the public key's bit string is not whole bytes"))?
            .to_vec();
        let oid = info.algorithm.oid;
        if oid == oid::EC_PUBLIC_KEY {
            let curve = info
                .algorithm
                .parameters
                .and_then(|params| params.decode_as::<ObjectIdentifier>().ok())
                .ok_or_else(|| malformed("the EC public key does not name its curve"))?;
            let alg = curve_algorithm(&curve)?;
            if raw.len() != 1 + 2 * alg.component_len() || raw.first() != Some(&4) {
                return Err(malformed("the EC public key is not an uncompressed point on its curve"));
            }
            Ok(PublicKey { kind: KeyKind::Ec(alg), raw, modulus_len: 0 })
        } else if oid == oid::RSA_ENCRYPTION {
            PublicKey::rsa(raw)
        } else {
            Err(KeyError::Unsupported { reason: "public key of a type Talkdesk does not use (EC or RSA)".into() })
        }
    }

    /// An RSA public key from its PKCS#1 `RSAPublicKey` DER, with the modulus checks a private key gets.
    fn rsa(raw: Vec<u8>) -> Result<Self, KeyError> {
        let rsa = pkcs1::RsaPublicKeyRef::from_der(&raw)
            .map_err(|_| malformed("the RSA public key is not PKCS#1 `RSAPublicKey` DER"))?;
        let modulus_len = super::rsa_modulus_len(rsa.modulus.as_bytes())?;
        Ok(PublicKey { kind: KeyKind::Rsa, raw, modulus_len })
    }

    /// Reads a `-----BEGIN PUBLIC KEY-----` PEM block, or the same Base64 without its armour.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let body: String = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.starts_with("-----"))
            .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
            .collect();
        if text.contains("-----BEGIN") && !text.contains("-----BEGIN PUBLIC KEY-----") {
            return Err(malformed("expected a `BEGIN PUBLIC KEY` (SubjectPublicKeyInfo) block"));
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| malformed("the public key's PEM body is not Base64"))?;
        Self::from_der(&der)
    }

    /// Whether signatures made for `algorithm` can come from this key.
    pub fn fits(&self, algorithm: Algorithm) -> bool {
        self.kind.fits(algorithm)
    }

    /// What the key is, e.g. `P-256 EC`.
    pub fn describe(&self) -> &'static str {
        self.kind.describe()
    }

    /// The length in bytes of every signature this key makes with `algorithm`: the JOSE `r‖s` form for
    /// ECDSA, the modulus length for RSA-PSS.
    pub fn signature_len(&self, algorithm: Algorithm) -> usize {
        match self.kind {
            KeyKind::Ec(_) => 2 * algorithm.component_len(),
            KeyKind::Rsa => self.modulus_len,
        }
    }

    /// Whether `signature` is `algorithm`'s signature of `message` under this key; `None` when this build
    /// cannot verify it (ES512 without the `aws-lc-rs` feature).
    pub(crate) fn verify(&self, algorithm: Algorithm, message: &[u8], signature: &[u8]) -> Option<bool> {
        backend::verify(algorithm, &self.raw, message, signature)
    }
}

impl PrivateKey {
    /// The key's public half.
    pub fn public_key(&self) -> PublicKey {
        let raw = self.parsed.pair.public_key().to_vec();
        match self.kind {
            KeyKind::Ec(_) => PublicKey { kind: self.kind, raw, modulus_len: 0 },
            // The private key's modulus passed the same checks when it was parsed.
            KeyKind::Rsa => PublicKey::rsa(raw.clone()).unwrap_or(PublicKey { kind: self.kind, raw, modulus_len: 0 }),
        }
    }
}
