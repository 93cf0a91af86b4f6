//! The signing algorithms Talkdesk hands keys out for: a leaf, named by both the key generator and the error.

use std::fmt;

/// A client-assertion signing algorithm that Talkdesk hands out (`key_algorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA on P-256 with SHA-256 (Talkdesk's usual one).
    Es256,
    /// ECDSA on P-384 with SHA-384.
    Es384,
    /// ECDSA on P-521 with SHA-512.
    Es512,
    /// RSASSA-PSS with SHA-256 (2048-bit keys when generated here).
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
}

impl Algorithm {
    /// Every supported algorithm, in Talkdesk's order.
    pub const ALL: [Algorithm; 6] =
        [Algorithm::Es256, Algorithm::Es384, Algorithm::Es512, Algorithm::Ps256, Algorithm::Ps384, Algorithm::Ps512];

    /// The JOSE name, e.g. `"ES256"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::Es384 => "ES384",
            Algorithm::Es512 => "ES512",
            Algorithm::Ps256 => "PS256",
            Algorithm::Ps384 => "PS384",
            Algorithm::Ps512 => "PS512",
        }
    }

    /// Whether keys of this algorithm are RSA keys (PS*) rather than EC keys (ES*).
    pub fn is_rsa(self) -> bool {
        matches!(self, Algorithm::Ps256 | Algorithm::Ps384 | Algorithm::Ps512)
    }

    /// The `jsonwebtoken` algorithm, or `None` for ES512, which jsonwebtoken 12 lacks.
    pub(crate) fn jsonwebtoken(self) -> Option<jsonwebtoken::Algorithm> {
        match self {
            Algorithm::Es256 => Some(jsonwebtoken::Algorithm::ES256),
            Algorithm::Es384 => Some(jsonwebtoken::Algorithm::ES384),
            Algorithm::Es512 => None,
            Algorithm::Ps256 => Some(jsonwebtoken::Algorithm::PS256),
            Algorithm::Ps384 => Some(jsonwebtoken::Algorithm::PS384),
            Algorithm::Ps512 => Some(jsonwebtoken::Algorithm::PS512),
        }
    }

    /// The aws-lc-rs verification algorithm, used to check a caller-supplied public key and
    /// to verify ES512 signatures.
    pub(crate) fn verification(self) -> &'static dyn aws_lc_rs::signature::VerificationAlgorithm {
        use aws_lc_rs::signature;
        match self {
            Algorithm::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
            Algorithm::Es384 => &signature::ECDSA_P384_SHA384_FIXED,
            Algorithm::Es512 => &signature::ECDSA_P521_SHA512_FIXED,
            Algorithm::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            Algorithm::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
            Algorithm::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
