//! RFC 7512 `pkcs11:` URIs: which token, and which private key on it.
//!
//! `pkcs11:token=td;object=app-key`, `pkcs11:model=SoftHSM%20v2;id=%01%02;type=private`. Path attributes
//! are separated by `;`, query attributes (after `?`) by `&`; values are percent-decoded. The token is
//! matched by `token`, `manufacturer`, `model`, `serial` and `slot-id`; the key by `object` (its
//! `CKA_LABEL`) and `id` (its `CKA_ID`, raw bytes). `type` may only be `private`. Library attributes
//! (`library-manufacturer`, `library-description`, `library-version`) and `slot-description` /
//! `slot-manufacturer` are checked against the loaded module and slot.
//!
//! Query attributes: `module-path` names the module (it must agree with one given separately);
//! `pin-value` and `pin-source` are refused, because a URI is typed on command lines and kept in
//! configuration files: the PIN comes from [`Pin`](crate::Pin) instead. `module-name` is refused (it
//! needs a platform search path; give the module's path). An attribute this crate does not know is refused,
//! so that a misspelt `objekt=` never silently matches every key.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

use crate::error::Pkcs11Error;

/// The longest URI accepted: RFC 7512 sets no limit, and a real one is well under a kilobyte.
const MAX_URI_LEN: usize = 4096;

/// A parsed `pkcs11:` URI naming one private key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pkcs11Uri {
    pub(crate) token: Option<String>,
    pub(crate) manufacturer: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) serial: Option<String>,
    pub(crate) slot_id: Option<u64>,
    pub(crate) slot_description: Option<String>,
    pub(crate) slot_manufacturer: Option<String>,
    pub(crate) library_manufacturer: Option<String>,
    pub(crate) library_description: Option<String>,
    pub(crate) library_version: Option<(u8, u8)>,
    pub(crate) object: Option<String>,
    pub(crate) id: Option<Vec<u8>>,
    pub(crate) module_path: Option<PathBuf>,
}

impl Pkcs11Uri {
    /// Parses `text`. Errors say which attribute is wrong and never repeat a `pin-value`.
    pub fn parse(text: &str) -> Result<Pkcs11Uri, Pkcs11Error> {
        let text = text.trim();
        if text.len() > MAX_URI_LEN {
            return Err(invalid(format!("it is longer than {MAX_URI_LEN} characters")));
        }
        let Some(rest) = text.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("pkcs11:")).map(|_| &text[7..])
        else {
            return Err(invalid("it does not start with `pkcs11:` (e.g. pkcs11:token=td;object=app-key)".into()));
        };
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Pkcs11Uri::default();
        for attribute in path.split(';').filter(|a| !a.is_empty()) {
            uri.path_attribute(attribute)?;
        }
        for attribute in query.split('&').filter(|a| !a.is_empty()) {
            uri.query_attribute(attribute)?;
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(invalid(
                "it names no key: add `object=LABEL` (the key's label) or `id=%01…` (its CKA_ID), or both".into(),
            ));
        }
        Ok(uri)
    }

    fn path_attribute(&mut self, attribute: &str) -> Result<(), Pkcs11Error> {
        let (name, value) = attribute
            .split_once('=')
            .ok_or_else(|| invalid(format!("the attribute {:?} has no `=`", shown(attribute))))?;
        let name = name.to_ascii_lowercase();
        let bytes = decode(&name, value)?;
        let text = || {
            String::from_utf8(bytes.clone())
                .map_err(|_| invalid(format!("the value of `{name}` is not UTF-8 once percent-decoded")))
        };
        let slot = match name.as_str() {
            "token" => &mut self.token,
            "manufacturer" => &mut self.manufacturer,
            "model" => &mut self.model,
            "serial" => &mut self.serial,
            "object" => &mut self.object,
            "slot-description" => &mut self.slot_description,
            "slot-manufacturer" => &mut self.slot_manufacturer,
            "library-manufacturer" => &mut self.library_manufacturer,
            "library-description" => &mut self.library_description,
            "id" => return set_once(&mut self.id, &name, bytes),
            "slot-id" => {
                let id = text()?
                    .parse()
                    .map_err(|_| invalid("`slot-id` must be a decimal number (e.g. slot-id=0)".into()))?;
                return set_once(&mut self.slot_id, &name, id);
            }
            "library-version" => {
                let version = parse_version(&text()?)?;
                return set_once(&mut self.library_version, &name, version);
            }
            "type" => {
                return match text()?.as_str() {
                    "private" => Ok(()),
                    other => Err(invalid(format!(
                        "`type={}` names no private key; a signing key is `type=private` (or leave `type` out)",
                        shown(other)
                    ))),
                };
            }
            _ => {
                return Err(invalid(format!(
                    "the attribute `{}` is not one this crate matches (token, manufacturer, model, serial, slot-id, \
                     slot-description, slot-manufacturer, library-manufacturer, library-description, \
                     library-version, object, id, type)",
                    shown(&name)
                )));
            }
        };
        set_once(slot, &name, text()?)
    }

    fn query_attribute(&mut self, attribute: &str) -> Result<(), Pkcs11Error> {
        let (name, value) = attribute.split_once('=').unwrap_or((attribute, ""));
        match name.to_ascii_lowercase().as_str() {
            // The value is never shown: it is a PIN.
            "pin-value" => Err(invalid(
                "it carries `pin-value`: a PIN in a URI ends up on command lines and in configuration files; \
                 remove it and give the PIN from a file (--pin-file) or the environment (TALKDESK_PKCS11_PIN)"
                    .into(),
            )),
            "pin-source" => Err(invalid(
                "it carries `pin-source`: give the PIN file to td-oauth instead (--pin-file, or Pin::from_file)".into(),
            )),
            "module-name" => Err(invalid(
                "`module-name` needs a library search path this crate does not guess: give the module's full \
                 path (--pkcs11-module, or `module-path=` in the URI)"
                    .into(),
            )),
            "module-path" => {
                let path = String::from_utf8(decode("module-path", value)?)
                    .map_err(|_| invalid("the value of `module-path` is not UTF-8 once percent-decoded".into()))?;
                set_once(&mut self.module_path, "module-path", PathBuf::from(path))
            }
            other => Err(invalid(format!(
                "the query attribute `{}` is not one this crate knows (module-path)",
                shown(other)
            ))),
        }
    }

    /// The token label (`token=`), if given.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// The key's label (`object=`), if given.
    pub fn object(&self) -> Option<&str> {
        self.object.as_deref()
    }

    /// The key's `CKA_ID` (`id=`), if given.
    pub fn id(&self) -> Option<&[u8]> {
        self.id.as_deref()
    }

    /// The module named by `module-path=`, if given.
    pub fn module_path(&self) -> Option<&std::path::Path> {
        self.module_path.as_deref()
    }

    /// What the URI names, for messages: `the key "app-key" (id 01) on the token "td"`.
    pub fn describe_key(&self) -> String {
        let mut text = String::from("the key");
        if let Some(object) = &self.object {
            text.push_str(&format!(" {:?}", shown(object)));
        }
        if let Some(id) = &self.id {
            text.push_str(&format!(" (id {})", hex(id)));
        }
        text.push_str(" on ");
        text.push_str(&self.describe_token());
        text
    }

    /// The token part, for messages: `the token "td"`, or `any token` when the URI does not narrow it.
    pub fn describe_token(&self) -> String {
        let mut parts = Vec::new();
        if let Some(token) = &self.token {
            parts.push(format!("{:?}", shown(token)));
        }
        if let Some(serial) = &self.serial {
            parts.push(format!("serial {:?}", shown(serial)));
        }
        if let Some(model) = &self.model {
            parts.push(format!("model {:?}", shown(model)));
        }
        if let Some(manufacturer) = &self.manufacturer {
            parts.push(format!("manufacturer {:?}", shown(manufacturer)));
        }
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot {slot}"));
        }
        if parts.is_empty() { "any token".into() } else { format!("the token {}", parts.join(", ")) }
    }
}

/// Shows what the URI names (never a PIN: a URI with one is refused when parsed).
impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe_key())
    }
}

impl std::str::FromStr for Pkcs11Uri {
    type Err = Pkcs11Error;

    fn from_str(text: &str) -> Result<Self, Pkcs11Error> {
        Pkcs11Uri::parse(text)
    }
}

fn invalid(reason: String) -> Pkcs11Error {
    Pkcs11Error::InvalidUri { reason }
}

fn set_once<T>(slot: &mut Option<T>, name: &str, value: T) -> Result<(), Pkcs11Error> {
    if slot.is_some() {
        return Err(invalid(format!("`{name}` is given twice")));
    }
    *slot = Some(value);
    Ok(())
}

fn decode(name: &str, value: &str) -> Result<Vec<u8>, Pkcs11Error> {
    // percent_decode passes a stray `%` through as it is; RFC 3986 does not allow one.
    let bytes = value.as_bytes();
    for (at, _) in value.match_indices('%') {
        let hex_pair = bytes.get(at + 1..at + 3);
        if !hex_pair.is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit)) {
            return Err(invalid(format!("the value of `{name}` has a `%` not followed by two hex digits")));
        }
    }
    Ok(percent_decode_str(value).collect())
}

fn parse_version(text: &str) -> Result<(u8, u8), Pkcs11Error> {
    let bad = || invalid("`library-version` must be MAJOR or MAJOR.MINOR (e.g. library-version=2.6)".into());
    let (major, minor) = text.split_once('.').unwrap_or((text, "0"));
    Ok((major.parse().map_err(|_| bad())?, minor.parse().map_err(|_| bad())?))
}

/// `bytes` as lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// At most 64 characters of `text`, safe on a terminal, for messages: td-oauth-core's one rule for quoting
/// text from a user or a device.
pub(crate) use td_oauth_core::text::excerpt as shown;

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        Pkcs11Uri::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn token_object_and_id_are_percent_decoded() {
        let uri = Pkcs11Uri::parse("pkcs11:token=my%20token;object=app-key;id=%01%a2%FF;type=private").unwrap();
        assert_eq!(uri.token(), Some("my token"));
        assert_eq!(uri.object(), Some("app-key"));
        assert_eq!(uri.id(), Some(&[0x01, 0xa2, 0xff][..]));
        assert_eq!(format!("{uri:?}"), r#"the key "app-key" (id 01a2ff) on the token "my token""#);
    }

    #[test]
    fn the_rfc_examples_parse() {
        // RFC 7512 §3.3's examples that name a private key.
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=The%20Software%20PKCS%2311%20Softtoken;manufacturer=Snake%20Oil,%20Inc.;model=1.0;\
             object=my-certificate;type=private;serial=",
        )
        .unwrap();
        assert_eq!(uri.token(), Some("The Software PKCS#11 Softtoken"));
        assert_eq!(uri.manufacturer.as_deref(), Some("Snake Oil, Inc."));
        assert_eq!(uri.serial.as_deref(), Some(""));
        let uri = Pkcs11Uri::parse("pkcs11:object=my-sign-key;type=private?module-path=/mnt/libmypkcs11.so.1").unwrap();
        assert_eq!(uri.module_path(), Some(std::path::Path::new("/mnt/libmypkcs11.so.1")));
        let uri = Pkcs11Uri::parse("PKCS11:id=%69%95%3e%5c%f4;library-version=1").unwrap();
        assert_eq!(uri.id(), Some(&b"i\x95>\\\xf4"[..]));
        assert_eq!(uri.library_version, Some((1, 0)));
    }

    #[test]
    fn a_pin_in_the_uri_is_refused_without_being_repeated() {
        let err = reason("pkcs11:token=td;object=k?pin-value=hunter2");
        assert!(err.contains("pin-value") && err.contains("--pin-file"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = format!("{:?}", Pkcs11Uri::parse("pkcs11:object=k?PIN-VALUE=hunter2").unwrap_err());
        assert!(!err.contains("hunter2"), "{err}");
        assert!(reason("pkcs11:object=k?pin-source=file:/tmp/pin").contains("pin-source"));
    }

    #[test]
    fn mistakes_are_named() {
        assert!(reason("token=td;object=k").contains("pkcs11:"));
        assert!(reason("pkcs11:token=td").contains("names no key"));
        assert!(reason("pkcs11:objekt=k").contains("`objekt`"));
        assert!(reason("pkcs11:object=k;object=j").contains("twice"));
        assert!(reason("pkcs11:object=k%2").contains("two hex digits"));
        assert!(reason("pkcs11:object=%ff%fe").contains("not UTF-8"));
        assert!(reason("pkcs11:object=k;type=cert").contains("type=private"));
        assert!(reason("pkcs11:object=k;slot-id=x").contains("slot-id"));
        assert!(reason("pkcs11:object=k?module-name=softhsm2").contains("module-path"));
        assert!(reason("pkcs11:object=k;token").contains("no `=`"));
        assert!(reason(&format!("pkcs11:object={}", "a".repeat(5000))).contains("longer"));
    }
}
