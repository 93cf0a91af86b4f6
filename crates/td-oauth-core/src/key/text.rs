//! The key parser's lenient text front end: PEM blocks (among certificates and curve parameters), Base64
//! at any wrapping, surrounding quotes, literal `\n` escapes and a byte-order mark, down to DER bytes.

use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use super::KeyError;
use super::malformed;

/// The PEM labels of the private key containers the parser reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PemLabel {
    Pkcs8,
    Sec1,
    Pkcs1,
}

impl PemLabel {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            PemLabel::Pkcs8 => "PRIVATE KEY",
            PemLabel::Sec1 => "EC PRIVATE KEY",
            PemLabel::Pkcs1 => "RSA PRIVATE KEY",
        }
    }
}

/// DER bytes (wiped on drop) and the PEM label they came under, if any.
pub(super) struct Decoded {
    pub(super) der: Zeroizing<Vec<u8>>,
    pub(super) label: Option<PemLabel>,
}

/// Decodes pasted key text, PEM or bare Base64, to DER.
pub(super) fn decode(text: &str) -> Result<Decoded, KeyError> {
    let text = unquote(text.trim_start_matches('\u{feff}').trim());
    if text.is_empty() {
        return Err(malformed("the key is empty"));
    }
    // Keys pasted into environment variables or JSON often carry literal `\n` instead of line breaks.
    let unescaped;
    let text = if text.contains("\\n") {
        unescaped = Zeroizing::new(text.replace("\\r", "").replace("\\n", "\n"));
        unescaped.as_str()
    } else {
        text
    };
    if text.contains("-----BEGIN") {
        return decode_pem(text);
    }
    if text.starts_with(['"', '\'']) || text.ends_with(['"', '\'']) {
        return Err(malformed("the key starts or ends with a stray quote mark; remove the quotes around it"));
    }
    Ok(Decoded { der: decode_base64(text)?, label: None })
}

/// Whether bytes handed over as binary DER are text instead: PEM, or Base64 (DER keys start with 0x30).
pub(super) fn looks_like_text(bytes: &[u8]) -> bool {
    if bytes.first() == Some(&0x30) {
        return false;
    }
    std::str::from_utf8(bytes).is_ok_and(|text| {
        let text = text.trim();
        !text.is_empty()
            && (text.contains("-----BEGIN")
                || text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=-_\"'\\".contains(&b) || b.is_ascii_whitespace()))
    })
}

/// The text inside one pair of matching quotes (`"…"` or `'…'`), or the text itself.
fn unquote(text: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|rest| rest.strip_suffix(quote)) {
            return inner.trim();
        }
    }
    text
}

/// Finds the one private key block of a PEM document, skipping certificates, public keys and curve
/// parameters around it, and decodes its Base64 body.
fn decode_pem(text: &str) -> Result<Decoded, KeyError> {
    let mut key = None;
    let mut keys = 0;
    // What to say if no private key turns up: the first other block seen.
    let mut instead = None;
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let label_end = after.find("-----").ok_or_else(|| malformed("a PEM `-----BEGIN` line is not closed"))?;
        let label = &after[..label_end];
        let body_and_rest = &after[label_end + 5..];
        let end_marker = format!("-----END {label}-----");
        let body_end = body_and_rest.find(&end_marker).ok_or_else(|| {
            malformed(format!(
                "the PEM block `{}` has no `{end_marker}` line; the key is truncated",
                crate::text::excerpt(label)
            ))
        })?;
        let body = &body_and_rest[..body_end];
        rest = &body_and_rest[body_end + end_marker.len()..];
        let kind = match label {
            "PRIVATE KEY" => PemLabel::Pkcs8,
            "EC PRIVATE KEY" => PemLabel::Sec1,
            "RSA PRIVATE KEY" => PemLabel::Pkcs1,
            "ENCRYPTED PRIVATE KEY" => return Err(KeyError::Encrypted),
            "OPENSSH PRIVATE KEY" => {
                return Err(KeyError::Unsupported {
                    reason: "OpenSSH key format; convert it with `ssh-keygen -p -m PKCS8 -f KEYFILE`".into(),
                });
            }
            // `openssl ecparam -genkey` writes the curve in its own block before the key.
            "EC PARAMETERS" => continue,
            // A certificate chain or a public key next to the key, as TLS bundles have.
            "CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                instead.get_or_insert(KeyError::NotAPrivateKey { found: "certificate" });
                continue;
            }
            "PUBLIC KEY" | "RSA PUBLIC KEY" | "EC PUBLIC KEY" => {
                instead.get_or_insert(KeyError::NotAPrivateKey { found: "public key" });
                continue;
            }
            other => {
                instead.get_or_insert(KeyError::Unsupported {
                    reason: format!("PEM block `{}` is not a private key", crate::text::excerpt(other)),
                });
                continue;
            }
        };
        keys += 1;
        key.get_or_insert((kind, body));
    }
    match key {
        Some(_) if keys > 1 => Err(malformed(format!(
            "the PEM text holds {keys} private keys; keep only the one registered for this client"
        ))),
        Some((label, body)) => {
            // Traditional OpenSSL encryption puts headers in the block.
            if body.contains("Proc-Type:") || body.contains("DEK-Info:") {
                return Err(KeyError::Encrypted);
            }
            Ok(Decoded { der: decode_base64(body)?, label: Some(label) })
        }
        None => Err(instead.unwrap_or_else(|| malformed("no PEM private key block was found"))),
    }
}

/// Decodes Base64 (standard or URL-safe, padded or not) after dropping all whitespace.
fn decode_base64(text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    const STANDARD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    const URL_SAFE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    use base64::Engine as _;
    let compact: Zeroizing<Vec<u8>> = Zeroizing::new(text.bytes().filter(|b| !b.is_ascii_whitespace()).collect());
    if compact.is_empty() {
        return Err(malformed("the key is empty"));
    }
    let engine = if compact.iter().any(|&b| b == b'-' || b == b'_') { &URL_SAFE } else { &STANDARD };
    let mut out = Zeroizing::new(Vec::with_capacity(compact.len() / 4 * 3 + 3));
    engine.decode_vec(&compact[..], &mut out).map_err(|err| {
        use base64::DecodeError::*;
        // Positions are safe to show; the offending bytes are not.
        match err {
            InvalidByte(pos, _) => malformed(format!(
                "the key is neither PEM nor Base64: unexpected character at position {pos} of the Base64 text"
            )),
            InvalidLength(_) | InvalidLastSymbol { .. } | InvalidPadding => {
                malformed("the Base64 text ends in the middle of a byte; the key is truncated or has extra characters")
            }
        }
    })?;
    Ok(out)
}
