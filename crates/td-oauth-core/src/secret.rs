//! Strings that must never reach a log: redacted `Debug`, no `Display`, wiped on drop.

use zeroize::Zeroize;

/// Wipes `text`'s whole allocation, spare capacity included. Through `[u8]` rather than `String`'s own
/// `Zeroize`, which writes one volatile byte at a time: this way `zeroize` clears the bytes in bulk behind an
/// optimisation barrier (a kilobyte-long access token costs tens of nanoseconds, not hundreds).
pub(crate) fn wipe(text: &mut String) {
    let mut bytes = std::mem::take(text).into_bytes();
    bytes.as_mut_slice().zeroize();
    bytes.spare_capacity_mut().zeroize();
}

/// Declares a secret string type. Reading the value takes an explicit, greppable `.secret()`.
/// `secret_string!(Name)` also gives it an infallible `new` and `From<String>`; `secret_string!(checked
/// Name)` leaves the constructor to the type (one that checks the value).
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        secret_string!($(#[$doc])* checked $name);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
            }
        }
    };
    ($(#[$doc:meta])* checked $name:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints only the length; there is no `Display`; the bytes are zeroed on drop.
        #[derive(Clone)]
        pub struct $name(String);

        impl Drop for $name {
            fn drop(&mut self) {
                wipe(&mut self.0);
            }
        }

        impl $name {
            /// The secret itself. Call this only where the value must be sent.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "(<redacted, {} bytes>)"), self.0.len())
            }
        }

    };
}

secret_string!(
    /// A client secret for HTTP Basic client authentication.
    ClientSecret
);
secret_string!(
    /// An OAuth access token, sent as `Authorization: Bearer …` to Talkdesk's APIs.
    ///
    /// Made only through [`AccessToken::new`], which checks it: whatever it comes from (a token response, a
    /// cache, a file, the caller), an access token is an RFC 6750 `b64token`, so it can neither inject a
    /// header nor put a terminal escape on a screen.
    checked AccessToken
);

impl AccessToken {
    /// Wraps an access token after checking it against RFC 6750 §2.1's `b64token` (letters, digits,
    /// `-._~+/`, then optional trailing `=`), the syntax of every Bearer token. The error says which byte is
    /// wrong and what kind of character it is, never the token.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidToken> {
        // Wrapped first, so that a refused value is wiped like an accepted one.
        let token = AccessToken(value.into());
        check_token("access_token", &token.0, TokenSyntax::B64Token)?;
        Ok(token)
    }
}

/// A token refused because it breaks its RFC's grammar (see [`AccessToken::new`]). The message names the
/// field, the offending byte's position and kind, and the rule; never the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct InvalidToken {
    reason: String,
}

secret_string!(
    /// A refresh token, exchanged for a new access token with the refresh-token grant.
    RefreshToken
);
secret_string!(
    /// An OpenID Connect ID token (authorization-code flow with scope `openid`).
    IdToken
);
secret_string!(
    /// An authorization code from the authorize redirect, exchanged once for tokens.
    AuthorizationCode
);
secret_string!(
    /// A PKCE code verifier (RFC 7636), kept by the client between authorize and exchange.
    PkceVerifier
);

impl PkceVerifier {
    /// Checks the verifier against RFC 7636 §4.1: 43 to 128 characters, each a letter, a digit or one of
    /// `-._~`. Token requests refuse a verifier that fails this before anything is sent; the message never
    /// quotes the verifier.
    pub fn check(&self) -> Result<(), crate::Error> {
        let refuse = |reason: String| crate::Error::InvalidParameter { field: "PKCE code verifier", reason };
        let bytes = self.0.as_bytes();
        if let Some(at) = bytes.iter().position(|b| !(b.is_ascii_alphanumeric() || b"-._~".contains(b))) {
            return Err(refuse(format!(
                "byte {at} is not a letter, digit or one of -._~, the only characters RFC 7636 §4.1 allows; \
                 use the verifier exactly as `authorize-url --pkce` or the authorize request produced it"
            )));
        }
        if !(43..=128).contains(&bytes.len()) {
            return Err(refuse(format!(
                "it is {} characters long; RFC 7636 §4.1 requires 43 to 128 (was it cut or padded?)",
                bytes.len()
            )));
        }
        Ok(())
    }
}

/// Which RFC grammar a token must follow.
#[derive(Clone, Copy)]
pub(crate) enum TokenSyntax {
    /// RFC 6750 §2.1 `b64token`: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`, what a
    /// Bearer access token is.
    B64Token,
    /// RFC 6749 Appendix A `1*VSCHAR` (%x20-7E): what a refresh token is.
    Vschar,
}

/// Checks a token against its grammar. The message says which byte is wrong and what kind
/// of character it is, never the token.
pub(crate) fn check_token(field: &str, token: &str, syntax: TokenSyntax) -> Result<(), InvalidToken> {
    let refuse = |reason: String| InvalidToken { reason };
    let bytes = token.as_bytes();
    let (allowed, rule): (fn(u8) -> bool, &str) = match syntax {
        TokenSyntax::B64Token => {
            (b64token_byte, "RFC 6750 allows a Bearer token only letters, digits and -._~+/, then optional trailing =")
        }
        TokenSyntax::Vschar => (vschar_byte, "RFC 6749 allows only printable ASCII"),
    };
    // b64token's trailing padding; VSCHAR has no such part.
    let padding = match syntax {
        TokenSyntax::B64Token => bytes.iter().rev().take_while(|&&b| b == b'=').count(),
        TokenSyntax::Vschar => 0,
    };
    if bytes.is_empty() {
        return Err(refuse(format!("{field} is empty")));
    }
    let head = &bytes[..bytes.len() - padding];
    if head.is_empty() {
        return Err(refuse(format!("{field} is only `=` padding ({rule})")));
    }
    // The whole token is checked without an early exit, which the compiler turns into vector code; only a
    // refused token is walked again to say where.
    let valid = match syntax {
        TokenSyntax::B64Token => head.iter().fold(true, |ok, &b| ok & b64token_byte(b)),
        TokenSyntax::Vschar => head.iter().fold(true, |ok, &b| ok & vschar_byte(b)),
    };
    if valid {
        return Ok(());
    }
    match head.iter().position(|&b| !allowed(b)) {
        None => Ok(()),
        Some(at) => {
            let kind = match head[at] {
                b if b < 0x20 || b == 0x7f => "a control character",
                b' ' => "a space",
                b'=' => "a `=` that is not trailing padding",
                b if b >= 0x80 => "a non-ASCII character",
                _ => "a punctuation character",
            };
            Err(refuse(format!(
                "{field} holds {kind} at byte {at}; {rule}, so it was refused rather than put in a header or printed"
            )))
        }
    }
}

/// A byte of RFC 6749's `VSCHAR`: printable ASCII.
#[inline(always)]
fn vschar_byte(b: u8) -> bool {
    b.wrapping_sub(0x20) < 0x5f
}

/// A byte of RFC 6750's `b64token` (padding aside), written without branches.
#[inline(always)]
fn b64token_byte(b: u8) -> bool {
    // `| 0x20` folds A-Z onto a-z and maps no other byte into a-z.
    ((b | 0x20).wrapping_sub(b'a') < 26)
        | (b.wrapping_sub(b'0') < 10)
        | (b == b'-')
        | (b == b'.')
        | (b == b'_')
        | (b == b'~')
        | (b == b'+')
        | (b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let value = "s3cr3t-value-that-must-not-leak";
        let printed = [
            format!("{:?}", ClientSecret::new(value)),
            format!("{:?}", AccessToken::new(value).unwrap()),
            format!("{:?}", RefreshToken::new(value)),
            format!("{:?}", IdToken::new(value)),
            format!("{:?}", AuthorizationCode::new(value)),
            format!("{:#?}", PkceVerifier::new(value)),
        ];
        for text in printed {
            assert!(!text.contains(value), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
        assert_eq!(AccessToken::new(value).unwrap().secret(), value);
    }

    #[test]
    fn every_access_token_is_checked_when_it_is_made() {
        for ok in ["eyJhbGciOiJFUzI1NiJ9.e30.c2ln", "a-._~+/Z09", "abc==", "x"] {
            assert_eq!(AccessToken::new(ok).unwrap().secret(), ok);
        }
        let secret_part = "s3cretpart";
        for (bad, says) in [
            (format!("{secret_part}\r\nX-Injected: 1"), "a control character at byte 10"),
            (format!("{secret_part}\u{1b}[2J"), "a control character at byte 10"),
            (format!("{secret_part} more"), "a space at byte 10"),
            (format!("{secret_part}=x"), "a `=` that is not trailing padding at byte 10"),
            (format!("{secret_part}\u{202e}"), "a non-ASCII character at byte 10"),
            (format!("{secret_part}\""), "a punctuation character at byte 10"),
            ("==".to_owned(), "only `=` padding"),
            (String::new(), "access_token is empty"),
        ] {
            let err = AccessToken::new(bad.clone()).map(|_| ()).unwrap_err().to_string();
            assert!(err.contains(says), "{bad:?}: {err}");
            assert!(!err.contains(secret_part), "{err}");
        }
    }

    #[test]
    fn pkce_verifiers_follow_rfc_7636() {
        for ok in ["a".repeat(43), "Z".repeat(128), format!("{}-._~", "0".repeat(40))] {
            assert!(PkceVerifier::new(ok.clone()).check().is_ok(), "{ok}");
        }
        let secret_part = "s3cretverifier";
        for (bad, says) in [
            (format!("{secret_part}{}", "a".repeat(28)), "42 characters"),
            ("a".repeat(129), "129 characters"),
            (String::new(), "0 characters"),
            (format!("{secret_part}+{}", "a".repeat(40)), "byte 14"),
            (format!("{secret_part} {}", "a".repeat(40)), "byte 14"),
            (format!("{secret_part}\u{e9}{}", "a".repeat(40)), "byte 14"),
        ] {
            let err = PkceVerifier::new(bad.clone()).check().unwrap_err().to_string();
            assert!(err.contains(says) && err.contains("RFC 7636"), "{bad:?}: {err}");
            assert!(!err.contains(secret_part), "{err}");
        }
    }
}
