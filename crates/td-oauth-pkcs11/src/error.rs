//! The crate's one error: what went wrong finding, opening or using a key on a PKCS#11 token. No message
//! holds a PIN, and none is built from one.

use std::path::PathBuf;

/// Why a PKCS#11 signer could not be opened, or could not sign.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The `pkcs11:` URI is malformed or asks for something refused (a PIN in it, an unknown attribute).
    #[error("the PKCS#11 URI is not usable: {reason}")]
    InvalidUri {
        /// What is wrong, and the fix.
        reason: String,
    },
    /// The PIN could not be read.
    #[error("{reason}")]
    Pin {
        /// What is wrong, and the fix.
        reason: String,
    },
    /// The PKCS#11 module could not be loaded or initialised.
    #[error("the PKCS#11 module {} could not be used: {reason}", path.display())]
    Module {
        /// The module's path.
        path: PathBuf,
        /// What the loader or the module said.
        reason: String,
    },
    /// No module was given, or two different ones were.
    #[error("{reason}")]
    ModuleChoice {
        /// What is wrong, and the fix.
        reason: String,
    },
    /// No slot holds a token the URI matches: a token not inserted, removed, or a label misspelt.
    #[error("{token} is not present: is it inserted? (tokens present: {present})")]
    TokenNotFound {
        /// The token the URI names.
        token: String,
        /// The labels of the tokens that are present, or `none`.
        present: String,
    },
    /// The URI matches more than one token.
    #[error("{token} matches {count} tokens: narrow the URI with `token=`, `serial=` or `slot-id=`")]
    AmbiguousToken {
        /// The token the URI names.
        token: String,
        /// How many matched.
        count: usize,
    },
    /// The token holds no private key the URI matches.
    #[error(
        "{key} was not found: check `object=` (the key's label) and `id=`, and that the key was imported as a \
         private key (`pkcs11-tool --list-objects --login` lists them)"
    )]
    KeyNotFound {
        /// The key the URI names.
        key: String,
    },
    /// The URI matches more than one private key.
    #[error("{key} matches {count} private keys: give both `object=` and `id=`")]
    AmbiguousKey {
        /// The key the URI names.
        key: String,
        /// How many matched.
        count: usize,
    },
    /// The key cannot sign any algorithm Talkdesk uses, or not the one asked for.
    #[error("{key} cannot be used: {reason}")]
    UnsupportedKey {
        /// The key the URI names.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The token needs a login and no PIN was given.
    #[error("{token} needs its user PIN: give --pin-file PATH or TALKDESK_PKCS11_PIN (Pin::from_file, Pin::from_env)")]
    PinRequired {
        /// The token.
        token: String,
    },
    /// The token refused the PIN. It is not tried again: each wrong try brings the token closer to locking.
    #[error(
        "{token} refused the PIN{warning}; it was tried once and will not be tried again, so as not to lock the \
         token: fix the PIN file or TALKDESK_PKCS11_PIN"
    )]
    WrongPin {
        /// The token.
        token: String,
        /// `" (the token warns that few tries are left)"`, or empty.
        warning: &'static str,
    },
    /// The token's PIN is locked after too many wrong tries.
    #[error("{token}'s user PIN is locked after too many wrong tries: unlock it with the security officer's PIN")]
    PinLocked {
        /// The token.
        token: String,
    },
    /// One more wrong PIN would lock the token, so it is not tried.
    #[error(
        "{token} has one PIN try left before it locks, so td-oauth does not try the PIN: log in once with the \
         token's own tool (e.g. `pkcs11-tool --login --test`) to reset the count"
    )]
    PinFinalTry {
        /// The token.
        token: String,
    },
    /// The token went away while it was in use (removed, or its session closed under us).
    #[error("{token} was removed or stopped answering during {operation}: reinsert it and try again")]
    TokenRemoved {
        /// The token.
        token: String,
        /// What was being done.
        operation: &'static str,
    },
    /// Any other failure the module reported.
    #[error("{token}: {operation} failed: the module answered {code}")]
    Device {
        /// The token.
        token: String,
        /// What was being done.
        operation: &'static str,
        /// The PKCS#11 return value's name (e.g. `DeviceError`) or the wrapper's error.
        code: String,
    },
}
