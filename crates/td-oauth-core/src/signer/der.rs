//! [`ecdsa_der_to_jose`]: the DER `ECDSA-Sig-Value` most KMSs, HSM tools and OpenSSL return, turned into the
//! fixed `r‖s` form a JWS carries (RFC 7518 §3.4).

use der::asn1::{AnyRef, UintRef};
use der::{Decode as _, Reader as _, SliceReader, Tag, Tagged as _};

use super::SignFailure;
use crate::Algorithm;

/// Converts a DER `ECDSA-Sig-Value` (`SEQUENCE { r INTEGER, s INTEGER }`) to JOSE's fixed `r‖s` form for
/// `algorithm` (64, 96 or 132 bytes), for a signer whose backend returns DER (AWS KMS, Google Cloud KMS,
/// Azure Key Vault's raw API, Vault transit without `marshaling_algorithm=jws`).
///
/// ```
/// use td_oauth_core::Algorithm;
/// use td_oauth_core::signer::ecdsa_der_to_jose;
///
/// // SEQUENCE { INTEGER 1, INTEGER 2 }
/// let jose = ecdsa_der_to_jose(Algorithm::Es256, &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02])?;
/// assert_eq!(jose.len(), 64);
/// assert_eq!((jose[31], jose[63]), (1, 2));
/// # Ok::<(), td_oauth_core::signer::SignFailure>(())
/// ```
pub fn ecdsa_der_to_jose(algorithm: Algorithm, der: &[u8]) -> Result<Vec<u8>, SignFailure> {
    let width = algorithm.component_len();
    if width == 0 {
        return Err(SignFailure::new(format!("{algorithm} is not an ECDSA algorithm")));
    }
    let refuse = || SignFailure::new("the signature is not a DER ECDSA-Sig-Value (SEQUENCE of two INTEGERs)");
    let outer = AnyRef::from_der(der).map_err(|_| refuse())?;
    if outer.tag() != Tag::Sequence {
        return Err(refuse());
    }
    let mut fields = SliceReader::new(outer.value()).map_err(|_| refuse())?;
    let r = fields.decode::<UintRef<'_>>().map_err(|_| refuse())?;
    let s = fields.decode::<UintRef<'_>>().map_err(|_| refuse())?;
    if !fields.is_finished() {
        return Err(refuse());
    }
    let mut jose = vec![0u8; 2 * width];
    for (half, value) in jose.chunks_mut(width).zip([r.as_bytes(), s.as_bytes()]) {
        let start = width.checked_sub(value.len()).ok_or_else(|| {
            SignFailure::new(format!("the signature's r or s is longer than {algorithm}'s {width} bytes"))
        })?;
        half[start..].copy_from_slice(value);
    }
    Ok(jose)
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{self as sig, EcdsaKeyPair, KeyPair as _};

    use super::*;

    #[test]
    fn a_der_signature_converts_to_one_that_verifies_in_fixed_form() {
        let rng = SystemRandom::new();
        for (alg, signing, verifying) in [
            (Algorithm::Es256, &sig::ECDSA_P256_SHA256_ASN1_SIGNING, &sig::ECDSA_P256_SHA256_FIXED),
            (Algorithm::Es384, &sig::ECDSA_P384_SHA384_ASN1_SIGNING, &sig::ECDSA_P384_SHA384_FIXED),
        ] {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(signing, &rng).unwrap();
            let pair = EcdsaKeyPair::from_pkcs8(signing, pkcs8.as_ref(), &rng).unwrap();
            // Many signatures, so that short r and s (leading zero bytes dropped in DER) come up.
            for _ in 0..64 {
                let der = pair.sign(&rng, b"input").unwrap();
                let jose = ecdsa_der_to_jose(alg, der.as_ref()).unwrap();
                assert_eq!(jose.len(), 2 * alg.component_len());
                sig::UnparsedPublicKey::new(verifying, pair.public_key().as_ref()).verify(b"input", &jose).unwrap();
            }
        }
    }

    #[test]
    fn what_is_not_an_ecdsa_sig_value_of_the_curve_is_refused() {
        // INTEGER r of 33 significant bytes: too long for P-256.
        let mut long = vec![0x30, 0x26, 0x02, 0x21];
        long.extend([0x7f; 33]);
        long.extend([0x02, 0x01, 0x01]);
        let err = ecdsa_der_to_jose(Algorithm::Es256, &long).unwrap_err();
        assert!(err.reason().contains("longer than"), "{err}");
        for bad in [&[][..], &[0x30, 0x00], &[0x04, 0x02, 0x01, 0x01], &[0x30, 0x03, 0x02, 0x01, 0x01]] {
            assert!(ecdsa_der_to_jose(Algorithm::Es256, bad).is_err(), "{bad:?}");
        }
        let trailing = [0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02, 0x02, 0x01, 0x03];
        assert!(ecdsa_der_to_jose(Algorithm::Es256, &trailing).is_err());
        assert!(ecdsa_der_to_jose(Algorithm::Ps256, &[0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02]).is_err());
    }
}
