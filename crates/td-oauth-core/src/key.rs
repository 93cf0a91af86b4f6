//! Client private keys in every form users paste, parsed once and signed with many times.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::rand::SystemRandom;
use zeroize::Zeroizing;

use crate::backend::{self, KeyPair};
use crate::der::{self, DerError, Reader, tag};
use crate::{Algorithm, Error};

mod oid {
    pub(super) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub(super) const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub(super) const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub(super) const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    pub(super) const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub(super) const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a];
    pub(super) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    pub(super) const ED448: &[u8] = &[0x2b, 0x65, 0x71];
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
        curve_oid: &'static [u8],
    },
    /// PKCS#1 `RSAPrivateKey`.
    Pkcs1,
}

/// A client's private key, parsed and ready to sign assertions.
///
/// Accepts Talkdesk's one-line Base64 PKCS#8 DER, the same wrapped at any width or with stray whitespace,
/// PKCS#8 PEM (`BEGIN PRIVATE KEY`), SEC1 PEM (`BEGIN EC PRIVATE KEY`) and RSA PKCS#1 PEM
/// (`BEGIN RSA PRIVATE KEY`). `Debug` shows the algorithm only; the decoded key bytes are wiped after parsing.
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
    pair: Arc<KeyPair>,
    rng: SystemRandom,
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
    pub fn parse(text: &str) -> Result<Self, Error> {
        Self::parse_inner(text, None)
    }

    /// Parses a key for a given algorithm (Talkdesk's `key_algorithm`), checking that it fits the key.
    pub fn parse_with_algorithm(text: &str, algorithm: Algorithm) -> Result<Self, Error> {
        Self::parse_inner(text, Some(algorithm))
    }

    /// Parses a key from DER bytes (PKCS#8, SEC1 or PKCS#1).
    pub fn from_der(der: &[u8], algorithm: Option<Algorithm>) -> Result<Self, Error> {
        Self::from_decoded(der, None, algorithm)
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The public key as PEM (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo), e.g. to register it with a server.
    pub fn public_key_pem(&self) -> String {
        let mut algorithm_id = Vec::new();
        match self.kind {
            KeyKind::Ec(alg) => {
                der::write(&mut algorithm_id, tag::OID, oid::EC_PUBLIC_KEY);
                let curve = match alg {
                    Algorithm::Es256 => oid::P256,
                    Algorithm::Es384 => oid::P384,
                    _ => oid::P521,
                };
                der::write(&mut algorithm_id, tag::OID, curve);
            }
            KeyKind::Rsa => {
                der::write(&mut algorithm_id, tag::OID, oid::RSA_ENCRYPTION);
                der::write(&mut algorithm_id, tag::NULL, &[]);
            }
        }
        let mut bits = vec![0u8];
        bits.extend_from_slice(self.pair.public_key());
        let mut spki_content = Vec::new();
        der::write(&mut spki_content, tag::SEQUENCE, &algorithm_id);
        der::write(&mut spki_content, tag::BIT_STRING, &bits);
        let mut spki = Vec::new();
        der::write(&mut spki, tag::SEQUENCE, &spki_content);
        let body = base64::engine::general_purpose::STANDARD.encode(spki);
        let mut pem = String::from("-----BEGIN PUBLIC KEY-----\n");
        for line in body.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str("-----END PUBLIC KEY-----\n");
        pem
    }

    /// Signs `message` with the key's algorithm; ECDSA signatures come in JOSE's raw `r‖s` form.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<backend::Signature, Error> {
        self.pair.sign(self.algorithm, &self.rng, message)
    }

    fn parse_inner(text: &str, algorithm: Option<Algorithm>) -> Result<Self, Error> {
        let text = text.trim_start_matches('\u{feff}').trim();
        if text.is_empty() {
            return Err(malformed("the key is empty"));
        }
        if text.contains("-----BEGIN") {
            let (label, der) = decode_pem(text)?;
            Self::from_decoded(&der, Some(label), algorithm)
        } else {
            let der = decode_base64(text)?;
            Self::from_decoded(&der, None, algorithm)
        }
    }

    fn from_decoded(der: &[u8], label: Option<PemLabel>, algorithm: Option<Algorithm>) -> Result<Self, Error> {
        let (container, kind) = classify(der, label)?;
        let algorithm = match algorithm {
            None => kind.default_algorithm(),
            Some(requested) if kind.fits(requested) => requested,
            Some(requested) => {
                return Err(Error::AlgorithmMismatch {
                    requested,
                    key_kind: kind.describe(),
                    suggested: kind.default_algorithm(),
                });
            }
        };
        let rng = SystemRandom::new();
        let pair = match (container, kind) {
            (Container::Pkcs8, KeyKind::Ec(_)) => KeyPair::ecdsa(algorithm, der, &rng)?,
            (Container::Sec1 { curve_oid }, KeyKind::Ec(_)) => {
                KeyPair::ecdsa(algorithm, &sec1_to_pkcs8(der, curve_oid), &rng)?
            }
            (Container::Pkcs8, KeyKind::Rsa) => KeyPair::rsa_pkcs8(der)?,
            (Container::Pkcs1, KeyKind::Rsa) => KeyPair::rsa_pkcs1(der)?,
            _ => return Err(malformed("the key's structure does not match its type")),
        };
        Ok(PrivateKey { algorithm, kind, pair: Arc::new(pair), rng })
    }
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::MalformedKey { reason: reason.into() }
}

fn missing_public_key() -> Error {
    malformed(
        "this EC key omits its public key, which the signer needs; re-export it with \
         `openssl pkcs8 -topk8 -nocrypt -in KEYFILE` (Talkdesk's keys include it)",
    )
}

fn der_error(err: DerError) -> Error {
    match err {
        DerError::Truncated => malformed("the key is truncated (its DER structure ends early); copy the whole key"),
        DerError::Invalid | DerError::UnexpectedTag => {
            malformed("the decoded bytes are not a DER private key (corrupt, or not a key)")
        }
    }
}

/// The PEM labels that hold something we can say something useful about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PemLabel {
    Pkcs8,
    Sec1,
    Pkcs1,
}

/// Finds the private key block of a PEM document and decodes its Base64 body.
fn decode_pem(text: &str) -> Result<(PemLabel, Zeroizing<Vec<u8>>), Error> {
    // Keys pasted into environment variables or JSON often carry literal `\n` instead of line breaks.
    let unescaped;
    let text = if text.contains("\\n") {
        unescaped = Zeroizing::new(text.replace("\\r", "").replace("\\n", "\n"));
        unescaped.as_str()
    } else {
        text
    };
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after.find("-----").ok_or_else(|| malformed("a PEM `-----BEGIN` line is not closed"))?;
        let label = &after[..label_end];
        let body_and_rest = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_and_rest.find(&end_marker).ok_or_else(|| {
            malformed(format!(
                "the PEM block `{}` has no `{end_marker}` line; the key is truncated",
                crate::error::excerpt(label)
            ))
        })?;
        let body = &body_and_rest[..body_end];
        rest = &body_and_rest[body_end + end_marker.len()..];
        let kind = match label {
            "PRIVATE KEY" => PemLabel::Pkcs8,
            "EC PRIVATE KEY" => PemLabel::Sec1,
            "RSA PRIVATE KEY" => PemLabel::Pkcs1,
            // `openssl ecparam -genkey` writes the curve in its own block before the key.
            "EC PARAMETERS" => continue,
            "ENCRYPTED PRIVATE KEY" => return Err(Error::EncryptedKey),
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "EC PUBLIC KEY" => {
                return Err(Error::NotAPrivateKey { found: "public key" });
            }
            "CERTIFICATE" => return Err(Error::NotAPrivateKey { found: "certificate" }),
            "OPENSSH PRIVATE KEY" => {
                return Err(Error::UnsupportedKey {
                    reason: "OpenSSH key format; convert it with `ssh-keygen -p -m PKCS8 -f KEYFILE`".into(),
                });
            }
            other => {
                return Err(Error::UnsupportedKey {
                    reason: format!("PEM block `{}` is not a private key", crate::error::excerpt(other)),
                });
            }
        };
        // Traditional OpenSSL encryption puts headers in the block.
        if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
            return Err(Error::EncryptedKey);
        }
        return Ok((kind, decode_base64(body)?));
    }
    Err(malformed("no PEM private key block was found"))
}

/// Decodes Base64 (standard or URL-safe, padded or not) after dropping all whitespace.
fn decode_base64(text: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    const STANDARD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Zeroizing<Vec<u8>> = Zeroizing::new(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    if compact.is_empty() {
        return Err(malformed("the key is empty"));
    }
    let engine = if compact.iter().any(|&b| b == b'-' || b == b'_') { &URL_SAFE } else { &STANDARD };
    let mut out = Zeroizing::new(Vec::with_capacity(compact.len() / 4 * 3 + 3));
    engine.decode_vec(&compact[..], &mut out).map_err(|err| {
        use base64::DecodeError::*;
        // Positions are safe to show; the offending bytes are not.
        match err {
            InvalidByte(pos, _) => malformed(format!(
                "the key is neither PEM nor Base64: unexpected character at position {pos} of the Base64 text"
            )),
            InvalidLength(_) | InvalidLastSymbol { .. } | InvalidPadding => {
                malformed("the Base64 text ends in the middle of a byte; the key is truncated or has extra characters")
            }
        }
    })?;
    Ok(out)
}

/// Works out which container and key type `der` holds, refusing public and encrypted keys by name.
fn classify(der: &[u8], label: Option<PemLabel>) -> Result<(Container, KeyKind), Error> {
    let body = der::read_single(der, tag::SEQUENCE).map_err(der_error)?;
    let mut fields = Reader::new(body);
    match fields.peek_tag() {
        Some(tag::INTEGER) => {
            let version = fields.read_small_uint().map_err(der_error)?;
            match (fields.peek_tag(), label) {
                (Some(tag::SEQUENCE), None | Some(PemLabel::Pkcs8)) if version <= 1 => classify_pkcs8(fields),
                (Some(tag::OCTET_STRING), None | Some(PemLabel::Sec1)) if version == 1 => {
                    let curve_oid = sec1_curve(body)?.ok_or_else(|| {
                        malformed("this SEC1 EC key does not name its curve; export it as PKCS#8 (`openssl pkcs8 -topk8 -nocrypt`)")
                    })?;
                    if !has_public_key(body)? {
                        return Err(missing_public_key());
                    }
                    Ok((Container::Sec1 { curve_oid }, KeyKind::Ec(curve_algorithm(curve_oid)?)))
                }
                (Some(tag::INTEGER), None | Some(PemLabel::Pkcs1)) if version == 0 => {
                    check_rsa_size(fields)?;
                    Ok((Container::Pkcs1, KeyKind::Rsa))
                }
                _ => Err(der_error(DerError::UnexpectedTag)),
            }
        }
        Some(tag::SEQUENCE) => {
            // SubjectPublicKeyInfo and EncryptedPrivateKeyInfo both open with an AlgorithmIdentifier.
            fields.read(tag::SEQUENCE).map_err(der_error)?;
            match fields.peek_tag() {
                Some(tag::BIT_STRING) => Err(Error::NotAPrivateKey { found: "public key" }),
                Some(tag::OCTET_STRING) => Err(Error::EncryptedKey),
                _ => Err(Error::NotAPrivateKey { found: "certificate or other non-key structure" }),
            }
        }
        _ => Err(der_error(DerError::UnexpectedTag)),
    }
}

/// PKCS#8 `PrivateKeyInfo` after its version.
fn classify_pkcs8(mut fields: Reader<'_>) -> Result<(Container, KeyKind), Error> {
    let mut algorithm_id = Reader::new(fields.read(tag::SEQUENCE).map_err(der_error)?);
    let algorithm_oid = algorithm_id.read(tag::OID).map_err(der_error)?;
    let private_key = fields.read(tag::OCTET_STRING).map_err(der_error)?;
    if algorithm_oid == oid::EC_PUBLIC_KEY {
        let curve = algorithm_id.read(tag::OID).map_err(|_| {
            malformed("the EC key uses explicit curve parameters; export it with a named curve (P-256, P-384, P-521)")
        })?;
        let alg = curve_algorithm(curve)?;
        let ec_private_key = der::read_single(private_key, tag::SEQUENCE).map_err(der_error)?;
        if !has_public_key(ec_private_key)? {
            return Err(missing_public_key());
        }
        Ok((Container::Pkcs8, KeyKind::Ec(alg)))
    } else if algorithm_oid == oid::RSA_ENCRYPTION {
        let mut rsa = Reader::new(der::read_single(private_key, tag::SEQUENCE).map_err(der_error)?);
        if rsa.read_small_uint().map_err(der_error)? != 0 {
            return Err(Error::UnsupportedKey { reason: "multi-prime RSA keys are not supported".into() });
        }
        check_rsa_size(rsa)?;
        Ok((Container::Pkcs8, KeyKind::Rsa))
    } else if algorithm_oid == oid::RSASSA_PSS {
        Err(Error::UnsupportedKey {
            reason: "RSASSA-PSS-restricted RSA key; export it as a plain RSA key (`openssl rsa -in KEYFILE`)".into(),
        })
    } else if algorithm_oid == oid::ED25519 || algorithm_oid == oid::ED448 {
        Err(Error::UnsupportedKey { reason: "EdDSA key; Talkdesk uses ES256/384/512 and PS256/384/512".into() })
    } else {
        Err(Error::UnsupportedKey { reason: "unknown key type; Talkdesk uses EC (ES*) and RSA (PS*) keys".into() })
    }
}

fn curve_algorithm(curve_oid: &[u8]) -> Result<Algorithm, Error> {
    match curve_oid {
        oid::P256 => Ok(Algorithm::Es256),
        oid::P384 => Ok(Algorithm::Es384),
        oid::P521 => Ok(Algorithm::Es512),
        _ => Err(Error::UnsupportedKey { reason: "EC key on a curve other than P-256, P-384 or P-521".into() }),
    }
}

/// The curve OID of a SEC1 `ECPrivateKey` (its `[0]` parameters), as one of our static constants.
fn sec1_curve(ec_private_key: &[u8]) -> Result<Option<&'static [u8]>, Error> {
    let mut fields = Reader::new(ec_private_key);
    fields.read_small_uint().map_err(der_error)?;
    fields.read(tag::OCTET_STRING).map_err(der_error)?;
    if fields.peek_tag() != Some(tag::CONTEXT_0) {
        return Ok(None);
    }
    let params = fields.read(tag::CONTEXT_0).map_err(der_error)?;
    let curve = der::read_single(params, tag::OID).map_err(der_error)?;
    Ok(Some(match curve_algorithm(curve)? {
        Algorithm::Es256 => oid::P256,
        Algorithm::Es384 => oid::P384,
        _ => oid::P521,
    }))
}

/// Whether a SEC1 `ECPrivateKey` carries its `[1]` public key.
fn has_public_key(ec_private_key: &[u8]) -> Result<bool, Error> {
    let mut fields = Reader::new(ec_private_key);
    while !fields.is_empty() {
        if fields.read_any().map_err(der_error)?.tag == tag::CONTEXT_1 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Reads the modulus of an `RSAPrivateKey` (after its version) and enforces 2048..=4096 bits.
fn check_rsa_size(mut fields: Reader<'_>) -> Result<(), Error> {
    let bits = der::unsigned_bit_len(fields.read(tag::INTEGER).map_err(der_error)?);
    if bits < 2048 {
        return Err(Error::RsaKeyTooSmall { bits });
    }
    if bits > backend::MAX_RSA_BYTES * 8 {
        return Err(Error::UnsupportedKey { reason: format!("RSA key of {bits} bits; at most 4096 are supported") });
    }
    Ok(())
}

/// Wraps a SEC1 `ECPrivateKey` in a PKCS#8 `PrivateKeyInfo`, the only EC form the backends read.
fn sec1_to_pkcs8(sec1: &[u8], curve_oid: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut algorithm_id = Vec::new();
    der::write(&mut algorithm_id, tag::OID, oid::EC_PUBLIC_KEY);
    der::write(&mut algorithm_id, tag::OID, curve_oid);
    let mut content = Zeroizing::new(Vec::with_capacity(sec1.len() + 32));
    der::write(&mut content, tag::INTEGER, &[0]);
    der::write(&mut content, tag::SEQUENCE, &algorithm_id);
    der::write(&mut content, tag::OCTET_STRING, sec1);
    let mut out = Zeroizing::new(Vec::with_capacity(content.len() + 4));
    der::write(&mut out, tag::SEQUENCE, &content);
    out
}
