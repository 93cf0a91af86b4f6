//! Where secrets come from: a file, standard input or an environment variable. A flag's value works too,
//! but a command line is visible to every user of the machine (`ps`, `/proc/PID/cmdline`) and lands in shell
//! history, so the help never shows that form. Files are read up to a cap, and files holding a long-lived
//! credential are checked, as ssh does, to be readable by their owner alone.

use std::fs::File;
use std::io::Read as _;
use std::path::Path;

use zeroize::{Zeroize as _, Zeroizing};

use crate::error::CliError;
use crate::output::report;

/// Whether the environment variable `var` holds something other than blanks. The value, perhaps a secret,
/// is wiped once looked at.
pub(crate) fn env_is_set(var: &str) -> bool {
    std::env::var(var).map(Zeroizing::new).is_ok_and(|value| !value.trim().is_empty())
}
/// The most a secret file or standard input may hold: a 4096-bit RSA key in PEM is about 3.3 KiB, a token a
/// few KiB. Anything larger is the wrong file (or `/dev/zero`), refused after reading this much.
pub(crate) const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The most a CA file may hold: a whole system bundle is about 220 KiB.
pub(crate) const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// Whether a file holds a long-lived credential (a private key, a client secret): those are checked to be
/// private. One-use values (codes, verifiers) and tokens are not.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    LongLived,
    Short,
}

/// Reads at most `cap` bytes of `path`, refusing a larger file; the bytes are wiped on drop.
pub(crate) fn read_file(path: &Path, what: &str, cap: u64, lifetime: Lifetime) -> Result<Zeroizing<Vec<u8>>, CliError> {
    let cannot =
        |err: std::io::Error| CliError::Input(format!("cannot read the {what} file {}: {err}", path.display()));
    let file = File::open(path).map_err(cannot)?;
    if lifetime == Lifetime::LongLived {
        warn_if_shared(&file, path, what);
    }
    let bytes = read_capped(file, cap).map_err(cannot)?;
    match bytes {
        Some(bytes) => Ok(bytes),
        None => Err(CliError::Input(format!(
            "the {what} file {} is larger than {} KiB, far more than a {what} needs: is it the right file?",
            path.display(),
            cap / 1024
        ))),
    }
}

/// [`read_file`] for a secret that must be text, trimmed of surrounding whitespace.
pub(crate) fn read_text_file(path: &Path, what: &str, lifetime: Lifetime) -> Result<Zeroizing<String>, CliError> {
    let bytes = read_file(path, what, MAX_SECRET_BYTES, lifetime)?;
    text(bytes).ok_or_else(|| CliError::Input(format!("the {what} file {} is not UTF-8 text", path.display())))
}

/// A secret piped in on standard input, trimmed, at most [`MAX_SECRET_BYTES`].
pub(crate) fn read_stdin(what: &str) -> Result<Zeroizing<String>, CliError> {
    let cannot = |err: std::io::Error| CliError::Input(format!("cannot read the {what} from standard input: {err}"));
    let bytes = read_capped(std::io::stdin().lock(), MAX_SECRET_BYTES)
        .map_err(cannot)?
        .ok_or_else(|| CliError::Input(format!("standard input holds more than 64 KiB, far more than a {what}")))?;
    text(bytes).ok_or_else(|| CliError::Input(format!("the {what} on standard input is not UTF-8 text")))
}

/// Reads to the end, or `None` past `cap` bytes. The buffer is allocated once, so no reallocation leaves a
/// copy of the secret behind.
fn read_capped(reader: impl std::io::Read, cap: u64) -> std::io::Result<Option<Zeroizing<Vec<u8>>>> {
    let capacity = usize::try_from(cap.saturating_add(1)).unwrap_or(usize::MAX);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    reader.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// The bytes as trimmed text, or `None` (with the bytes wiped) if they are not UTF-8.
fn text(mut bytes: Zeroizing<Vec<u8>>) -> Option<Zeroizing<String>> {
    match String::from_utf8(std::mem::take(&mut *bytes)) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            Some(Zeroizing::new(text.trim().to_owned()))
        }
        Err(err) => {
            err.into_bytes().zeroize();
            None
        }
    }
}

/// Warns, as ssh does for a private key, when the file can be read by its group or by others.
#[cfg(unix)]
fn warn_if_shared(file: &File, path: &Path, what: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(metadata) = file.metadata() else { return };
    let mode = metadata.permissions().mode() & 0o777;
    if metadata.is_file() && mode & 0o077 != 0 {
        report(format_args!(
            "warning: the {what} file {} can be read by other users (mode {mode:04o}); make it private with `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_file: &File, _path: &Path, _what: &str) {}

/// One secret the command needs, and the three places it may come from: the flag's value (`-` reads
/// standard input), the same flag with `-file` (a path), or an environment variable. In that order; giving
/// both the flag and its `-file` form is refused.
pub(crate) struct SecretArg<'a> {
    /// What it is, for messages: `authorization code`.
    pub(crate) what: &'static str,
    /// The flag: `--code` (its file form is `--code-file`).
    pub(crate) flag: &'static str,
    /// The flag's value, if given.
    pub(crate) value: Option<&'a str>,
    /// The `-file` flag's path, if given.
    pub(crate) file: Option<&'a Path>,
    /// The environment variable: `TALKDESK_CODE`.
    pub(crate) var: &'static str,
}

impl SecretArg<'_> {
    /// The secret, trimmed; `None` when none of the three places holds it.
    pub(crate) fn read(&self) -> Result<Option<Zeroizing<String>>, CliError> {
        let text = match (self.value, self.file) {
            (Some(_), Some(_)) => {
                return Err(CliError::Input(format!("give {} or {}-file, not both", self.flag, self.flag)));
            }
            (Some("-"), None) => read_stdin(self.what)?,
            (Some(value), None) => Zeroizing::new(value.trim().to_owned()),
            (None, Some(path)) => read_text_file(path, self.what, Lifetime::Short)?,
            (None, None) => match std::env::var(self.var) {
                Ok(value) => Zeroizing::new(Zeroizing::new(value).trim().to_owned()),
                Err(std::env::VarError::NotPresent) => return Ok(None),
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(CliError::Input(format!("{} is not valid UTF-8", self.var)));
                }
            },
        };
        if text.is_empty() {
            return Err(CliError::Input(format!("the {} is empty", self.what)));
        }
        Ok(Some(text))
    }

    /// The secret, or an error that says where to put it.
    pub(crate) fn require(&self) -> Result<Zeroizing<String>, CliError> {
        self.read()?.ok_or_else(|| {
            CliError::Input(format!(
                "no {what}: pipe it in with `{flag} -`, or give {flag}-file PATH, or set {var}",
                what = self.what,
                flag = self.flag,
                var = self.var
            ))
        })
    }

    /// Whether this secret is to be read from standard input.
    pub(crate) fn uses_stdin(&self) -> bool {
        self.value == Some("-")
    }
}
