//! Signers outside the process's memory: an HSM or smart card (PKCS#11), a cloud KMS, Vault's transit
//! engine, a signing service of your own. The assertion is built here as always; only its signature comes
//! from the signer.
//!
//! Implement [`Signer`] (blocking) or [`AsyncSigner`] and hand it to
//! [`Credentials::signer`](crate::Credentials::signer) or
//! [`Credentials::async_signer`](crate::Credentials::async_signer). For each assertion the core builds the JWS
//! signing input (`base64url(header) "." base64url(claims)`, header `alg`, `typ`, `kid` from the signer,
//! claims `iss` = `sub`, `aud`, `jti`, `iat`, `exp` as with an in-memory key), the signer signs those bytes,
//! and the core checks what came back before any request carries it:
//!
//! - ECDSA (ES256/384/512) must be JOSE's fixed `r‖s` form: exactly 64, 96 or 132 bytes. A DER
//!   `ECDSA-Sig-Value` (what most KMSs and OpenSSL return) is refused with a pointer to
//!   [`ecdsa_der_to_jose`], which converts it.
//! - RSASSA-PSS (PS256/384/512) must be as long as the modulus: the public key's when the signer gives one,
//!   otherwise 256 to 512 bytes (RSA-2048 to RSA-4096).
//! - When the signer gives its [`public_key`](Signer::public_key), the first signature is verified against
//!   it: a signer holding another key, or signing with another hash or padding, is caught before the token
//!   endpoint sees a single assertion.
//!
//! A signer that fails, takes longer than the transport's signer timeout
//! ([`Config::signer_timeout`](crate::transport::Config::signer_timeout), 5 s by default) or returns a
//! signature of the wrong form is a [`SignerError`], wrapped in [`Error::Signer`](crate::Error::Signer).
//!
//! td-oauth-reqwest awaits an async signer and runs a blocking one on tokio's blocking pool;
//! td-oauth-ureq calls a blocking signer on a helper thread (so that the timeout holds) and refuses an async
//! one when the client is built. [`SignatureJob`] is what a transport is handed; the rules above are
//! applied in the core, whichever transport obtained the signature.

mod check;
mod der;
mod error;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use self::check::SignatureCheck;
pub use self::der::ecdsa_der_to_jose;
pub use self::error::{SignFailure, SignerError};
use crate::key::PublicKey;
use crate::{Algorithm, KeyId};

/// A blocking signer: an HSM through PKCS#11, a KMS through a blocking client, anything that can sign.
///
/// `algorithm` and `key_id` are read once, when the credentials are made: a signer signs with one key for
/// its whole life (to rotate, make new credentials).
/// `Debug` must print no secret (no PIN, no token).
///
/// `sign` may be called from any thread, and from several at once: td-oauth-ureq calls it on a helper
/// thread of its own per signature, td-oauth-reqwest on tokio's blocking pool. A call that outlives the
/// signer timeout is not interrupted; it finishes on its thread and its answer is dropped.
pub trait Signer: fmt::Debug + Send + Sync + 'static {
    /// The JWS algorithm the signatures are made with.
    fn algorithm(&self) -> Algorithm;

    /// The key id Talkdesk registered the public key under (the assertion's `kid`).
    fn key_id(&self) -> &KeyId;

    /// The public key, when the signer knows it: the first signature is then verified against it.
    fn public_key(&self) -> Option<PublicKey> {
        None
    }

    /// Signs `message` (the JWS signing input: ASCII, a few hundred bytes): hash it with the algorithm's
    /// hash, then sign. ECDSA signatures in JOSE's `r‖s` form (see [`ecdsa_der_to_jose`]); PSS with a salt
    /// as long as the hash.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure>;
}

/// An async signer: a remote KMS, Vault transit or a signing service reached over the network. The same
/// contract as [`Signer`]; only `sign` is async.
#[async_trait::async_trait]
pub trait AsyncSigner: fmt::Debug + Send + Sync + 'static {
    /// The JWS algorithm the signatures are made with.
    fn algorithm(&self) -> Algorithm;

    /// The key id Talkdesk registered the public key under (the assertion's `kid`).
    fn key_id(&self) -> &KeyId;

    /// The public key, when the signer knows it: the first signature is then verified against it.
    fn public_key(&self) -> Option<PublicKey> {
        None
    }

    /// Signs `message` (the JWS signing input), as [`Signer::sign`] does.
    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure>;
}

/// A signer outside the process's memory, blocking or async, shared.
#[derive(Debug, Clone)]
pub enum ExternalSigner {
    /// A blocking signer.
    Blocking(Arc<dyn Signer>),
    /// An async signer.
    Async(Arc<dyn AsyncSigner>),
}

impl ExternalSigner {
    /// The signer's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            ExternalSigner::Blocking(signer) => signer.algorithm(),
            ExternalSigner::Async(signer) => signer.algorithm(),
        }
    }

    /// The signer's key id.
    pub fn key_id(&self) -> &KeyId {
        match self {
            ExternalSigner::Blocking(signer) => signer.key_id(),
            ExternalSigner::Async(signer) => signer.key_id(),
        }
    }

    /// The signer's public key, when it gives one.
    pub fn public_key(&self) -> Option<PublicKey> {
        match self {
            ExternalSigner::Blocking(signer) => signer.public_key(),
            ExternalSigner::Async(signer) => signer.public_key(),
        }
    }

    /// Whether this is an async signer.
    pub fn is_async(&self) -> bool {
        matches!(self, ExternalSigner::Async(_))
    }
}

/// One signature a transport must obtain: the signer, the signing input, and how long the signer may take.
///
/// A transport calls [`sign_blocking`](Self::sign_blocking) or awaits [`sign_async`](Self::sign_async) as
/// its I/O model allows, gives up after [`timeout`](Self::timeout), and hands back what it got (`None` when
/// the time ran out) to [`TokenFetch::signed`](crate::transport::TokenFetch::signed).
#[derive(Debug, Clone)]
pub struct SignatureJob {
    signer: ExternalSigner,
    input: Arc<[u8]>,
    timeout: Duration,
}

impl SignatureJob {
    pub(crate) fn new(signer: ExternalSigner, input: &[u8], timeout: Duration) -> Self {
        SignatureJob { signer, input: Arc::from(input), timeout }
    }

    /// The signer.
    pub fn signer(&self) -> &ExternalSigner {
        &self.signer
    }

    /// The bytes to sign: the JWS signing input.
    pub fn input(&self) -> &[u8] {
        &self.input
    }

    /// How long the signer may take; past it the transport stops waiting and the attempt fails with
    /// [`SignerError::TimedOut`].
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Calls a blocking signer on this thread (no timeout: the caller arranges one). An async signer is
    /// refused with a failure that says so.
    pub fn sign_blocking(&self) -> Result<Vec<u8>, SignFailure> {
        match &self.signer {
            ExternalSigner::Blocking(signer) => signer.sign(&self.input),
            ExternalSigner::Async(_) => {
                Err(SignFailure::new("an async signer cannot be called from blocking code; use td-oauth-reqwest"))
            }
        }
    }

    /// Awaits an async signer, or calls a blocking one on this task (no timeout: the caller arranges one;
    /// an async transport should run a blocking signer on its blocking pool instead).
    pub async fn sign_async(&self) -> Result<Vec<u8>, SignFailure> {
        match &self.signer {
            ExternalSigner::Blocking(signer) => signer.sign(&self.input),
            ExternalSigner::Async(signer) => signer.sign(&self.input).await,
        }
    }
}

/// The signer timeout a [`Config`](crate::transport::Config) starts with: a KMS, an HSM or a signing
/// service answers in milliseconds, so 5 s means it is unreachable or stuck, and leaves the retry deadline
/// (30 s) room to try again.
pub const DEFAULT_SIGNER_TIMEOUT: Duration = Duration::from_secs(5);
