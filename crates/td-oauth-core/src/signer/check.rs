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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::signer::Signer;

    const ES256: &str = include_str!("../../tests/keys/es256.pkcs8.pem");
    const RSA: &str = include_str!("../../tests/keys/rsa2048.pkcs8.pem");

    #[derive(Debug)]
    struct Fixed {
        algorithm: Algorithm,
        key_id: KeyId,
        public_key: Option<PublicKey>,
    }

    impl Signer for Fixed {
        fn algorithm(&self) -> Algorithm {
            self.algorithm
        }
        fn key_id(&self) -> &KeyId {
            &self.key_id
        }
        fn public_key(&self) -> Option<PublicKey> {
            self.public_key.clone()
        }
        fn sign(&self, _: &[u8]) -> Result<Vec<u8>, SignFailure> {
            Err(SignFailure::new("unused"))
        }
    }

    fn check(algorithm: Algorithm, public_key: Option<PublicKey>) -> SignatureCheck {
        let key_id = KeyId::new("kid").unwrap();
        SignatureCheck::new(ExternalSigner::Blocking(Arc::new(Fixed { algorithm, key_id, public_key })))
    }

    fn form(check: &SignatureCheck, signature: Vec<u8>) -> Result<Vec<u8>, SignerError> {
        check.accept(b"input", Some(Ok(signature)), Duration::from_secs(1))
    }

    #[test]
    fn ecdsa_must_be_the_curves_fixed_length_with_nonzero_halves() {
        let es384 = check(Algorithm::Es384, None);
        assert!(form(&es384, vec![1; 96]).is_ok());
        for bad in [vec![1; 64], vec![1; 97], [vec![0; 48], vec![1; 48]].concat(), [vec![1; 48], vec![0; 48]].concat()]
        {
            assert!(matches!(form(&es384, bad), Err(SignerError::WrongForm { .. })));
        }
        let mut der = vec![0x30, 0x44];
        der.resize(70, 1);
        let err = form(&check(Algorithm::Es256, None), der).unwrap_err().to_string();
        assert!(err.contains("DER") && err.contains("ecdsa_der_to_jose"), "{err}");
    }

    #[test]
    fn rsa_pss_must_be_the_modulus_length_or_within_rsa_2048_to_4096_without_a_public_key() {
        let loose = check(Algorithm::Ps256, None);
        assert!(form(&loose, vec![1; 256]).is_ok() && form(&loose, vec![1; 512]).is_ok());
        assert!(form(&loose, vec![1; 255]).is_err() && form(&loose, vec![1; 513]).is_err());
        let public = crate::PrivateKey::parse_with_algorithm(RSA, Algorithm::Ps256).unwrap().public_key();
        let err = form(&check(Algorithm::Ps256, Some(public)), vec![1; 384]).unwrap_err().to_string();
        assert!(err.contains("384 bytes") && err.contains("256"), "{err}");
    }

    #[test]
    fn a_signature_that_does_not_verify_is_refused_until_one_does() {
        let key = crate::PrivateKey::parse(ES256).unwrap();
        let check = check(Algorithm::Es256, Some(key.public_key()));
        assert!(matches!(form(&check, vec![1; 64]), Err(SignerError::NotVerified { .. })));
        let good = key.sign(b"input").unwrap().as_ref().to_vec();
        assert!(form(&check, good).is_ok());
        // Verified once: later signatures are checked for their form only.
        assert!(form(&check, vec![1; 64]).is_ok());
    }

    #[test]
    fn no_answer_is_a_timeout_and_a_failure_keeps_its_reason_and_retryability() {
        let check = check(Algorithm::Es256, None);
        let timed_out = check.accept(b"input", None, Duration::from_millis(250)).unwrap_err();
        assert!(timed_out.to_string().contains("250 ms"), "{timed_out}");
        assert!(timed_out.is_retryable());
        let failed =
            check.accept(b"input", Some(Err(SignFailure::retryable("busy\u{1b}[2J"))), Duration::ZERO).unwrap_err();
        assert!(failed.is_retryable());
        assert!(!failed.to_string().contains('\u{1b}'), "the reason is cleaned for display: {failed}");
    }

    #[test]
    fn a_public_key_of_another_type_refuses_every_signature() {
        let rsa = crate::PrivateKey::parse_with_algorithm(RSA, Algorithm::Ps256).unwrap().public_key();
        let check = check(Algorithm::Es256, Some(rsa));
        assert!(matches!(check.mismatch(), Some(SignerError::PublicKeyMismatch { key_kind: "RSA", .. })));
        assert!(matches!(form(&check, vec![1; 64]), Err(SignerError::PublicKeyMismatch { .. })));
    }
}
