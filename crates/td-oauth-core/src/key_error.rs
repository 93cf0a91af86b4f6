//! [`KeyError`](crate::key::KeyError), why a private key was refused: a leaf, so that the key parser and
//! the crypto backend that both report it do not import each other.

use crate::Algorithm;

/// Why a private key was refused. Each variant says what was wrong and what to do; none holds the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The private key could not be read: not Base64/PEM, truncated or corrupt.
    #[error("the private key could not be read: {reason}")]
    Malformed {
        /// What was wrong (never the key's content).
        reason: String,
    },

    /// A public key or certificate was given where the private key is needed.
    #[error(
        "a {found} was given where the private key is needed: use the private_key Talkdesk issued \
         (Base64 PKCS#8, starting `MIG` for ES256), not the public_key"
    )]
    NotAPrivateKey {
        /// What was found instead.
        found: &'static str,
    },

    /// The key is encrypted with a passphrase.
    #[error(
        "the private key is encrypted; decrypt it first, e.g. `openssl pkcs8 -in key.pem -nocrypt -topk8 -out plain.pem`"
    )]
    Encrypted,

    /// The key's type or curve is not one Talkdesk uses.
    #[error("unsupported private key: {reason}")]
    Unsupported {
        /// Which key type was found.
        reason: String,
    },

    /// The RSA key is shorter than 2048 bits.
    #[error("the RSA key has {bits} bits; PS256/PS384/PS512 need at least 2048")]
    RsaTooSmall {
        /// The modulus length found.
        bits: usize,
    },

    /// The algorithm given does not fit the key.
    #[error("algorithm {requested} does not match the key, which is a {key_kind} key (use {suggested})")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        requested: Algorithm,
        /// What the key is, e.g. `P-256 EC`.
        key_kind: &'static str,
        /// The algorithm that fits the key.
        suggested: Algorithm,
    },

    /// The algorithm needs a crate feature that is not enabled.
    #[error(
        "{algorithm} keys need the `{feature}` feature of td-oauth-core (ring has no P-521); enable it in Cargo.toml"
    )]
    FeatureRequired {
        /// The algorithm.
        algorithm: Algorithm,
        /// The Cargo feature that provides it.
        feature: &'static str,
    },
}
