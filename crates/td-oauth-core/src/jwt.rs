//! Reading a JWT's header and claims without trusting them, for display: Talkdesk publishes no JWKS, so an
//! access token's contents can be shown but never relied on.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::Error;

/// A JWT split and decoded, signature not verified.
#[derive(Debug, Clone, PartialEq)]
pub struct UnverifiedJwt {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature_len: usize,
}

impl UnverifiedJwt {
    /// Splits a compact JWS and decodes its header and claims. Nothing is verified.
    pub fn decode(token: &str) -> Result<Self, Error> {
        let refuse = |reason: &str| Error::InvalidParameter { field: "JWT", reason: reason.to_owned() };
        let token = token.trim();
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(refuse("a JWT has exactly three dot-separated parts (header.claims.signature)"));
        };
        let decode_object = |part: &str, what: &str| -> Result<Map<String, Value>, Error> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part.trim_end_matches('='))
                .map_err(|_| refuse(&format!("the {what} is not base64url")))?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(refuse(&format!("the {what} is not a JSON object"))),
            }
        };
        let header = decode_object(header, "header")?;
        let claims = decode_object(claims, "claims part")?;
        let signature_len = URL_SAFE_NO_PAD
            .decode(signature.trim_end_matches('='))
            .map_err(|_| refuse("the signature is not base64url"))?
            .len();
        Ok(UnverifiedJwt { header, claims, signature_len })
    }

    /// The header (`alg`, `kid`, `typ`, …).
    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    /// The claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// The signature's length in bytes (64 for ES256).
    pub fn signature_len(&self) -> usize {
        self.signature_len
    }

    /// `exp` as a time, when present and a non-negative number.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.time_claim("exp")
    }

    /// `iat` as a time, when present and a non-negative number.
    pub fn issued_at(&self) -> Option<SystemTime> {
        self.time_claim("iat")
    }

    fn time_claim(&self, name: &str) -> Option<SystemTime> {
        let secs = self.claims.get(name)?.as_f64()?;
        (0.0..1e12).contains(&secs).then(|| UNIX_EPOCH + Duration::from_secs_f64(secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &str) -> String {
        URL_SAFE_NO_PAD.encode(value)
    }

    #[test]
    fn decodes_header_and_claims() {
        let token = format!(
            "{}.{}.{}",
            encode(r#"{"alg":"ES256"}"#),
            encode(r#"{"exp":1800000000,"scp":["a"]}"#),
            encode("sig")
        );
        let jwt = UnverifiedJwt::decode(&token).unwrap();
        assert_eq!(jwt.header()["alg"], "ES256");
        assert_eq!(jwt.claims()["scp"][0], "a");
        assert_eq!(jwt.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(1_800_000_000)));
        assert_eq!(jwt.signature_len(), 3);
    }

    #[test]
    fn refuses_non_jwts_without_echoing_them() {
        for bad in ["", "abc", "a.b", "a.b.c.d", "!!.e30.", "e30.W10.", &format!("{}.e30.$$", encode("{}"))] {
            let err = UnverifiedJwt::decode(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid JWT"), "{bad}: {err}");
        }
    }
}
