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
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
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
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }

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

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self::new(value)
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
    AccessToken
);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_secret() {
        let value = "s3cr3t-value-that-must-not-leak";
        let printed = [
            format!("{:?}", ClientSecret::new(value)),
            format!("{:?}", AccessToken::new(value)),
            format!("{:?}", RefreshToken::new(value)),
            format!("{:?}", IdToken::new(value)),
            format!("{:?}", AuthorizationCode::new(value)),
            format!("{:#?}", PkceVerifier::new(value)),
        ];
        for text in printed {
            assert!(!text.contains(value), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
        assert_eq!(AccessToken::new(value).secret(), value);
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
