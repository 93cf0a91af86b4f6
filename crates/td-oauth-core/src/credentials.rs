//! Who the client is and how it proves it: a signed JWT (`private_key_jwt`) or a client secret (Basic).

use std::fmt;
use std::sync::Arc;

use crate::key_set::KeySet;
use crate::signer::{AsyncSigner, ExternalSigner, SignatureCheck, Signer};
use crate::text::excerpt;
use crate::{ClientSecret, Error, PrivateKey};

/// Checks an identifier that travels in JSON and headers: 1 to 256 printable ASCII characters.
fn check_identifier(field: &'static str, value: &str) -> Result<(), Error> {
    let refuse = |reason: &str| Error::InvalidParameter { field, reason: reason.to_owned() };
    if value.is_empty() {
        return Err(refuse("it is empty"));
    }
    if value.len() > 256 {
        return Err(refuse("it is longer than 256 characters"));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::InvalidParameter {
            field,
            reason: format!("{:?} contains whitespace, control or non-ASCII characters", excerpt(value)),
        });
    }
    Ok(())
}

/// An OAuth client id, as Talkdesk issues it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientId(String);

impl ClientId {
    /// Checks a client id: 1 to 256 printable ASCII characters.
    pub fn new(id: &str) -> Result<Self, Error> {
        check_identifier("client id", id)?;
        Ok(ClientId(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of the client's key, sent as the assertion's `kid` header (Talkdesk's are 32 hex characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// Checks a key id: 1 to 256 printable ASCII characters.
    pub fn new(id: &str) -> Result<Self, Error> {
        check_identifier("key id", id)?;
        Ok(KeyId(id.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How the client authenticates to the token endpoint.
#[derive(Debug)]
pub enum Credentials {
    /// A JWT signed with the client's private key (`private_key_jwt`), required for AppConnect apps.
    PrivateKeyJwt {
        /// The client id (`iss` and `sub` of the assertion).
        client_id: ClientId,
        /// The key id (`kid` header).
        key_id: KeyId,
        /// The private key.
        key: PrivateKey,
    },
    /// A JWT signed by a signer outside the process's memory (an HSM, a KMS, a signing service: see
    /// [`signer`](crate::signer)); the key id is the signer's.
    Signer {
        /// The client id (`iss` and `sub` of the assertion).
        client_id: ClientId,
        /// The signer.
        signer: ExternalSigner,
    },
    /// A JWT signed with the active key of a [`KeySet`] (several keys, or a key file read again when it
    /// changes: see [`key_set`](crate::key_set)), under that key's id.
    KeySet {
        /// The client id (`iss` and `sub` of the assertion).
        client_id: ClientId,
        /// The keys.
        keys: KeySet,
    },
    /// HTTP Basic authentication with a client secret.
    ClientSecret {
        /// The client id.
        client_id: ClientId,
        /// The secret.
        secret: ClientSecret,
    },
}

impl Credentials {
    /// Signed-JWT credentials.
    pub fn private_key_jwt(client_id: ClientId, key_id: KeyId, key: PrivateKey) -> Self {
        Credentials::PrivateKeyJwt { client_id, key_id, key }
    }

    /// Signed-JWT credentials whose signatures come from a blocking `signer` (its key id is the `kid`).
    /// Refuses a signer whose public key does not fit the algorithm it announces.
    pub fn signer(client_id: ClientId, signer: Arc<dyn Signer>) -> Result<Self, Error> {
        Self::external(client_id, ExternalSigner::Blocking(signer))
    }

    /// Signed-JWT credentials whose signatures come from an async `signer`; only an async transport
    /// (td-oauth-reqwest) can drive it. Refuses a signer whose public key does not fit its algorithm.
    pub fn async_signer(client_id: ClientId, signer: Arc<dyn AsyncSigner>) -> Result<Self, Error> {
        Self::external(client_id, ExternalSigner::Async(signer))
    }

    /// Signed-JWT credentials whose assertions are signed with the active key of `keys`.
    pub fn key_set(client_id: ClientId, keys: KeySet) -> Self {
        Credentials::KeySet { client_id, keys }
    }

    fn external(client_id: ClientId, signer: ExternalSigner) -> Result<Self, Error> {
        if let Some(mismatch) = SignatureCheck::new(signer.clone()).mismatch() {
            return Err(mismatch.clone().into());
        }
        Ok(Credentials::Signer { client_id, signer })
    }

    /// Client-secret credentials, sent with HTTP Basic authentication. Id and secret are form-encoded first
    /// (RFC 6749 §2.3.1), so an id holding `:` or a secret holding `+`, `%` or `&` works.
    pub fn client_secret(client_id: ClientId, secret: ClientSecret) -> Result<Self, Error> {
        if secret.secret().is_empty() {
            return Err(Error::InvalidParameter { field: "client secret", reason: "it is empty".into() });
        }
        Ok(Credentials::ClientSecret { client_id, secret })
    }

    /// The client id.
    pub fn client_id(&self) -> &ClientId {
        match self {
            Credentials::PrivateKeyJwt { client_id, .. }
            | Credentials::Signer { client_id, .. }
            | Credentials::KeySet { client_id, .. }
            | Credentials::ClientSecret { client_id, .. } => client_id,
        }
    }
}
