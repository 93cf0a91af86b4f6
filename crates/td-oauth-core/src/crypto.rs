//! The crypto seam's AES-256-GCM and SHA-256, for the crates that keep tokens in caches shared between
//! processes (td-oauth-redis seals them with these), so that no crate of td-oauth but this one names a
//! crypto library: the backend a program picks (ring, or aws-lc-rs with its feature) serves them all.

use crate::Error;
use crate::backend;

/// AES-256-GCM's nonce length, in bytes.
pub const AEAD_NONCE_LEN: usize = backend::AEAD_NONCE_LEN;

/// AES-256-GCM's tag length, in bytes.
pub const AEAD_TAG_LEN: usize = backend::AEAD_TAG_LEN;

/// Encrypts `in_out` in place with AES-256-GCM under `key` and `nonce`, authenticating `aad`, and appends the
/// tag (the vector grows only after encryption, so a reallocation leaves no plaintext behind). The nonce must
/// never repeat under one key: draw it from a [`RandomSource`](crate::random::RandomSource).
pub fn seal_in_place(
    key: &[u8; 32],
    nonce: [u8; AEAD_NONCE_LEN],
    aad: &[u8],
    in_out: &mut Vec<u8>,
) -> Result<(), Error> {
    backend::seal_in_place(key, nonce, aad, in_out)
}

/// Authenticates and decrypts `in_out` (ciphertext then tag) in place: the plaintext, or `None` when it does
/// not authenticate under `key`, `nonce` and `aad`.
pub fn open_in_place<'a>(
    key: &[u8; 32],
    nonce: [u8; AEAD_NONCE_LEN],
    aad: &[u8],
    in_out: &'a mut [u8],
) -> Option<&'a [u8]> {
    backend::open_in_place(key, nonce, aad, in_out)
}

/// The SHA-256 of `parts`, each prefixed with its length (so that no two different lists hash the same
/// bytes), as 64 lowercase hex digits: a name for a cache entry that reveals none of its parts.
pub fn digest_hex(parts: &[&[u8]]) -> String {
    let mut hasher = backend::Sha256::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hasher.finish().iter().flat_map(|&byte| crate::random::hex_digits(byte)).map(char::from).collect()
}
