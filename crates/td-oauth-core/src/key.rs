//! Client private keys in every form users paste, parsed once and signed with many times.
//!
//! The text front end (PEM blocks, Base64, quotes, escaped newlines; `key/text.rs`) is lenient on purpose.
//! The DER structure behind it is read with RustCrypto's `der`, `pkcs8`, `sec1`, `pkcs1` and `spki` before
//! the crypto backend sees the key, so that a public key, an encrypted key, a certificate or a truncated file
//! gets an error that names the problem instead of the backend's generic "invalid encoding".

mod public;
mod text;

use std::fmt;
use std::sync::{Arc, OnceLock};

use base64::Engine as _;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef};
use der::{Decode as _, Encode as _, Reader as _, SecretDocument, SliceReader, Tag, Tagged as _};
use pkcs1::RsaPrivateKeyRef;
use pkcs8::PrivateKeyInfoRef;
use sec1::EcPrivateKey;
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};

pub use self::public::PublicKey;
use self::text::PemLabel;
use crate::backend::{self, KeyPair};
pub use crate::key_error::KeyError;
use crate::{Algorithm, Error};

mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub(super) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub(super) const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub(super) const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub(super) const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    pub(super) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
    pub(super) const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
    pub(super) const ED25519: Oid = Oid::new_unwrap("1.3.101.112");
    pub(super) const ED448: Oid = Oid::new_unwrap("1.3.101.113");
}

/// The kind of key found, which decides the algorithms it can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Ec(Algorithm),
    Rsa,
}

impl KeyKind {
    fn describe(self) -> &'static str {
        match self {
            KeyKind::Ec(Algorithm::Es256) => "P-256 EC",
            KeyKind::Ec(Algorithm::Es384) => "P-384 EC",
            KeyKind::Ec(_) => "P-521 EC",
            KeyKind::Rsa => "RSA",
        }
    }

    fn default_algorithm(self) -> Algorithm {
        match self {
            KeyKind::Ec(alg) => alg,
            // Talkdesk states the algorithm next to RSA keys; PS256 is the usual default elsewhere.
            KeyKind::Rsa => Algorithm::Ps256,
        }
    }

    fn fits(self, algorithm: Algorithm) -> bool {
        match self {
            KeyKind::Ec(alg) => alg == algorithm,
            KeyKind::Rsa => !algorithm.is_ecdsa(),
        }
    }
}

/// The container the DER bytes are in, which decides how the backend is handed the key.
enum Container {
    Pkcs8,
    /// SEC1 `ECPrivateKey`, re-wrapped as PKCS#8 for the backends.
    Sec1 {
        curve: ObjectIdentifier,
    },
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
}

/// A client's private key, parsed and ready to sign assertions.
///
/// Accepts Talkdesk's one-line Base64 PKCS#8 DER, the same wrapped at any width, with stray whitespace or in
/// quotes, PKCS#8 PEM (`BEGIN PRIVATE KEY`), SEC1 PEM (`BEGIN EC PRIVATE KEY`), RSA PKCS#1 PEM
/// (`BEGIN RSA PRIVATE KEY`), a PEM file that also holds certificates, and binary DER
/// ([`PrivateKey::from_der`]). `Debug` shows the algorithm only; the decoded key bytes are wiped after parsing.
///
/// ```
/// use td_oauth_core::{Algorithm, PrivateKey};
///
/// // A P-256 key as Talkdesk hands it out (test key, never used anywhere real).
/// let key = PrivateKey::parse(
///     "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguP8KEeq/YKLNfrDUyWBxTGyR4qzPBnE4yJjZmNm77EWh\
///      RANCAARzGKI064Mfeuxtw7nSKquamH9g52ich42C91ye4++jg66T2uFsASlg1ZUSqJ0QdiZi737m083RqsWyZ/bEpj/C",
/// )?;
/// assert_eq!(key.algorithm(), Algorithm::Es256);
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct PrivateKey {
    algorithm: Algorithm,
    kind: KeyKind,
    /// Shared: key pairs are hundreds of bytes and cannot be copied; clones of a key share one.
    parsed: Arc<Parsed>,
}

struct Parsed {
    pair: KeyPair,
    /// The public key as SubjectPublicKeyInfo DER, encoded the first time it is asked for.
    spki: OnceLock<Vec<u8>>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("key", &self.kind.describe())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Parses a key and infers its algorithm: ES256/ES384/ES512 from the curve, PS256 for RSA.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        Self::parse_inner(text, None)
    }

    /// Parses a key for a given algorithm (Talkdesk's `key_algorithm`), checking that it fits the key.
    pub fn parse_with_algorithm(text: &str, algorithm: Algorithm) -> Result<Self, KeyError> {
        Self::parse_inner(text, Some(algorithm))
    }

    /// Reads a key from binary DER (PKCS#8, SEC1 or PKCS#1), such as a `key.der` file's bytes, and infers
    /// its algorithm. PEM or Base64 text is refused with a pointer to [`PrivateKey::parse`].
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::from_binary(der, None)
    }

    /// Reads a key from binary DER for a given algorithm, checking that it fits the key.
    pub fn from_der_with_algorithm(der: &[u8], algorithm: Algorithm) -> Result<Self, KeyError> {
        Self::from_binary(der, Some(algorithm))
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as PEM (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo), e.g. to register it with a server.
    pub fn public_key_pem(&self) -> String {
        spki_pem(self.parsed.spki.get_or_init(|| subject_public_key_info(self.kind, self.parsed.pair.public_key())))
    }

    /// Signs `message` with the key's algorithm; ECDSA signatures come in JOSE's raw `r‖s` form.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<backend::Signature, Error> {
        self.parsed.pair.sign(self.algorithm, message)
    }

    fn parse_inner(text: &str, algorithm: Option<Algorithm>) -> Result<Self, KeyError> {
        let decoded = text::decode(text)?;
        Self::from_decoded(&decoded.der, decoded.label, algorithm)
    }

    fn from_binary(der: &[u8], algorithm: Option<Algorithm>) -> Result<Self, KeyError> {
        if text::looks_like_text(der) {
            return Err(malformed(
                "these bytes are PEM or Base64 text, not binary DER; pass the text to `PrivateKey::parse`",
            ));
        }
        Self::from_decoded(der, None, algorithm)
    }

    fn from_decoded(der: &[u8], label: Option<PemLabel>, algorithm: Option<Algorithm>) -> Result<Self, KeyError> {
        let (container, kind) = classify(der, label)?;
        let algorithm = match algorithm {
            None => kind.default_algorithm(),
            Some(requested) if kind.fits(requested) => requested,
            Some(requested) => {
                return Err(KeyError::AlgorithmMismatch {
                    requested,
                    key_kind: kind.describe(),
                    suggested: kind.default_algorithm(),
                });
            }
        };
        let pair = match (container, kind) {
            // Whether the EC key carries its public key is asked only when the backend refuses it: the
            // check costs a tenth of a parse, and a key that parses has one.
            (Container::Pkcs8, KeyKind::Ec(_)) => KeyPair::ecdsa(algorithm, der).map_err(|err| {
                match PrivateKeyInfoRef::from_der(der)
                    .and_then(|info| EcPrivateKey::from_der(info.private_key.as_bytes()))
                {
                    Ok(ec) if ec.public_key.is_none() => missing_public_key(),
                    _ => err,
                }
            })?,
            (Container::Sec1 { curve }, KeyKind::Ec(_)) => {
                KeyPair::ecdsa(algorithm, sec1_to_pkcs8(der, &curve)?.as_bytes())?
            }
            (Container::Pkcs8, KeyKind::Rsa) => KeyPair::rsa_pkcs8(der)?,
            (Container::Pkcs1, KeyKind::Rsa) => KeyPair::rsa_pkcs1(der)?,
            _ => return Err(malformed("the key's structure does not match its type")),
        };
        Ok(PrivateKey { algorithm, kind, parsed: Arc::new(Parsed { pair, spki: OnceLock::new() }) })
    }
}

fn malformed(reason: impl Into<String>) -> KeyError {
    KeyError::Malformed { reason: reason.into() }
}

fn missing_public_key() -> KeyError {
    malformed(
        "this EC key omits its public key, which the signer needs; re-export it with \
         `openssl pkcs8 -topk8 -nocrypt -in KEYFILE` (Talkdesk's keys include it)",
    )
}

/// A DER error, said as what it means for a key; the bytes themselves are never shown.
fn der_error(err: der::Error) -> KeyError {
    match err.kind() {
        der::ErrorKind::Incomplete { .. } => {
            malformed("the key is truncated (its DER structure ends early); copy the whole key")
        }
        _ => malformed("the decoded bytes are not a DER private key (corrupt, or not a key)"),
    }
}

/// What the outer DER structure is, told by its first two fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// `INTEGER version, SEQUENCE algorithm, OCTET STRING key`.
    Pkcs8,
    /// `INTEGER 1, OCTET STRING key, …`.
    Sec1,
    /// `INTEGER 0, INTEGER modulus, …` (nine fields).
    Pkcs1,
    /// `SEQUENCE algorithm, BIT STRING key`, or PKCS#1's `INTEGER modulus, INTEGER exponent`.
    PublicKey,
    /// `SEQUENCE algorithm, OCTET STRING ciphertext`: PKCS#8 `EncryptedPrivateKeyInfo`.
    Encrypted,
    /// `SEQUENCE tbsCertificate, SEQUENCE signatureAlgorithm, …`.
    Certificate,
    Unknown,
}

impl Shape {
    fn describe(self) -> &'static str {
        match self {
            Shape::Pkcs8 => "PKCS#8",
            Shape::Sec1 => "SEC1 EC",
            Shape::Pkcs1 => "PKCS#1 RSA",
            _ => "non-key",
        }
    }
}

fn shape(der: &[u8]) -> Result<Shape, KeyError> {
    let outer = AnyRef::from_der(der).map_err(der_error)?;
    if outer.tag() != Tag::Sequence {
        return Ok(Shape::Unknown);
    }
    let mut fields = SliceReader::new(outer.value()).map_err(der_error)?;
    let (Ok(first), Ok(second)) = (fields.decode::<AnyRef<'_>>(), fields.decode::<AnyRef<'_>>()) else {
        return Ok(Shape::Unknown);
    };
    Ok(match (first.tag(), second.tag()) {
        (Tag::Integer, Tag::Sequence) => Shape::Pkcs8,
        (Tag::Integer, Tag::OctetString) => Shape::Sec1,
        (Tag::Integer, Tag::Integer) if fields.is_finished() => Shape::PublicKey,
        (Tag::Integer, Tag::Integer) => Shape::Pkcs1,
        (Tag::Sequence, Tag::BitString) => Shape::PublicKey,
        (Tag::Sequence, Tag::OctetString) => Shape::Encrypted,
        (Tag::Sequence, Tag::Sequence) => Shape::Certificate,
        _ => Shape::Unknown,
    })
}

/// Works out which container and key type `der` holds, refusing public and encrypted keys and certificates
/// by name.
fn classify(der: &[u8], label: Option<PemLabel>) -> Result<(Container, KeyKind), KeyError> {
    match (shape(der)?, label) {
        (Shape::Pkcs8, None | Some(PemLabel::Pkcs8)) => classify_pkcs8(der),
        (Shape::Sec1, None | Some(PemLabel::Sec1)) => classify_sec1(der),
        (Shape::Pkcs1, None | Some(PemLabel::Pkcs1)) => {
            check_rsa(der)?;
            Ok((Container::Pkcs1, KeyKind::Rsa))
        }
        (Shape::PublicKey, _) => Err(KeyError::NotAPrivateKey { found: "public key" }),
        (Shape::Encrypted, _) => Err(KeyError::Encrypted),
        (Shape::Certificate, _) => Err(KeyError::NotAPrivateKey { found: "certificate" }),
        (shape @ (Shape::Pkcs8 | Shape::Sec1 | Shape::Pkcs1), Some(label)) => Err(malformed(format!(
            "the PEM block is labelled `{}` but holds a {} key; fix the label or export the key again",
            label.as_str(),
            shape.describe()
        ))),
        (Shape::Unknown, _) => Err(malformed("the decoded bytes are not a DER private key (corrupt, or not a key)")),
    }
}

/// PKCS#8 `PrivateKeyInfo`: the algorithm decides what the inner key must be.
fn classify_pkcs8(der: &[u8]) -> Result<(Container, KeyKind), KeyError> {
    let info = PrivateKeyInfoRef::from_der(der).map_err(der_error)?;
    let algorithm = info.algorithm.oid;
    if algorithm == oid::EC_PUBLIC_KEY {
        let curve =
            info.algorithm.parameters.and_then(|params| params.decode_as::<ObjectIdentifier>().ok()).ok_or_else(
                || {
                    malformed(
                        "the EC key uses explicit curve parameters; export it with a named curve (P-256, P-384, P-521)",
                    )
                },
            )?;
        Ok((Container::Pkcs8, KeyKind::Ec(curve_algorithm(&curve)?)))
    } else if algorithm == oid::RSA_ENCRYPTION {
        check_rsa(info.private_key.as_bytes())?;
        Ok((Container::Pkcs8, KeyKind::Rsa))
    } else if algorithm == oid::RSASSA_PSS {
        Err(KeyError::Unsupported {
            reason: "RSASSA-PSS-restricted RSA key; export it as a plain RSA key (`openssl rsa -in KEYFILE`)".into(),
        })
    } else if algorithm == oid::ED25519 || algorithm == oid::ED448 {
        Err(KeyError::Unsupported { reason: "EdDSA key; Talkdesk uses ES256/384/512 and PS256/384/512".into() })
    } else {
        Err(KeyError::Unsupported { reason: "unknown key type; Talkdesk uses EC (ES*) and RSA (PS*) keys".into() })
    }
}

/// SEC1 `ECPrivateKey`: it must name its curve and carry its public key.
fn classify_sec1(der: &[u8]) -> Result<(Container, KeyKind), KeyError> {
    let ec = EcPrivateKey::from_der(der).map_err(der_error)?;
    let curve = ec.parameters.and_then(|params| params.named_curve()).ok_or_else(|| {
        malformed("this SEC1 EC key does not name its curve; export it as PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`)")
    })?;
    let alg = curve_algorithm(&curve)?;
    if ec.public_key.is_none() {
        return Err(missing_public_key());
    }
    Ok((Container::Sec1 { curve }, KeyKind::Ec(alg)))
}

fn curve_algorithm(curve: &ObjectIdentifier) -> Result<Algorithm, KeyError> {
    if *curve == oid::P256 {
        Ok(Algorithm::Es256)
    } else if *curve == oid::P384 {
        Ok(Algorithm::Es384)
    } else if *curve == oid::P521 {
        Ok(Algorithm::Es512)
    } else {
        Err(KeyError::Unsupported { reason: "EC key on a curve other than P-256, P-384 or P-521".into() })
    }
}

fn curve_oid(algorithm: Algorithm) -> &'static ObjectIdentifier {
    match algorithm {
        Algorithm::Es256 => &oid::P256,
        Algorithm::Es384 => &oid::P384,
        _ => &oid::P521,
    }
}

/// Reads a PKCS#1 `RSAPrivateKey`: two primes, and a modulus of 2048..=4096 bits.
fn check_rsa(der: &[u8]) -> Result<(), KeyError> {
    let rsa = RsaPrivateKeyRef::from_der(der).map_err(der_error)?;
    if rsa.version().is_multi() {
        return Err(KeyError::Unsupported { reason: "multi-prime RSA keys are not supported".into() });
    }
    rsa_modulus_len(rsa.modulus.as_bytes()).map(drop)
}

/// The length in bytes of an RSA modulus Talkdesk accepts (2048 to 4096 bits), or why it is refused.
/// `modulus` is the magnitude without leading zero bytes, as `UintRef` holds it.
pub(crate) fn rsa_modulus_len(modulus: &[u8]) -> Result<usize, KeyError> {
    let bits = modulus.first().map_or(0, |top| modulus.len() * 8 - top.leading_zeros() as usize);
    if bits < 2048 {
        return Err(KeyError::RsaTooSmall { bits });
    }
    if bits > backend::MAX_RSA_BYTES * 8 {
        return Err(KeyError::Unsupported { reason: format!("RSA key of {bits} bits; at most 4096 are supported") });
    }
    Ok(bits.div_ceil(8))
}

/// Wraps a SEC1 `ECPrivateKey` in a PKCS#8 `PrivateKeyInfo`, the only EC form the backends read. The
/// result is wiped on drop.
fn sec1_to_pkcs8(sec1: &[u8], curve: &ObjectIdentifier) -> Result<SecretDocument, KeyError> {
    let algorithm = AlgorithmIdentifierRef { oid: oid::EC_PUBLIC_KEY, parameters: Some(AnyRef::from(curve)) };
    let info = PrivateKeyInfoRef::new(algorithm, OctetStringRef::new(sec1).map_err(der_error)?);
    SecretDocument::encode_msg(&info).map_err(der_error)
}

/// A SubjectPublicKeyInfo (DER) as PEM (`BEGIN PUBLIC KEY`, 64 characters a line): the form a public key is
/// registered in, whatever holds its private half.
pub fn spki_pem(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::with_capacity(body.len() + body.len() / 64 + 60);
    pem.push_str("-----BEGIN PUBLIC KEY-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str("-----END PUBLIC KEY-----\n");
    pem
}

/// The SubjectPublicKeyInfo DER of a key's public half, as the backend gives it.
fn subject_public_key_info(kind: KeyKind, public_key: &[u8]) -> Vec<u8> {
    let algorithm = match kind {
        KeyKind::Ec(alg) => {
            AlgorithmIdentifierRef { oid: oid::EC_PUBLIC_KEY, parameters: Some(AnyRef::from(curve_oid(alg))) }
        }
        KeyKind::Rsa => AlgorithmIdentifierRef { oid: oid::RSA_ENCRYPTION, parameters: Some(AnyRef::NULL) },
    };
    // Encoding fails only past DER's length limits (256 MiB); a public key is at most 550 bytes.
    BitStringRef::from_bytes(public_key)
        .and_then(|subject_public_key| SubjectPublicKeyInfoRef { algorithm, subject_public_key }.to_der())
        .unwrap_or_default()
}
