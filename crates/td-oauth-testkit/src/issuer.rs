//! The server's own ES256 key: it signs access tokens and ID tokens, and checks access tokens
//! presented to `/api/me`.

use jsonwebtoken::crypto::CryptoProvider;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::Value;

use crate::error::Error;
use crate::keys;

/// Signs and verifies the tokens this server issues.
pub(crate) struct Issuer {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// The public key as SubjectPublicKeyInfo PEM, for tests that verify tokens themselves.
    pub(crate) public_key_pem: String,
}

impl Issuer {
    pub(crate) fn generate() -> Result<Issuer, Error> {
        // Should workspace feature unification turn on both of jsonwebtoken's backends, it has
        // no default and would panic on first use: pick the aws-lc-rs one, which we asked for.
        if CryptoProvider::try_get_default().is_none() {
            let _ = CryptoProvider::install_default(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER);
        }
        let key = keys::generate(crate::algorithm::Algorithm::Es256)?;
        let public_key_pem = keys::pem("PUBLIC KEY", &key.spki_der);
        let decoding = DecodingKey::from_ec_pem(public_key_pem.as_bytes()).map_err(|e| Error::InvalidPublicKey {
            algorithm: crate::algorithm::Algorithm::Es256,
            reason: e.to_string(),
        })?;
        Ok(Issuer {
            kid: keys::random_hex(16),
            encoding: EncodingKey::from_ec_der(&key.pkcs8_der),
            decoding,
            public_key_pem,
        })
    }

    /// Signs `claims` as an ES256 JWT.
    pub(crate) fn sign(&self, claims: &Value) -> Option<String> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).ok()
    }

    /// Checks signature and `exp` (no leeway) of a token this server issued; returns its claims.
    pub(crate) fn verify(&self, token: &str) -> Result<Value, String> {
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        jsonwebtoken::decode::<Value>(token, &self.decoding, &validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => "the access token has expired".to_owned(),
                _ => format!("the access token is not valid ({e})"),
            }
        })
    }
}
