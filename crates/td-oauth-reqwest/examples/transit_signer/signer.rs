//! An [`AsyncSigner`] over HashiCorp Vault's transit engine (or any signing service that takes the bytes and
//! answers a signature): the client's private key never leaves Vault.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use td_oauth_reqwest::core::key::PublicKey;
use td_oauth_reqwest::core::signer::{AsyncSigner, SignFailure, ecdsa_der_to_jose};
use td_oauth_reqwest::core::{Algorithm, KeyId};
use td_oauth_reqwest::{Config, async_trait, http_client_builder};

/// Signs with the transit key `key_name` of the Vault at `address`.
pub(crate) struct TransitSigner {
    http: reqwest::Client,
    /// `<address>/v1/transit/sign/<key_name>`.
    sign_url: String,
    /// The Vault token: a secret, so `Debug` leaves it out.
    vault_token: String,
    key_id: KeyId,
    algorithm: Algorithm,
    public_key: PublicKey,
}

impl fmt::Debug for TransitSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransitSigner").field("sign_url", &self.sign_url).field("key_id", &self.key_id).finish()
    }
}

impl TransitSigner {
    /// A signer for Vault at `address` (`VAULT_ADDR`) with `vault_token`, whose transit key `key_name` holds
    /// the private half of `public_key_pem`, registered with Talkdesk as `key_id`.
    pub(crate) fn new(
        address: &str,
        vault_token: &str,
        key_name: &str,
        key_id: KeyId,
        algorithm: Algorithm,
        public_key_pem: &str,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        Ok(TransitSigner {
            // Set up as td-oauth's own client (rustls on ring, the system's roots, no redirects), with a
            // request timeout of its own: td-oauth's signer timeout (5 s) bounds the whole call anyway.
            http: http_client_builder(&Config::default())?.timeout(Duration::from_secs(3)).build()?,
            sign_url: format!("{}/v1/transit/sign/{key_name}", address.trim_end_matches('/')),
            vault_token: vault_token.to_owned(),
            key_id,
            algorithm,
            public_key: PublicKey::from_pem(public_key_pem)?,
        })
    }
}

#[async_trait]
impl AsyncSigner for TransitSigner {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    /// Given, so that td-oauth verifies the first signature before sending it: a transit key other than
    /// the one registered with Talkdesk is caught here, not as Talkdesk's `invalid_client`.
    fn public_key(&self) -> Option<PublicKey> {
        Some(self.public_key.clone())
    }

    async fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignFailure> {
        let body = json!({ "input": STANDARD.encode(message), "marshaling_algorithm": "asn1" });
        let answer = self
            .http
            .post(&self.sign_url)
            .header("X-Vault-Token", &self.vault_token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            // Unreachable or timed out: worth another try within the retry policy.
            .map_err(|err| SignFailure::retryable(format!("Vault could not be reached: {err}")))?;
        let status = answer.status();
        let answer: Value = match answer.bytes().await {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(err) => return Err(SignFailure::retryable(format!("Vault's answer was cut short: {err}"))),
        };
        if !status.is_success() {
            // Vault's own words (`{"errors":[…]}`) say what to fix; 5xx and 429 may pass.
            let said = answer["errors"][0].as_str().unwrap_or("no reason given");
            let reason = format!("Vault answered {status}: {said}");
            return Err(if status.is_server_error() || status.as_u16() == 429 {
                SignFailure::retryable(reason)
            } else {
                SignFailure::new(reason)
            });
        }
        let signature = answer["data"]["signature"]
            .as_str()
            .and_then(|text| text.strip_prefix("vault:v1:"))
            .and_then(|b64| STANDARD.decode(b64).ok())
            .ok_or_else(|| SignFailure::new("Vault's answer holds no `vault:v1:` signature"))?;
        // Transit answers ECDSA in ASN.1 DER by default; a JWS carries the fixed r‖s form.
        ecdsa_der_to_jose(self.algorithm, &signature)
    }
}
