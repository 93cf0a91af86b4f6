//! [`Pkcs11Signer`] as td-oauth-core's blocking [`Signer`]: hand it to [`Credentials::signer`] and either
//! transport signs its assertions on the token.
//!
//! [`Credentials::signer`]: td_oauth_core::Credentials::signer

use td_oauth_core::key::PublicKey;
use td_oauth_core::signer::{SignFailure, Signer};
use td_oauth_core::{Algorithm, KeyId};

use crate::error::Pkcs11Error;
use crate::signer::Pkcs11Signer;

impl Signer for Pkcs11Signer {
    fn algorithm(&self) -> Algorithm {
        Pkcs11Signer::algorithm(self)
    }

    fn key_id(&self) -> &KeyId {
        Pkcs11Signer::key_id(self)
    }

    /// The public key read from the token, so that the core verifies the first signature against it.
    fn public_key(&self) -> Option<PublicKey> {
        PublicKey::from_der(self.public_key_der()?).ok()
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure> {
        self.sign_raw(message).map_err(|err| {
            // A token that went away or hiccupped may be back for the next try; a PIN, key or
            // configuration problem will not fix itself (and a wrong PIN must not be tried again).
            let retryable = matches!(err, Pkcs11Error::TokenRemoved { .. } | Pkcs11Error::Device { .. });
            if retryable { SignFailure::retryable(err.to_string()) } else { SignFailure::new(err.to_string()) }
        })
    }
}
