//! The JWS algorithms Talkdesk hands out for client keys.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// A signing algorithm for the client assertion, as Talkdesk names it in `key_algorithm`.
///
/// ES256 is what Talkdesk usually issues. ES512 needs the `aws-lc-rs` feature, since ring has no P-521.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512 (feature `aws-lc-rs`).
    Es512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
}

impl Algorithm {
    /// Every algorithm, in the order Talkdesk lists them.
    pub const ALL: [Algorithm; 6] =
        [Algorithm::Es256, Algorithm::Es384, Algorithm::Es512, Algorithm::Ps256, Algorithm::Ps384, Algorithm::Ps512];

    /// The name used in the JWS `alg` header, e.g. `"ES256"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
        }
    }

    /// The byte length of one ECDSA signature half (`r` or `s`) in JOSE's fixed form: 32, 48 or 66; 0 for
    /// RSASSA-PSS, whose signatures are as long as the key's modulus.
    pub const fn component_len(self) -> usize {
        match self {
            Algorithm::Es256 => 32,
            Algorithm::Es384 => 48,
            Algorithm::Es512 => 66,
            Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512 => 0,
        }
    }

    /// True for the ECDSA algorithms, false for RSASSA-PSS.
    pub const fn is_ecdsa(self) -> bool {
        matches!(self, Algorithm::Es256 | Algorithm::Es384 | Algorithm::Es512)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses `ES256`, `es256`, … as Talkdesk and users spell them.
    fn from_str(name: &str) -> Result<Self, Error> {
        Algorithm::ALL.into_iter().find(|alg| alg.as_str().eq_ignore_ascii_case(name.trim())).ok_or_else(|| {
            Error::InvalidParameter {
                field: "algorithm",
                reason: format!(
                    "{:?} is not one of ES256, ES384, ES512, PS256, PS384, PS512",
                    crate::text::excerpt(name)
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_case_insensitively() {
        for alg in Algorithm::ALL {
            assert_eq!(alg.as_str().parse::<Algorithm>().unwrap(), alg);
            assert_eq!(alg.as_str().to_lowercase().parse::<Algorithm>().unwrap(), alg);
        }
        let err = "HS256".parse::<Algorithm>().unwrap_err().to_string();
        assert!(err.contains("HS256") && err.contains("ES256"), "{err}");
    }
}
