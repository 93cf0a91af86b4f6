//! Strings that must never reach a log: redacted `Debug`, no `Display`, wiped on drop.

use zeroize::Zeroizing;

/// Declares a secret string type. Reading the value takes an explicit, greppable `.secret()`.
macro_rules! secret_string {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        ///
        /// `Debug` prints only the length; there is no `Display`; the bytes are zeroed on drop.
        #[derive(Clone)]
        pub struct $name(Zeroizing<String>);

        impl $name {
            /// Wraps a secret value.
            pub fn new(value: impl Into<String>) -> Self {
                Self(Zeroizing::new(value.into()))
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
}
