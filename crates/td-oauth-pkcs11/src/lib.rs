//! Client assertions signed by a private key that never leaves its PKCS#11 token: an HSM, a smart card or
//! YubiKey, a cloud HSM's PKCS#11 library, or SoftHSM2.
//!
//! [`Pkcs11Signer::open`] loads the token's module, finds the key an RFC 7512 URI names
//! ([`Pkcs11Uri`]: `pkcs11:token=td;object=app-key`), logs in with a [`Pin`] read from a file or the
//! environment (never from a command line or the URI), and signs ES256, ES384, ES512, PS256, PS384 and
//! PS512 in the JOSE form a JWS needs. Sessions are kept in a small pool shared by clones, so concurrent
//! signatures each get a session of their own and the warm path is one `C_Sign`. A removed token, a wrong
//! PIN (presented once, never retried, so the token is not locked by this crate), a missing key or an
//! unsupported one each have their own [`Pkcs11Error`], and no error or `Debug` output holds the PIN.
//!
//! Guide: the repository's `docs/pkcs11.md` (SoftHSM2 and YubiKey set-up, the URI forms, the PIN rules).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod core_signer;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod key;
mod pin;
mod signer;
mod uri;

pub use error::Pkcs11Error;
pub use pin::Pin;
pub use signer::{DEFAULT_MAX_SESSIONS, Pkcs11Options, Pkcs11Signer};
pub use uri::Pkcs11Uri;
