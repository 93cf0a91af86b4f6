//! The checks a signature from an outside signer passes before an assertion carries it: its form for the
//! algorithm, and, once, a verification against the signer's public key.

use std::sync::atomic::{AtomicBool, Ordering};

use super::{ExternalSigner, SignFailure, SignerError};
use crate::key::PublicKey;
use crate::text::excerpt;
use crate::{Algorithm, KeyId};

/// RSA-2048's signature length, the shortest a PS* key Talkdesk accepts makes.
const MIN_RSA_SIGNATURE: usize = 256;
/// RSA-4096's, the longest supported.
const MAX_RSA_SIGNATURE: usize = crate::backend::MAX_RSA_BYTES;

/// An outside signer with what its signatures are checked against.
#[derive(Debug)]
pub(crate) struct SignatureCheck {
    signer: ExternalSigner,
    algorithm: Algorithm,
    key_id: KeyId,
    public_key: Option<PublicKey>,
    /// Whether a signature has verified against `public_key` (or there is none to verify against).
    verified: AtomicBool,
    /// A public key that does not fit the algorithm: every signature is refused with this.
    mismatch: Option<SignerError>,
}

impl SignatureCheck {
    /// Reads the signer's algorithm, key id and public key once; a public key that does not fit the
    /// algorithm is kept as the [`mismatch`](Self::mismatch) every signature is refused with.
    pub(crate) fn new(signer: ExternalSigner) -> Self {
        let (algorithm, key_id, public_key) = (signer.algorithm(), signer.key_id().clone(), signer.public_key());
        let mismatch = public_key.as_ref().filter(|public| !public.fits(algorithm)).map(|public| {
            SignerError::PublicKeyMismatch { key_id: key_id.clone(), algorithm, key_kind: public.describe() }
        });
        let verified = AtomicBool::new(public_key.is_none());
        SignatureCheck { signer, algorithm, key_id, public_key, verified, mismatch }
    }

    /// Why every signature of this signer will be refused, when that is known before it signs.
    pub(crate) fn mismatch(&self) -> Option<&SignerError> {
        self.mismatch.as_ref()
    }

    pub(crate) fn signer(&self) -> &ExternalSigner {
        &self.signer
    }

    pub(crate) fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub(crate) fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// The signature a signer answered for `input`, checked; `None` when it gave none within `timeout`.
    pub(crate) fn accept(
        &self,
        input: &[u8],
        answer: Option<Result<Vec<u8>, SignFailure>>,
        timeout: std::time::Duration,
    ) -> Result<Vec<u8>, SignerError> {
        if let Some(mismatch) = &self.mismatch {
            return Err(mismatch.clone());
        }
        let key_id = || self.key_id.clone();
        let signature = match answer {
            None => return Err(SignerError::TimedOut { key_id: key_id(), timeout }),
            Some(Err(failure)) => {
                return Err(SignerError::Failed {
                    key_id: key_id(),
                    reason: excerpt(failure.reason()),
                    retryable: failure.is_retryable(),
                });
            }
            Some(Ok(signature)) => signature,
        };
        self.check_form(&signature)?;
        if !self.verified.load(Ordering::Acquire)
            && let Some(public) = &self.public_key
        {
            match public.verify(self.algorithm, input, &signature) {
                Some(false) => return Err(SignerError::NotVerified { key_id: key_id(), algorithm: self.algorithm }),
                Some(true) => self.verified.store(true, Ordering::Release),
                // This build cannot verify the algorithm (ES512 without `aws-lc-rs`): the form check stands.
                None => {}
            }
        }
        Ok(signature)
    }

    fn check_form(&self, signature: &[u8]) -> Result<(), SignerError> {
        let wrong =
            |reason: String| SignerError::WrongForm { key_id: self.key_id.clone(), algorithm: self.algorithm, reason };
        let len = signature.len();
        if self.algorithm.is_ecdsa() {
            let expected = 2 * self.algorithm.component_len();
            if len == expected {
                let (r, s) = signature.split_at(expected / 2);
                if r.iter().all(|&b| b == 0) || s.iter().all(|&b| b == 0) {
                    return Err(wrong("r or s is zero, which no ECDSA signature has".into()));
                }
                return Ok(());
            }
            if signature.first() == Some(&0x30) {
                return Err(wrong(format!(
                    "{len} bytes starting with a DER SEQUENCE: an ASN.1 ECDSA-Sig-Value, where JOSE wants the \
                     fixed {expected}-byte r‖s; convert it with td_oauth_core::signer::ecdsa_der_to_jose"
                )));
            }
            return Err(wrong(format!("{len} bytes where the fixed r‖s form has {expected}")));
        }
        match self.public_key.as_ref().map(|public| public.signature_len(self.algorithm)) {
            Some(expected) if len != expected => {
                Err(wrong(format!("{len} bytes where the key's modulus, and so every signature, has {expected}")))
            }
            Some(_) => Ok(()),
            None if !(MIN_RSA_SIGNATURE..=MAX_RSA_SIGNATURE).contains(&len) => Err(wrong(format!(
                "{len} bytes, where an RSA-2048 to RSA-4096 signature has {MIN_RSA_SIGNATURE} to {MAX_RSA_SIGNATURE}"
            ))),
            None => Ok(()),
        }
    }
}
