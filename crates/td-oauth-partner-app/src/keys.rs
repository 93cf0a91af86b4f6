//! The sealing keys from the environment: `TD_OAUTH_STORE_KEY` (seals and opens) and, while it is
//! rotated, `TD_OAUTH_STORE_KEY_PREVIOUS` (opens only). Neither is ever a flag, printed or logged.

use td_oauth_core::crypto::SealingKey;
use td_oauth_partner::record::SealingKeys;
use zeroize::Zeroizing;

use crate::args::{STORE_KEY_PREVIOUS_VAR, STORE_KEY_VAR};
use crate::error::StartupError;

/// Reads one key; `what` names the variable in errors, which never repeat the value.
fn key(what: &str, text: &str) -> Result<SealingKey, StartupError> {
    SealingKey::from_base64(text)
        .map_err(|err| StartupError::Key(format!("{what}: {err}; give every replica the same key")))
}

fn make_one() -> &'static str {
    "make a key with `openssl rand -base64 32` and give every replica the same one"
}

/// Reads the keys from the environment. `required`: whether a missing `TD_OAUTH_STORE_KEY` is an
/// error (every shared store), or a fresh random key will do (`memory`, whose values never leave the
/// process): then `None`.
pub fn from_env(required: bool) -> Result<Option<SealingKeys>, StartupError> {
    let read = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty()).map(Zeroizing::new);
    let previous = read(STORE_KEY_PREVIOUS_VAR).map(|text| key(STORE_KEY_PREVIOUS_VAR, &text)).transpose()?;
    match read(STORE_KEY_VAR) {
        Some(text) => {
            let keys = SealingKeys::new(key(STORE_KEY_VAR, &text)?);
            Ok(Some(match previous {
                Some(previous) => keys.with_previous(previous),
                None => keys,
            }))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_key_is_refused_without_repeating_it() {
        assert!(key("K", "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=").is_ok());
        for bad in ["c2hvcnQ=", "not-base64-secretvalue!"] {
            let err = key("K", bad).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.starts_with("K: "), "{err}");
            assert!(!err.contains(bad) && !err.contains("secretvalue"), "{err}");
        }
    }
}
