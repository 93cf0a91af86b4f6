//! `agent --config FILE`: the named clients, in TOML.
//!
//! ```toml
//! default = "reports"            # optional: the client /v1/token serves when no flag names one
//!
//! [clients.reports]
//! account = "acme"               # or token_url = "https://…"; region = "eu" with account
//! client_id = "…"
//! key_id = "…"
//! private_key_file = "reports.key"   # relative to this file's directory; or client_secret_file, or
//!                                    # private_key_uri = "pkcs11:…" with pkcs11_module and pin_file
//! scope = "users:read reports:read"
//! cache = "redis://cache.internal:6379/0"   # optional fleet cache (key from TD_OAUTH_CACHE_KEY)
//! ```
//!
//! Secrets are named by path only: a key or secret written into the file is refused, as is any key this
//! file does not define (a typo would otherwise be silently ignored). Errors name the file, the line and the
//! key, and never quote the file's text, which may hold a secret pasted where it does not belong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::args::{Connection, MAX_RETRIES, MAX_WAIT_SECS, TokenKey, default_deadline};
use crate::error::CliError;

/// One client as configured: the connection settings, the scopes it asks for and its fleet cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientDef {
    pub(crate) connection: Connection,
    pub(crate) scope: Option<String>,
    pub(crate) cache: Option<String>,
}

/// The most a configuration file may hold: a few hundred clients.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// What a configuration file defines.
#[derive(Debug)]
pub(crate) struct AgentConfig {
    /// The named client `/v1/token` serves, if the file says.
    pub(crate) default: Option<String>,
    /// Every named client.
    pub(crate) clients: BTreeMap<String, ClientDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    default: Option<String>,
    #[serde(default)]
    clients: BTreeMap<String, Entry>,
}

/// One `[clients.NAME]` table: the `token` command's flags, by the same names.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    account: Option<String>,
    region: Option<String>,
    token_url: Option<String>,
    client_id: String,
    key_id: Option<String>,
    private_key_file: Option<PathBuf>,
    private_key_uri: Option<String>,
    pkcs11_module: Option<PathBuf>,
    pin_file: Option<PathBuf>,
    algorithm: Option<String>,
    client_secret_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    audience: Option<String>,
    scope: Option<String>,
    cache: Option<String>,
    timeout: Option<u64>,
    retries: Option<u32>,
    deadline: Option<u64>,
    // Accepted by the parser only to be refused with a message that says where secrets go.
    private_key: Option<serde::de::IgnoredAny>,
    client_secret: Option<serde::de::IgnoredAny>,
}

/// Reads and checks `path`.
pub(crate) fn load(path: &Path) -> Result<AgentConfig, CliError> {
    let bytes =
        crate::secrets::read_file(path, "agent configuration", MAX_CONFIG_BYTES, crate::secrets::Lifetime::Short)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::Input(format!("the agent configuration {} is not UTF-8 text", path.display())))?;
    let file: File = toml::from_str(text).map_err(|err| parse_error(path, text, &err))?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let mut clients = BTreeMap::new();
    for (name, entry) in file.clients {
        check_name(path, &name)?;
        let def = entry.into_def(base).map_err(|why| {
            CliError::Input(format!("the agent configuration {}, [clients.{name}]: {why}", path.display()))
        })?;
        clients.insert(name, def);
    }
    if let Some(default) = &file.default
        && !clients.contains_key(default)
    {
        return Err(CliError::Input(format!(
            "the agent configuration {}: default = {default:?} names no [clients.{default}] table",
            path.display()
        )));
    }
    Ok(AgentConfig { default: file.default, clients })
}

/// A client's name is a path segment of `/v1/token/NAME`: letters, digits, `-` and `_`.
pub(crate) fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_name(path: &Path, name: &str) -> Result<(), CliError> {
    if is_valid_name(name) {
        return Ok(());
    }
    Err(CliError::Input(format!(
        "the agent configuration {}: the client name {:?} is not usable in /v1/token/NAME: use 1 to 64 letters, \
         digits, `-` or `_`",
        path.display(),
        name.escape_default().to_string()
    )))
}

/// The parser's message with the line it points at, without the text of that line (it may hold a secret),
/// and without any string value the message quotes (serde quotes the value of a wrongly typed key).
fn parse_error(path: &Path, text: &str, err: &toml::de::Error) -> CliError {
    let line = err.span().map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    // `private_key` and `client_secret` are parsed only to be refused: not keys to suggest.
    let message = redact_quoted(err.message().trim()).replace(", `private_key`, `client_secret`", "");
    let at = line.map(|line| format!(", line {line}")).unwrap_or_default();
    let hint = if message.contains("`private_key`") || message.contains("`client_secret`") {
        ""
    } else if message.contains("unknown field") {
        "\nhint: a client's keys are account, region, token_url, client_id, key_id, private_key_file, \
         private_key_uri, pkcs11_module, pin_file, algorithm, client_secret_file, ca_file, audience, scope, \
         cache, timeout, retries, deadline; the file's own are default and [clients.NAME] tables"
    } else {
        ""
    };
    CliError::Input(format!("the agent configuration {}{at}: {message}{hint}", path.display()))
}

/// `invalid type: string "…", expected u64` without the string.
fn redact_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("string \"") {
        let (before, after) = rest.split_at(start + "string ".len());
        out.push_str(before);
        match after[1..].find('"') {
            Some(end) => {
                out.push_str("\"…\"");
                rest = &after[end + 2..];
            }
            None => {
                out.push_str("\"…\"");
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

impl Entry {
    fn into_def(self, base: &Path) -> Result<ClientDef, String> {
        if self.private_key.is_some() || self.client_secret.is_some() {
            let key = if self.private_key.is_some() { "private_key" } else { "client_secret" };
            return Err(format!(
                "{key}: a secret is never written in the configuration; put it in a file only you can read \
                 (chmod 600) and name that file with {key}_file"
            ));
        }
        if self.private_key_file.is_none() && self.private_key_uri.is_none() && self.client_secret_file.is_none() {
            return Err(
                "no credentials: give private_key_file or private_key_uri (with key_id), or client_secret_file".into(),
            );
        }
        if self.private_key_file.as_deref().is_some_and(|p| p.to_string_lossy().starts_with("pkcs11:")) {
            return Err("private_key_file: a pkcs11: URI is given as private_key_uri, with pkcs11_module".into());
        }
        let region = self
            .region
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|err: td_oauth_core::Error| format!("region: {err}"))?;
        let timeout = within("timeout", self.timeout.unwrap_or(10), 1, MAX_WAIT_SECS)?;
        let deadline = within("deadline", self.deadline.unwrap_or_else(default_deadline), 1, MAX_WAIT_SECS)?;
        let retries = self.retries.unwrap_or(3);
        if retries > MAX_RETRIES {
            return Err(format!("retries = {retries}: at most {MAX_RETRIES}"));
        }
        let resolve = |file: Option<PathBuf>| file.map(|file| base.join(file));
        let connection = Connection {
            account: self.account,
            region,
            token_url: self.token_url,
            client_id: Some(self.client_id),
            key_id: self.key_id,
            private_key_file: resolve(self.private_key_file),
            token_key: TokenKey {
                private_key_uri: self.private_key_uri,
                pkcs11_module: resolve(self.pkcs11_module),
                pin_file: resolve(self.pin_file),
            },
            algorithm: self.algorithm,
            client_secret_file: resolve(self.client_secret_file),
            ca_file: resolve(self.ca_file),
            audience: self.audience,
            timeout,
            retries,
            deadline,
        };
        Ok(ClientDef { connection, scope: self.scope, cache: self.cache })
    }
}

fn within(key: &str, value: u64, min: u64, max: u64) -> Result<u64, String> {
    if (min..=max).contains(&value) { Ok(value) } else { Err(format!("{key} = {value}: give {min} to {max} seconds")) }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn quoted_strings_are_redacted() {
        assert_eq!(
            redact_quoted("invalid type: string \"MIGHAgEA\", expected u64"),
            "invalid type: string \"…\", expected u64"
        );
        assert_eq!(redact_quoted("no string here"), "no string here");
        assert_eq!(redact_quoted("string \"open"), "string \"…\"");
    }

    #[test]
    fn a_key_on_a_token_is_named_by_uri_module_and_pin_file() {
        let entry: Entry = toml::from_str(
            r#"
            token_url = "https://acme.talkdeskid.com/oauth/token"
            client_id = "c"
            key_id = "k"
            private_key_uri = "pkcs11:token=td;object=app-key"
            pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so"
            pin_file = "token.pin"
            "#,
        )
        .unwrap();
        let def = entry.into_def(Path::new("/etc/td-oauth")).unwrap();
        let key = &def.connection.token_key;
        assert_eq!(key.private_key_uri.as_deref(), Some("pkcs11:token=td;object=app-key"));
        assert_eq!(key.pkcs11_module.as_deref(), Some(Path::new("/usr/lib/softhsm/libsofthsm2.so")));
        assert_eq!(key.pin_file.as_deref(), Some(Path::new("/etc/td-oauth/token.pin")), "relative to the file");

        let entry: Entry =
            toml::from_str("client_id = \"c\"\nprivate_key_file = \"pkcs11:token=td;object=app-key\"").unwrap();
        let err = entry.into_def(Path::new(".")).unwrap_err();
        assert!(err.contains("private_key_uri"), "{err}");
    }

    #[test]
    fn names_are_path_segments() {
        assert!(is_valid_name("reports-eu_2"));
        for bad in ["", "a/b", "a b", "..", "é", &"x".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
