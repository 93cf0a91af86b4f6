//! Randomness for `jti`, `state`, `nonce`, PKCE verifiers and AES-GCM nonces: a source the caller can
//! replace, the operating system's by default.

use std::sync::Arc;

use crate::{Error, backend};

/// A source of cryptographically secure random bytes.
///
/// [`OsRandom`] is the one to use. Every random value td-oauth writes is drawn from the source passed to it
/// ([`TokenClient::with_random`](crate::TokenClient::with_random), [`AssertionSigner::sign`](crate::assertion::AssertionSigner::sign),
/// [`AuthorizeRequest::build`](crate::AuthorizeRequest::build), td-oauth-redis's `sealed::seal`), so tests can make
/// their output reproducible and a program can draw from its own generator. A weak source in production
/// would make `jti` and `state` guessable. (The crypto backend draws the randomness inside a signature
/// itself: ring and aws-lc-rs take no outside generator.)
pub trait RandomSource: Send + Sync {
    /// Fills `dest` with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error>;
}

/// One source shared by several users (a [`TokenClient`](crate::TokenClient), an authorize flow, a cache).
impl<R: RandomSource + ?Sized> RandomSource for Arc<R> {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        (**self).fill(dest)
    }
}

/// The operating system's random source, through the crypto backend's generator.
#[derive(Debug, Clone, Default)]
pub struct OsRandom {
    _private: (),
}

impl OsRandom {
    /// The system random source.
    pub fn new() -> Self {
        OsRandom { _private: () }
    }
}

impl RandomSource for OsRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        backend::fill_random(dest)
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
