//! The system's credential store, where `td-oauth login` keeps a user's refresh token when one answers: the
//! Secret Service on Linux and the BSDs (GNOME Keyring, KWallet, KeePassXC; over D-Bus, without libdbus),
//! the macOS Keychain, Windows Credential Manager. Through the `keyring` crate.
//!
//! One entry per token endpoint and client: service `td-oauth:<token URL>`, user `<client id>`, so that the
//! system's own tools (Seahorse, Keychain Access) show whose login it is. The entry holds what a login file
//! holds (see [`crate::login_store`]) as JSON. No error message here repeats what an entry holds: the
//! `keyring` crate's only error that carries the secret (`BadEncoding`) is never displayed.

use zeroize::Zeroizing;

use crate::error::CliError;

/// The entries' service prefix.
const SERVICE: &str = "td-oauth";

/// Where the system keyring is, for messages.
pub(crate) const NAME: &str = if cfg!(target_os = "macos") {
    "the macOS Keychain"
} else if cfg!(windows) {
    "Windows Credential Manager"
} else {
    "the system keyring (Secret Service)"
};

/// Whether this build can reach a real credential store: without one, `keyring` would fall back to an
/// in-memory store that forgets everything when the process ends.
const SUPPORTED: bool =
    cfg!(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd", target_os = "macos", windows));

/// The keyring entry of one client's login at one token endpoint.
pub(crate) struct KeyringEntry {
    entry: keyring::Entry,
}

impl KeyringEntry {
    /// The entry for `client_id` at `token_url` (nothing is read or written yet).
    pub(crate) fn new(token_url: &str, client_id: &str) -> Result<KeyringEntry, CliError> {
        if !SUPPORTED {
            return Err(CliError::Input(
                "this build of td-oauth has no system keyring for this platform: use --storage file".into(),
            ));
        }
        let entry = keyring::Entry::new(&format!("{SERVICE}:{token_url}"), client_id).map_err(|err| failed(&err))?;
        Ok(KeyringEntry { entry })
    }

    /// Whether the store answers: `Ok` when it can be read (whether or not it holds this entry), else why not.
    pub(crate) fn probe(&self) -> Result<(), String> {
        match self.entry.get_secret().map(Zeroizing::new) {
            Ok(_) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(err) => Err(reason(&err)),
        }
    }

    /// What the entry holds, or `None` when there is no entry.
    pub(crate) fn read(&self) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
        match self.entry.get_secret() {
            Ok(secret) => Ok(Some(Zeroizing::new(secret))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(err) => Err(failed(&err)),
        }
    }

    /// Replaces what the entry holds.
    pub(crate) fn write(&self, secret: &[u8]) -> Result<(), CliError> {
        self.entry.set_secret(secret).map_err(|err| failed(&err))
    }

    /// Removes the entry; whether there was one.
    pub(crate) fn remove(&self) -> Result<bool, CliError> {
        match self.entry.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(err) => Err(failed(&err)),
        }
    }
}

/// Why the store could not be used, without anything an entry holds.
fn reason(err: &keyring::Error) -> String {
    match err {
        keyring::Error::BadEncoding(_) => "an entry holds something td-oauth did not write".into(),
        keyring::Error::Ambiguous(found) => {
            format!("{} entries match one login; remove them with the system's keyring tool", found.len())
        }
        other => other.to_string(),
    }
}

/// A store that did not answer, or refused: worth trying again once it is unlocked or running.
fn failed(err: &keyring::Error) -> CliError {
    CliError::Failed(format!(
        "cannot use {NAME}: {} (is it running and unlocked? `--storage file` keeps logins in a file instead)",
        reason(err)
    ))
}
