//! Event data kept as sent (a type this crate does not know, `app.updated`'s lists, the trials' `data`),
//! behind a `Debug` that shows no secret: an unknown event may carry credentials this crate cannot name.

use std::fmt;
use std::ops::Deref;

use serde_json::Value;

/// A piece of an event's JSON, as sent. Read it through [`Deref`] (`raw["name"]`, `raw.as_str()`) or
/// [`into_value`](Self::into_value); its `Debug`, and so that of every [`Event`](crate::Event),
/// [`Delivery`](crate::Delivery) and [`Lifecycle`](crate::Lifecycle) holding it, prints it with every
/// secret-looking value replaced by `"<redacted>"`, at any depth.
///
/// **The rule.** A member is secret-looking when its key, lowercased and with every character other than a
/// letter or a digit removed, ends with one of [`SECRET_KEY_SUFFIXES`] (`client_secret`, `private_key`,
/// `api-key`, `accessToken`, `refresh_token`, `assertion`, `auth_code`, `PIN`, `password`, …); its whole
/// value goes, whatever its type. A string value holding `PRIVATE KEY-----` (a PEM private key) goes under
/// any key. The rule errs towards hiding: `zip_code` and `monkey` are hidden too, which costs a `Debug`
/// line nothing.
///
/// ```
/// use td_oauth_partner::RawJson;
///
/// let raw = RawJson::from(serde_json::json!({ "name": "acme", "oauth": { "Client-Secret": "s3cr3t" } }));
/// assert_eq!(raw["oauth"]["Client-Secret"], "s3cr3t");
/// assert_eq!(format!("{raw:?}"), r#"RawJson({"name":"acme","oauth":{"Client-Secret":"<redacted>"}})"#);
/// ```
#[derive(Clone, PartialEq, Eq, Default)]
pub struct RawJson(Value);

/// The key endings [`RawJson`]'s `Debug` treats as naming a secret (compared with the key lowercased, its
/// characters other than letters and digits removed).
pub const SECRET_KEY_SUFFIXES: &[&str] = &[
    "secret",
    "key",
    "password",
    "passwd",
    "passphrase",
    "token",
    "assertion",
    "code",
    "pin",
    "credential",
    "credentials",
    "signature",
    "jwt",
    "cookie",
    "authorization",
];

impl RawJson {
    /// The JSON, as sent.
    pub fn into_value(self) -> Value {
        self.0
    }

    /// A copy with every secret-looking value replaced (what `Debug` prints).
    pub fn redacted(&self) -> Value {
        redacted(&self.0)
    }
}

impl From<Value> for RawJson {
    fn from(value: Value) -> Self {
        RawJson(value)
    }
}

impl Deref for RawJson {
    type Target = Value;

    fn deref(&self) -> &Value {
        &self.0
    }
}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawJson({})", self.redacted())
    }
}

/// Whether a member named `key` holds a secret, by [`RawJson`]'s rule.
pub fn is_secret_key(key: &str) -> bool {
    let folded: String = key.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    SECRET_KEY_SUFFIXES.iter().any(|suffix| folded.ends_with(suffix))
}

const HIDDEN: &str = "<redacted>";

fn redacted(value: &Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .iter()
                .map(|(key, value)| {
                    let shown = if is_secret_key(key) { Value::String(HIDDEN.into()) } else { redacted(value) };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redacted).collect()),
        Value::String(text) if text.contains("PRIVATE KEY-----") => Value::String(HIDDEN.into()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn secret_looking_members_are_hidden_at_any_depth() {
        let raw = RawJson::from(json!({
            "client_secret": "cs-1", "privateKey": { "pem": "pk-1" }, "API-KEY": "ak-1", "Password": "pw-1",
            "nested": [{ "access_token": "at-1", "refreshToken": "rt-1", "assertion": "as-1", "auth_code": "ac-1" }],
            "deep": { "deeper": { "pin": "pi-1", "x": ["-----BEGIN PRIVATE KEY-----\npk-2\n-----END PRIVATE KEY-----"] } },
            "name": "acme", "client_id": "visible-id", "count": 3,
        }));
        let shown = format!("{raw:?}");
        for secret in ["cs-1", "pk-1", "ak-1", "pw-1", "at-1", "rt-1", "as-1", "ac-1", "pi-1", "pk-2"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("acme") && shown.contains("visible-id") && shown.contains("\"count\":3"), "{shown}");
        assert_eq!(raw["nested"][0]["access_token"], "at-1", "the value itself is kept");
        for key in ["client_id", "key_id", "name", "installation_id", "users"] {
            assert!(!is_secret_key(key), "{key}");
        }
    }
}
