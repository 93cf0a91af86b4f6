//! The token's user PIN: read from a file or an environment variable, never taken from a command line or a
//! URI, wiped from memory when dropped, never shown.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use zeroize::Zeroizing;

use crate::error::Pkcs11Error;

/// The most a PIN file may hold: PINs are a few dozen characters; a larger file is the wrong file.
const MAX_PIN_FILE_BYTES: u64 = 4096;

/// A token's user PIN. `Debug` shows `Pin(<redacted>)`; the text is wiped on drop.
#[derive(Clone)]
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// A PIN the caller already holds (from its own secret store). Surrounding whitespace is trimmed.
    pub fn new(pin: &str) -> Result<Pin, Pkcs11Error> {
        let pin = pin.trim();
        if pin.is_empty() {
            return Err(Pkcs11Error::Pin { reason: "the PIN is empty".into() });
        }
        Ok(Pin(Zeroizing::new(pin.to_owned())))
    }

    /// The PIN held in the file at `path` (its first line's text; a trailing newline is fine).
    pub fn from_file(path: &Path) -> Result<Pin, Pkcs11Error> {
        let cannot = |err: std::io::Error| Pkcs11Error::Pin {
            reason: format!("cannot read the PIN file {}: {err}", path.display()),
        };
        let file = std::fs::File::open(path).map_err(cannot)?;
        let mut bytes = Zeroizing::new(Vec::with_capacity(64));
        file.take(MAX_PIN_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(cannot)?;
        if bytes.len() as u64 > MAX_PIN_FILE_BYTES {
            return Err(Pkcs11Error::Pin {
                reason: format!("the PIN file {} is larger than 4 KiB: is it the right file?", path.display()),
            });
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Pkcs11Error::Pin { reason: format!("the PIN file {} is not UTF-8 text", path.display()) })?;
        Pin::new(text.lines().next().unwrap_or_default())
            .map_err(|_| Pkcs11Error::Pin { reason: format!("the PIN file {} is empty", path.display()) })
    }

    /// The PIN held in the environment variable `name` itself, or `None` when it is unset or empty.
    pub fn from_env(name: &str) -> Result<Option<Pin>, Pkcs11Error> {
        match std::env::var(name).map(Zeroizing::new) {
            Ok(value) if value.trim().is_empty() => Ok(None),
            Ok(value) => Pin::new(&value).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(Pkcs11Error::Pin { reason: format!("{name} is not valid UTF-8") })
            }
        }
    }

    pub(crate) fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_pin() {
        let pin = Pin::new(" 4711-secret\n").unwrap();
        assert_eq!(pin.secret(), "4711-secret");
        assert_eq!(format!("{pin:?}"), "Pin(<redacted>)");
    }

    #[test]
    fn files_are_read_and_checked() {
        let dir = std::env::temp_dir().join(format!("td-oauth-pin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pin");
        std::fs::write(&file, "123456\n").unwrap();
        assert_eq!(Pin::from_file(&file).unwrap().secret(), "123456");
        std::fs::write(&file, "\n").unwrap();
        assert!(Pin::from_file(&file).unwrap_err().to_string().contains("is empty"));
        std::fs::write(&file, vec![b'1'; 5000]).unwrap();
        assert!(Pin::from_file(&file).unwrap_err().to_string().contains("larger than"));
        let missing = Pin::from_file(&dir.join("missing")).unwrap_err().to_string();
        assert!(missing.contains("cannot read the PIN file"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
