//! Randomness for `jti`, `state`, `nonce` and PKCE verifiers, replaceable in tests.

use crate::Error;

/// A source of cryptographically secure random bytes.
///
/// [`OsRandom`] is the one to use. Tests may supply their own to make output reproducible; a weak source in
/// production would make `jti` and `state` guessable.
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error>;
}

/// The operating system's random source, through ring.
#[derive(Debug, Clone)]
pub struct OsRandom(ring::rand::SystemRandom);

impl OsRandom {
    /// The system random source.
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for OsRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| Error::Crypto("the system random source failed"))
    }
}

/// A random UUID version 4 in its 36-character text form, without allocating.
pub(crate) fn uuid_v4(rng: &dyn RandomSource) -> Result<[u8; 36], Error> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes)?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut out = [b'-'; 36];
    let mut pos = 0;
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            pos += 1;
        }
        out[pos..pos + 2].copy_from_slice(&hex_digits(*byte));
        pos += 2;
    }
    Ok(out)
}

/// A byte's two lowercase hex digits.
pub(crate) fn hex_digits(byte: u8) -> [u8; 2] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    [HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 0x0f)]]
}

/// `len` random bytes from `rng` as unpadded base64url text: for `state`, `nonce`, PKCE verifiers, and any
/// other unguessable value (td-oauth-redis names its lease holders with it).
pub fn random_token(rng: &dyn RandomSource, len: usize) -> Result<String, Error> {
    use base64::Engine as _;
    let mut bytes = vec![0u8; len];
    rng.fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_version_and_variant() {
        let id = uuid_v4(&OsRandom::new()).unwrap();
        let text = std::str::from_utf8(&id).unwrap();
        let parts: Vec<&str> = text.split('-').collect();
        assert_eq!(parts.iter().map(|p| p.len()).collect::<Vec<_>>(), [8, 4, 4, 4, 12]);
        assert!(parts[2].starts_with('4'), "{text}");
        assert!(matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'), "{text}");
    }
}
