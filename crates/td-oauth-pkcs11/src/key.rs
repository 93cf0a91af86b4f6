//! What a private key on the token is: its type, and so which algorithms it signs; its public key, read
//! from the token (the RSA modulus on the private key itself, the EC point on its public twin), as
//! SubjectPublicKeyInfo DER; and the mechanism each algorithm signs with.

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use der::asn1::{AnyRef, BitStringRef, ObjectIdentifier, OctetStringRef, UintRef};
use der::{Decode as _, Encode as _};
use spki::{AlgorithmIdentifierRef, SubjectPublicKeyInfoRef};
use td_oauth_core::Algorithm;

mod oid {
    use der::asn1::ObjectIdentifier as Oid;

    pub(super) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
    pub(super) const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
    pub(super) const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
    pub(super) const P521: Oid = Oid::new_unwrap("1.3.132.0.35");
    pub(super) const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
}

/// The kind of key found on the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// An EC key on the curve of this ECDSA algorithm.
    Ec(Algorithm),
    /// An RSA key of this many modulus bytes.
    Rsa(usize),
}

impl KeyKind {
    /// The algorithm to sign with: the curve's for EC; for RSA the one asked for, PS256 by default.
    pub(crate) fn algorithm(self, requested: Option<Algorithm>) -> Result<Algorithm, String> {
        match (self, requested) {
            (KeyKind::Ec(curve), None) => Ok(curve),
            (KeyKind::Ec(curve), Some(alg)) if alg == curve => Ok(curve),
            (KeyKind::Rsa(_), None) => Ok(Algorithm::Ps256),
            (KeyKind::Rsa(_), Some(alg)) if !alg.is_ecdsa() => Ok(alg),
            (kind, Some(alg)) => Err(format!("it is {}, which cannot sign {alg}", kind.describe())),
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            KeyKind::Ec(Algorithm::Es256) => "a P-256 EC key".into(),
            KeyKind::Ec(Algorithm::Es384) => "a P-384 EC key".into(),
            KeyKind::Ec(_) => "a P-521 EC key".into(),
            KeyKind::Rsa(bytes) => format!("a {}-bit RSA key", bytes.saturating_mul(8)),
        }
    }
}

/// The kind of the private key `key`, and its public key as SubjectPublicKeyInfo DER when the token
/// shows it (an EC key whose public twin was not imported has none).
pub(crate) fn inspect(session: &Session, key: ObjectHandle) -> Result<(KeyKind, Option<Vec<u8>>), KeyProblem> {
    let attributes =
        session.get_attributes(key, &[AttributeType::KeyType, AttributeType::Sign]).map_err(KeyProblem::Pkcs11)?;
    let mut key_type = None;
    for attribute in attributes {
        match attribute {
            Attribute::KeyType(kind) => key_type = Some(kind),
            Attribute::Sign(false) => return Err(KeyProblem::Unsupported("its CKA_SIGN is false".into())),
            _ => {}
        }
    }
    match key_type {
        Some(kind) if kind == KeyType::EC => inspect_ec(session, key),
        Some(kind) if kind == KeyType::RSA => inspect_rsa(session, key),
        Some(kind) => Err(KeyProblem::Unsupported(format!(
            "it is a {kind} key; Talkdesk's algorithms need an EC key (P-256, P-384, P-521) or an RSA key"
        ))),
        None => Err(KeyProblem::Unsupported("the token does not say its key type".into())),
    }
}

/// Why a key could not be inspected.
pub(crate) enum KeyProblem {
    Unsupported(String),
    Pkcs11(cryptoki::error::Error),
}

fn inspect_ec(session: &Session, key: ObjectHandle) -> Result<(KeyKind, Option<Vec<u8>>), KeyProblem> {
    let params =
        session.get_attributes(key, &[AttributeType::EcParams, AttributeType::Id]).map_err(KeyProblem::Pkcs11)?;
    let mut curve = None;
    let mut id = None;
    for attribute in params {
        match attribute {
            Attribute::EcParams(der) => curve = Some(der),
            Attribute::Id(bytes) => id = Some(bytes),
            _ => {}
        }
    }
    let curve_der = curve.ok_or_else(|| KeyProblem::Unsupported("the token does not say the key's curve".into()))?;
    let curve = ObjectIdentifier::from_der(&curve_der)
        .map_err(|_| KeyProblem::Unsupported("its curve is not given as a named curve".into()))?;
    let algorithm = match curve {
        oid::P256 => Algorithm::Es256,
        oid::P384 => Algorithm::Es384,
        oid::P521 => Algorithm::Es512,
        other => {
            return Err(KeyProblem::Unsupported(format!(
                "its curve {other} is none of P-256, P-384, P-521 (ES256, ES384, ES512)"
            )));
        }
    };
    let point = id.and_then(|id| ec_point(session, &id, &curve_der));
    let spki = point.and_then(|point| {
        let algorithm = AlgorithmIdentifierRef { oid: oid::EC_PUBLIC_KEY, parameters: Some(AnyRef::from(&curve)) };
        BitStringRef::from_bytes(&point)
            .and_then(|subject_public_key| SubjectPublicKeyInfoRef { algorithm, subject_public_key }.to_der())
            .ok()
    });
    Ok((KeyKind::Ec(algorithm), spki))
}

/// The uncompressed point of the public key beside the private key (same `CKA_ID`, same curve).
fn ec_point(session: &Session, id: &[u8], curve_der: &[u8]) -> Option<Vec<u8>> {
    let template = [
        Attribute::Class(ObjectClass::PUBLIC_KEY),
        Attribute::KeyType(KeyType::EC),
        Attribute::Id(id.to_vec()),
        Attribute::EcParams(curve_der.to_vec()),
    ];
    let public = session.find_objects(&template).ok()?.into_iter().next()?;
    let point = session.get_attributes(public, &[AttributeType::EcPoint]).ok()?.into_iter().find_map(|a| match a {
        Attribute::EcPoint(point) => Some(point),
        _ => None,
    })?;
    // PKCS#11 says DER OCTET STRING; some tokens give the raw point.
    match <&OctetStringRef>::from_der(&point) {
        Ok(inner) if inner.as_bytes().first() == Some(&0x04) => Some(inner.as_bytes().to_vec()),
        _ if point.first() == Some(&0x04) => Some(point),
        _ => None,
    }
}

fn inspect_rsa(session: &Session, key: ObjectHandle) -> Result<(KeyKind, Option<Vec<u8>>), KeyProblem> {
    let attributes = session
        .get_attributes(key, &[AttributeType::Modulus, AttributeType::PublicExponent])
        .map_err(KeyProblem::Pkcs11)?;
    let mut modulus = None;
    let mut exponent = None;
    for attribute in attributes {
        match attribute {
            Attribute::Modulus(bytes) => modulus = Some(bytes),
            Attribute::PublicExponent(bytes) => exponent = Some(bytes),
            _ => {}
        }
    }
    let modulus = modulus.ok_or_else(|| KeyProblem::Unsupported("the token does not show its modulus".into()))?;
    let bytes = modulus.iter().skip_while(|&&b| b == 0).count();
    if bytes < 256 {
        return Err(KeyProblem::Unsupported(format!(
            "it is a {}-bit RSA key; PS256/384/512 need at least 2048 bits",
            bytes.saturating_mul(8)
        )));
    }
    let spki = exponent.and_then(|exponent| {
        let public = pkcs1::RsaPublicKey {
            modulus: UintRef::new(&modulus).ok()?,
            public_exponent: UintRef::new(&exponent).ok()?,
        }
        .to_der()
        .ok()?;
        let algorithm = AlgorithmIdentifierRef { oid: oid::RSA_ENCRYPTION, parameters: Some(AnyRef::NULL) };
        BitStringRef::from_bytes(&public)
            .and_then(|subject_public_key| SubjectPublicKeyInfoRef { algorithm, subject_public_key }.to_der())
            .ok()
    });
    Ok((KeyKind::Rsa(bytes), spki))
}

/// How `algorithm` is signed on the token, and whether the caller hashes first. ECDSA is `CKM_ECDSA` over a
/// digest computed here (every token that does ECDSA has it; hashing variants are optional); RSASSA-PSS is
/// the hashing `CKM_SHAx_RSA_PKCS_PSS` with MGF1 on the same hash and a salt as long as the hash, as RFC 7518
/// requires.
pub(crate) fn mechanism(
    algorithm: Algorithm,
) -> Option<(Mechanism<'static>, Option<&'static ring::digest::Algorithm>)> {
    let pss =
        |hash_alg: MechanismType, mgf: PkcsMgfType, salt: u64| PkcsPssParams { hash_alg, mgf, s_len: salt.into() };
    Some(match algorithm {
        Algorithm::Es256 => (Mechanism::Ecdsa, Some(&ring::digest::SHA256)),
        Algorithm::Es384 => (Mechanism::Ecdsa, Some(&ring::digest::SHA384)),
        Algorithm::Ps256 => {
            (Mechanism::Sha256RsaPkcsPss(pss(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256, 32)), None)
        }
        Algorithm::Ps384 => {
            (Mechanism::Sha384RsaPkcsPss(pss(MechanismType::SHA384, PkcsMgfType::MGF1_SHA384, 48)), None)
        }
        Algorithm::Ps512 => {
            (Mechanism::Sha512RsaPkcsPss(pss(MechanismType::SHA512, PkcsMgfType::MGF1_SHA512, 64)), None)
        }
        Algorithm::Es512 => (Mechanism::Ecdsa, Some(&ring::digest::SHA512)),
        _ => return None,
    })
}
