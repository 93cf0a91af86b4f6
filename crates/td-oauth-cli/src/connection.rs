//! Turning the connection flags and environment into the core's endpoints and credentials.

use std::path::Path;
use std::time::Duration;

use td_oauth_core::{
    Algorithm, ClientId, ClientSecret, Credentials, Endpoints, KeyId, PrivateKey, Region, RetryPolicy, TokenClient,
};
use td_oauth_ureq::Config;

use crate::args::Connection;
use crate::error::CliError;

/// The variable holding the private key itself (the flag only ever names a file).
pub(crate) const PRIVATE_KEY_VAR: &str = "TALKDESK_PRIVATE_KEY";
/// The variable holding the client secret itself.
pub(crate) const CLIENT_SECRET_VAR: &str = "TALKDESK_CLIENT_SECRET";

impl Connection {
    /// The token endpoint and friends, from --token-url or --account and --region.
    pub(crate) fn endpoints(&self) -> Result<Endpoints, CliError> {
        match (&self.token_url, &self.account) {
            (Some(url), _) => Ok(Endpoints::from_token_url(url)?),
            (None, Some(account)) => {
                let region: Region = self.region.parse()?;
                Ok(Endpoints::talkdesk(account, region)?)
            }
            (None, None) => Err(CliError::Input(
                "no token endpoint: give --account NAME (or TALKDESK_ACCOUNT), or --token-url URL".into(),
            )),
        }
    }

    pub(crate) fn client_id(&self) -> Result<ClientId, CliError> {
        let id = self
            .client_id
            .as_deref()
            .ok_or_else(|| CliError::Input("no client id: give --client-id ID (or TALKDESK_CLIENT_ID)".into()))?;
        Ok(ClientId::new(id)?)
    }

    /// The private key from --private-key-file or TALKDESK_PRIVATE_KEY, if either is given.
    fn private_key(&self) -> Result<Option<PrivateKey>, CliError> {
        let text = match (&self.private_key_file, std::env::var(PRIVATE_KEY_VAR)) {
            (Some(path), _) => read_secret_file(path, "private key")?,
            (None, Ok(text)) if !text.trim().is_empty() => text,
            _ => return Ok(None),
        };
        let key = match &self.algorithm {
            Some(name) => PrivateKey::parse_with_algorithm(&text, name.parse::<Algorithm>()?)?,
            None => PrivateKey::parse(&text)?,
        };
        Ok(Some(key))
    }

    /// A signed JWT when a key is given (unless --client-secret-file asks for Basic), else Basic.
    pub(crate) fn credentials(&self) -> Result<Credentials, CliError> {
        let client_id = self.client_id()?;
        if let Some(path) = &self.client_secret_file {
            let secret = read_secret_file(path, "client secret")?;
            return Ok(Credentials::client_secret(client_id, ClientSecret::new(secret.trim()))?);
        }
        if let Some(key) = self.private_key()? {
            let key_id = self.key_id.as_deref().ok_or_else(|| {
                CliError::Input("no key id: give --key-id KID (or TALKDESK_KEY_ID) with the private key".into())
            })?;
            return Ok(Credentials::private_key_jwt(client_id, KeyId::new(key_id)?, key));
        }
        match std::env::var(CLIENT_SECRET_VAR) {
            Ok(secret) if !secret.trim().is_empty() => {
                Ok(Credentials::client_secret(client_id, ClientSecret::new(secret.trim()))?)
            }
            _ => Err(CliError::Input(format!(
                "no credentials: give --private-key-file PATH (or {PRIVATE_KEY_VAR}) with --key-id, \
                 or --client-secret-file PATH (or {CLIENT_SECRET_VAR})"
            ))),
        }
    }

    /// The core's request builder for these endpoints and credentials.
    pub(crate) fn token_client(&self) -> Result<TokenClient, CliError> {
        let client = TokenClient::new(&self.endpoints()?, self.credentials()?);
        Ok(match &self.audience {
            Some(audience) => client.with_assertion_audience(audience)?,
            None => client,
        })
    }

    /// The blocking transport, with --timeout and --retries.
    pub(crate) fn ureq_client(&self) -> Result<td_oauth_ureq::Client, CliError> {
        self.ureq_client_with(Config::new())
    }

    /// [`ureq_client`](Self::ureq_client) on top of `config` (e.g. one with a shared cache).
    pub(crate) fn ureq_client_with(&self, config: Config) -> Result<td_oauth_ureq::Client, CliError> {
        if self.timeout == 0 {
            return Err(CliError::Input("--timeout must be at least 1 second".into()));
        }
        let timeout = Duration::from_secs(self.timeout);
        let retry = RetryPolicy::default().with_max_retries(self.retries).with_deadline(
            timeout.saturating_mul(self.retries.saturating_add(1)).saturating_add(Duration::from_secs(5)),
        );
        let mut config = config.with_timeout(timeout).with_connect_timeout(timeout).with_retry_policy(retry);
        if let Some(path) = &self.ca_file {
            // ureq trusts one root store: with --ca-file, that file's certificates only.
            config = config.with_system_roots(false);
            for der in pem_certificates(path)? {
                config = config.with_root_certificate(der);
            }
        }
        Ok(td_oauth_ureq::Client::from_token_client(self.token_client()?, config)?)
    }
}

/// The DER of every `CERTIFICATE` block in a PEM file.
fn pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    use base64::Engine as _;
    let text = std::fs::read_to_string(path)
        .map_err(|err| CliError::Input(format!("cannot read the CA file {}: {err}", path.display())))?;
    let mut certificates = Vec::new();
    for block in text.split("-----BEGIN CERTIFICATE-----").skip(1) {
        let body = block.split("-----END CERTIFICATE-----").next().unwrap_or_default();
        let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(base64).map_err(|_| {
            CliError::Input(format!("the CA file {} holds a certificate that is not valid Base64", path.display()))
        })?;
        certificates.push(der);
    }
    if certificates.is_empty() {
        return Err(CliError::Input(format!("the CA file {} holds no PEM certificate", path.display())));
    }
    Ok(certificates)
}

/// Reads a file holding a secret, with an error that names the file but never its content.
pub(crate) fn read_secret_file(path: &Path, what: &str) -> Result<String, CliError> {
    std::fs::read_to_string(path)
        .map_err(|err| CliError::Input(format!("cannot read the {what} file {}: {err}", path.display())))
}
