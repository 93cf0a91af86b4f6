//! Turning the connection flags and environment into the core's endpoints and credentials, and the blocking
//! transport that sends with them.

use std::path::Path;
use std::time::Duration;

use td_oauth_core::retry::RetryPolicy;
use td_oauth_core::transport::{Config as TransportConfig, Transport};
use td_oauth_core::{
    Algorithm, ClientId, ClientSecret, Credentials, Endpoints, Grant, KeyId, PrivateKey, TokenClient, TokenResponse,
};
use td_oauth_ureq::Config;
use zeroize::Zeroizing;

use crate::args::Connection;
use crate::error::CliError;
use crate::secrets::{self, Lifetime};

/// The variable holding the private key itself (the flag only ever names a file).
pub(crate) const PRIVATE_KEY_VAR: &str = "TALKDESK_PRIVATE_KEY";
/// The variable holding the client secret itself.
pub(crate) const CLIENT_SECRET_VAR: &str = "TALKDESK_CLIENT_SECRET";

impl Connection {
    /// The token endpoint and friends, from --token-url, or --account and --region; both at once contradict
    /// each other and are refused rather than one silently ignored.
    pub(crate) fn endpoints(&self) -> Result<Endpoints, CliError> {
        match (&self.token_url, &self.account, self.region) {
            (Some(_), Some(_), _) => Err(CliError::Input(
                "both an account (--account or TALKDESK_ACCOUNT) and a token URL (--token-url or \
                 TALKDESK_TOKEN_URL) are given, and they may name different servers: give one of them"
                    .into(),
            )),
            (Some(_), None, Some(_)) => Err(CliError::Input(
                "--region (or TALKDESK_REGION) picks the server for --account; with --token-url (or \
                 TALKDESK_TOKEN_URL) it means nothing: give one of them"
                    .into(),
            )),
            (Some(url), None, None) => Ok(Endpoints::from_token_url(url)?),
            (None, Some(account), region) => Ok(Endpoints::talkdesk(account, region.unwrap_or_default())?),
            (None, None, _) => Err(CliError::Input(
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
        let algorithm = self.algorithm.as_deref().map(str::parse::<Algorithm>).transpose()?;
        let parse = |text: &str| match algorithm {
            Some(algorithm) => PrivateKey::parse_with_algorithm(text, algorithm),
            None => PrivateKey::parse(text),
        };
        if let Some(path) = &self.private_key_file {
            let bytes = secrets::read_file(path, "private key", secrets::MAX_SECRET_BYTES, Lifetime::LongLived)?;
            return Ok(Some(match std::str::from_utf8(&bytes) {
                Ok(text) => parse(text)?,
                // Not text: binary DER, as `openssl pkcs8 -topk8 -nocrypt -outform DER` writes it.
                Err(_) => match algorithm {
                    Some(algorithm) => PrivateKey::from_der_with_algorithm(&bytes, algorithm)?,
                    None => PrivateKey::from_der(&bytes)?,
                },
            }));
        }
        match std::env::var(PRIVATE_KEY_VAR).map(Zeroizing::new) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(parse(&text)?)),
            _ => Ok(None),
        }
    }

    /// A signed JWT when a key is given (unless --client-secret-file asks for Basic), else Basic.
    pub(crate) fn credentials(&self) -> Result<Credentials, CliError> {
        let client_id = self.client_id()?;
        if let Some(path) = &self.client_secret_file {
            let secret = secrets::read_text_file(path, "client secret", Lifetime::LongLived)?;
            return Ok(Credentials::client_secret(client_id, ClientSecret::new(secret.as_str()))?);
        }
        if self.token_key.uri().is_some() {
            let in_file = self.private_key_file.is_some() || secrets::env_is_set(PRIVATE_KEY_VAR);
            if in_file {
                return Err(CliError::Input(format!(
                    "both a key on a token (--private-key-uri or TALKDESK_PRIVATE_KEY_URI) and a key file \
                     (--private-key-file, TALKDESK_PRIVATE_KEY_FILE or {PRIVATE_KEY_VAR}) are given: give one of them"
                )));
            }
            let key_id = self.key_id.as_deref().ok_or_else(|| {
                CliError::Input("no key id: give --key-id KID (or TALKDESK_KEY_ID) with --private-key-uri".into())
            })?;
            let algorithm = self.algorithm.as_deref().map(str::parse::<Algorithm>).transpose()?;
            return self.token_key.credentials(client_id, KeyId::new(key_id)?, algorithm);
        }
        if let Some(key) = self.private_key()? {
            let key_id = self.key_id.as_deref().ok_or_else(|| {
                CliError::Input("no key id: give --key-id KID (or TALKDESK_KEY_ID) with the private key".into())
            })?;
            return Ok(Credentials::private_key_jwt(client_id, KeyId::new(key_id)?, key));
        }
        match std::env::var(CLIENT_SECRET_VAR).map(Zeroizing::new) {
            Ok(secret) if !secret.trim().is_empty() => {
                Ok(Credentials::client_secret(client_id, ClientSecret::new(secret.trim()))?)
            }
            _ => Err(CliError::Input(format!(
                "no credentials: give --private-key-file PATH (or {PRIVATE_KEY_VAR}) with --key-id, a key on a \
                 token with --private-key-uri, or --client-secret-file PATH (or {CLIENT_SECRET_VAR})"
            ))),
        }
    }

    /// The core's request builder for these endpoints and credentials, starting from the clock offset a
    /// previous run measured for its token URL ([`clock_hint`](crate::clock_hint)).
    pub(crate) fn token_client(&self) -> Result<TokenClient, CliError> {
        let client = TokenClient::new(&self.endpoints()?, self.credentials()?);
        let client = match &self.audience {
            Some(audience) => client.with_assertion_audience(audience)?,
            None => client,
        };
        Ok(crate::clock_hint::apply(client))
    }

    /// The blocking transport, with --timeout, --retries and --deadline.
    pub(crate) fn ureq_client(&self) -> Result<td_oauth_ureq::Client, CliError> {
        self.ureq_client_with(Config::new())
    }

    /// [`ureq_client`](Self::ureq_client) on top of `config` (e.g. one with a shared cache).
    pub(crate) fn ureq_client_with(&self, config: Config) -> Result<td_oauth_ureq::Client, CliError> {
        let config = self.transport_config(config)?;
        Ok(td_oauth_ureq::Client::from_token_client(self.token_client()?, config)?)
    }

    /// The HTTP agent the blocking transport sends with, with these flags' TLS settings: for requests that
    /// carry no credentials (`doctor`'s probe).
    pub(crate) fn ureq_agent(&self) -> Result<td_oauth_ureq::ureq::Agent, CliError> {
        let config = self.transport_config(Config::new())?;
        Ok(td_oauth_core::transport::http_client(&config)?.0)
    }

    /// The async transport (for `agent`), with the same flags meaning the same.
    #[cfg(all(feature = "agent", unix))]
    pub(crate) fn reqwest_client_with(
        &self,
        config: td_oauth_reqwest::Config,
    ) -> Result<td_oauth_reqwest::Client, CliError> {
        let config = self.transport_config(config)?;
        Ok(td_oauth_reqwest::Client::from_token_client(self.token_client()?, config)?)
    }

    /// `config` with --timeout, --retries, --deadline and --ca-file: one rule for both transports.
    fn transport_config<T: Transport>(&self, config: TransportConfig<T>) -> Result<TransportConfig<T>, CliError> {
        if self.timeout > self.deadline {
            return Err(CliError::Input(format!(
                "--timeout {} is longer than the --deadline of {} s for all attempts together; raise --deadline too",
                self.timeout, self.deadline
            )));
        }
        // Both bounded by the flags' parsers, so no arithmetic on them can overflow.
        let timeout = Duration::from_secs(self.timeout);
        let retry =
            RetryPolicy::default().with_max_retries(self.retries).with_deadline(Duration::from_secs(self.deadline));
        let mut config = config.with_timeout(timeout).with_connect_timeout(timeout).with_retry_policy(retry);
        if let Some(path) = &self.ca_file {
            // With --ca-file, that file's certificates only (ureq trusts one root store).
            config = config.with_system_roots(false);
            for der in pem_certificates(path)? {
                config = config.with_root_certificate(der);
            }
        }
        Ok(config)
    }

    /// Fetches a token for `grant`, with a hint when the flags may explain a refusal.
    pub(crate) fn fetch(&self, grant: &Grant) -> Result<TokenResponse, CliError> {
        let client = self.ureq_client()?;
        self.finish(&client, client.fetch(grant))
    }

    /// What a request through `client` gave, as the command reports it: the clock offset it measured kept
    /// for the next run ([`clock_hint`](crate::clock_hint)), an error explained.
    pub(crate) fn finish<T>(
        &self,
        client: &td_oauth_ureq::Client,
        result: Result<T, td_oauth_ureq::Error>,
    ) -> Result<T, CliError> {
        crate::clock_hint::keep(client.token_client());
        result.map_err(|err| self.explain(err, client.token_client()))
    }

    /// The error, with a hint when the server refused the client and an RSA key was taken for PS256 because
    /// no algorithm was given: Talkdesk's RSA clients may be PS384 or PS512, which the key cannot tell.
    pub(crate) fn explain(&self, err: td_oauth_ureq::Error, tokens: &TokenClient) -> CliError {
        let guessed_ps256 = self.algorithm.is_none()
            && tokens.assertion_signer().is_some_and(|signer| signer.algorithm() == Algorithm::Ps256);
        let refused_client = err.oauth().is_some_and(|oauth| oauth.is_invalid_client());
        let err = CliError::from(err);
        if guessed_ps256 && refused_client {
            err.with_hint(
                "the key is RSA and no --algorithm was given, so the assertion was signed with PS256; if the \
                 client's key_algorithm is PS384 or PS512, give --algorithm (or TALKDESK_KEY_ALGORITHM)",
            )
        } else {
            err
        }
    }
}

/// The DER of every `CERTIFICATE` block in a PEM file.
fn pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>, CliError> {
    use base64::Engine as _;
    let bytes = secrets::read_file(path, "CA", secrets::MAX_CA_FILE_BYTES, Lifetime::Short)?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::Input(format!("the CA file {} is not PEM text", path.display())))?;
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
