//! OAuth scopes: `resource:action` strings such as `users:read`, sent space-separated.

use std::fmt;
use std::str::FromStr;

use crate::Error;
use crate::text::excerpt;

/// A set of scopes, kept in the order given, without duplicates. Empty means "all the client may have".
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scopes(String);

impl Scopes {
    /// No scopes: the server grants everything the client is allowed.
    pub fn none() -> Self {
        Scopes(String::new())
    }

    /// Checks each scope against RFC 6749's character set (printable ASCII except space, `"` and `\`).
    pub fn new<I, S>(scopes: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut joined = String::new();
        for scope in scopes {
            let scope = scope.as_ref();
            check_scope(scope)?;
            if !joined.split(' ').any(|seen| seen == scope) {
                if !joined.is_empty() {
                    joined.push(' ');
                }
                joined.push_str(scope);
            }
        }
        Ok(Scopes(joined))
    }

    /// The space-separated form sent in `scope`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether no scope was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes one by one.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    /// Whether `scope` is one of them.
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|s| s == scope)
    }
}

fn check_scope(scope: &str) -> Result<(), Error> {
    let refuse =
        |reason: &str| Error::InvalidParameter { field: "scope", reason: format!("{:?} {reason}", excerpt(scope)) };
    if scope.is_empty() {
        return Err(refuse("is empty"));
    }
    if scope.bytes().any(|b| b == b' ') {
        return Err(refuse("contains a space; pass each scope separately"));
    }
    if !scope.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)) {
        return Err(refuse("contains a character OAuth scopes cannot hold (controls, `\"`, `\\` or non-ASCII)"));
    }
    Ok(())
}

impl FromStr for Scopes {
    type Err = Error;

    /// Parses space- (or comma-) separated scopes, e.g. `"users:read apps:read"`.
    fn from_str(text: &str) -> Result<Self, Error> {
        Scopes::new(text.split(|c: char| c.is_ascii_whitespace() || c == ',').filter(|s| !s.is_empty()))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_deduplicates() {
        let scopes: Scopes = "users:read  apps:read,users:read".parse().unwrap();
        assert_eq!(scopes.as_str(), "users:read apps:read");
        assert!(scopes.contains("apps:read"));
        assert_eq!("".parse::<Scopes>().unwrap(), Scopes::none());
    }

    #[test]
    fn refuses_bad_characters() {
        for bad in ["a\"b", "a\\b", "naïve", "tab\there"] {
            assert!(Scopes::new([bad]).is_err(), "{bad}");
        }
        assert!(Scopes::new(["a b"]).unwrap_err().to_string().contains("separately"));
    }
}
