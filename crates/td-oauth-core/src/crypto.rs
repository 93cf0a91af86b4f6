//! The crypto seam's AES-256-GCM and SHA-256, for the crates that keep secrets in stores shared between
//! processes (td-oauth-redis seals tokens with these, td-oauth-partner installation records), so that no
//! crate of td-oauth but this one names a crypto library: the backend a program picks (ring, or aws-lc-rs
//! with its feature) serves them all. [`SealingKey`] is the operator's key they seal under.

use std::fmt;

use zeroize::Zeroizing;

use crate::Error;
use crate::backend;

/// AES-256-GCM's nonce length, in bytes.
pub const AEAD_NONCE_LEN: usize = backend::AEAD_NONCE_LEN;

/// AES-256-GCM's tag length, in bytes.
pub const AEAD_TAG_LEN: usize = backend::AEAD_TAG_LEN;

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

/// A 256-bit key for AES-256-GCM that seals secrets at rest (tokens in a fleet cache, credentials in an
/// installation store). Every process sharing the store needs the same one. `Debug` prints no byte of it
/// and it is wiped on drop; the bytes never leave this module: seal and open with it here.
///
/// ```
/// use td_oauth_core::crypto::SealingKey;
///
/// // Made with `openssl rand -base64 32`, kept in a secret store, passed in the environment.
/// let key = SealingKey::from_base64("q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=")?;
/// assert_eq!(format!("{key:?}"), format!("SealingKey({})", key.id()));
/// # Ok::<(), td_oauth_core::Error>(())
/// ```
#[derive(Clone)]
pub struct SealingKey {
    bytes: Zeroizing<[u8; 32]>,
    id: KeyFingerprint,
}

/// A sealing key's public name: the first 8 bytes of a SHA-256 over a label and the key, in hex. It tells
/// keys apart (which one sealed a record, whether every process has the same) and reveals nothing of the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyFingerprint([u8; 8]);

impl KeyFingerprint {
    /// The fingerprint's 8 bytes.
    pub fn bytes(&self) -> [u8; 8] {
        self.0
    }

    /// A fingerprint from its 8 bytes (as stored beside what a key sealed).
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        KeyFingerprint(bytes)
    }
}

impl fmt::Display for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in self.0 {
            for digit in crate::random::hex_digits(byte) {
                fmt::Write::write_char(f, char::from(digit))?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for KeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyFingerprint({self})")
    }
}

impl SealingKey {
    /// A key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        let mut hasher = backend::Sha256::new();
        hasher.update(b"td-oauth sealing key fingerprint v1");
        hasher.update(&bytes);
        let digest = hasher.finish();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        SealingKey { bytes: Zeroizing::new(bytes), id: KeyFingerprint(id) }
    }

    /// A key from standard Base64 (surrounding whitespace ignored) that decodes to 32 bytes, as
    /// `openssl rand -base64 32` prints. Errors ([`Error::InvalidParameter`]) never repeat the input.
    pub fn from_base64(text: &str) -> Result<Self, Error> {
        use base64::Engine as _;
        const HOW: &str = "make one with `openssl rand -base64 32`";
        let invalid = |reason: String| Error::InvalidParameter { field: "sealing key", reason };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Zeroizing::new)
            .map_err(|_| invalid(format!("it is not standard Base64; {HOW}")))?;
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| invalid(format!("it decodes to {} bytes, expected 32; {HOW}", decoded.len())))?;
        Ok(SealingKey::new(bytes))
    }

    /// The key's fingerprint, safe to log and store.
    pub fn id(&self) -> KeyFingerprint {
        self.id
    }

    /// Encrypts `in_out` in place with AES-256-GCM under this key and `nonce`, authenticating `aad`, and
    /// appends the tag (the vector grows only after encryption, so a reallocation leaves no plaintext behind).
    /// The nonce must never repeat under one key: draw it from a
    /// [`RandomSource`](crate::random::RandomSource).
    pub fn seal_in_place(&self, nonce: [u8; AEAD_NONCE_LEN], aad: &[u8], in_out: &mut Vec<u8>) -> Result<(), Error> {
        backend::seal_in_place(&self.bytes, nonce, aad, in_out)
    }

    /// Authenticates and decrypts `in_out` (ciphertext then tag) in place: the plaintext, or `None` when it
    /// does not authenticate under this key, `nonce` and `aad`.
    pub fn open_in_place<'a>(&self, nonce: [u8; AEAD_NONCE_LEN], aad: &[u8], in_out: &'a mut [u8]) -> Option<&'a [u8]> {
        backend::open_in_place(&self.bytes, nonce, aad, in_out)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealingKey({})", self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_keys_are_checked_without_echo() {
        assert!(SealingKey::from_base64(" q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=\n").is_ok());
        let short = SealingKey::from_base64("c2hvcnQta2V5").unwrap_err().to_string();
        assert!(short.contains("decodes to 9 bytes, expected 32"), "{short}");
        assert!(short.contains("openssl rand -base64 32") && !short.contains("c2hvcnQta2V5"), "{short}");
        let garbage = SealingKey::from_base64("not base64 at all!").unwrap_err().to_string();
        assert!(garbage.contains("not standard Base64") && !garbage.contains("at all"), "{garbage}");
    }

    #[test]
    fn fingerprints_tell_keys_apart_and_debug_shows_only_them() {
        let (a, b) = (SealingKey::new([7; 32]), SealingKey::new([8; 32]));
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), SealingKey::new([7; 32]).id());
        assert_eq!(a.id().to_string().len(), 16);
        assert_eq!(format!("{a:?}"), format!("SealingKey({})", a.id()));
        assert!(!format!("{a:?}").contains("0707"));
    }

    #[test]
    fn sealed_bytes_open_only_under_the_same_key_and_aad() {
        let key = SealingKey::new([1; 32]);
        let mut body = b"secret".to_vec();
        key.seal_in_place([3; AEAD_NONCE_LEN], b"aad", &mut body).unwrap();
        assert!(!body.windows(6).any(|w| w == b"secret"));
        assert!(SealingKey::new([2; 32]).open_in_place([3; AEAD_NONCE_LEN], b"aad", &mut body.clone()).is_none());
        assert!(key.open_in_place([3; AEAD_NONCE_LEN], b"other", &mut body.clone()).is_none());
        assert_eq!(key.open_in_place([3; AEAD_NONCE_LEN], b"aad", &mut body).unwrap(), b"secret");
    }
}
