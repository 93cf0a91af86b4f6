//! The sealing keys from the environment: `TD_OAUTH_STORE_KEY` (seals and opens) and, while it is
//! rotated, `TD_OAUTH_STORE_KEY_PREVIOUS` (opens only). Neither is ever a flag, printed or logged.

use std::fmt;

use base64::Engine as _;
use zeroize::Zeroizing;

use crate::args::{STORE_KEY_PREVIOUS_VAR, STORE_KEY_VAR};
use crate::error::StartupError;

/// A 256-bit AES-GCM key, wiped on drop; `Debug` shows none of it.
#[derive(Clone)]
pub struct StoreKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StoreKey(<redacted>)")
    }
}

impl StoreKey {
    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Reads standard Base64 of exactly 32 bytes; `what` names the variable in errors, which never repeat
    /// the value.
    pub fn from_base64(what: &str, text: &str) -> Result<StoreKey, StartupError> {
        let decoded = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| StartupError::Key(format!("{what} is not Base64; {}", make_one())))?,
        );
        let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
            StartupError::Key(format!("{what} decodes to {} bytes, not 32; {}", decoded.len(), make_one()))
        })?;
        Ok(StoreKey(Zeroizing::new(bytes)))
    }
}

fn make_one() -> &'static str {
    "make a key with `openssl rand -base64 32` and give every replica the same one"
}

/// The current key and the previous one, if set.
#[derive(Debug, Clone)]
pub struct StoreKeys {
    /// Seals new values and opens them.
    pub current: StoreKey,
    /// Opens values sealed before the key was rotated.
    pub previous: Option<StoreKey>,
}

impl StoreKeys {
    /// Reads the keys from the environment. `required`: whether a missing `TD_OAUTH_STORE_KEY` is an
    /// error (every shared store), or a fresh random key will do (`memory`, whose values never leave the
    /// process): then `None`.
    pub fn from_env(required: bool) -> Result<Option<StoreKeys>, StartupError> {
        let read = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty()).map(Zeroizing::new);
        let previous = read(STORE_KEY_PREVIOUS_VAR)
            .map(|text| StoreKey::from_base64(STORE_KEY_PREVIOUS_VAR, &text))
            .transpose()?;
        match read(STORE_KEY_VAR) {
            Some(text) => Ok(Some(StoreKeys { current: StoreKey::from_base64(STORE_KEY_VAR, &text)?, previous })),
            None if required => Err(StartupError::Key(format!(
                "{STORE_KEY_VAR} is not set: the installations' credentials are sealed at rest with it; {}",
                make_one()
            ))),
            None if previous.is_some() => Err(StartupError::Key(format!(
                "{STORE_KEY_PREVIOUS_VAR} is set but {STORE_KEY_VAR} is not: the previous key only opens; set the \
                 new key in {STORE_KEY_VAR}"
            ))),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_32_bytes_and_never_repeats_a_bad_value() {
        let key = StoreKey::from_base64("K", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=");
        assert!(key.is_ok_and(|key| format!("{key:?}") == "StoreKey(<redacted>)"));
        for bad in ["c2hvcnQ=", "not-base64-secretvalue!"] {
            let err = StoreKey::from_base64("K", bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("K "), "{err}");
            assert!(!err.contains(bad) && !err.contains("secretvalue"), "{err}");
        }
    }
}
