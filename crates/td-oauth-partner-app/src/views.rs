//! What the operator endpoint answers, as JSON: installations and their token status. Every field is an
//! identifier, a state or a number: none can hold a secret, by construction.

use serde::Serialize;

/// One installation in `GET /installations`, as td-oauth-partner's record summary has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstallationView {
    /// AppConnect's installation id.
    pub installation_id: String,
    /// The Talkdesk account that installed the app.
    pub account: String,
    /// `active` (tokens served), `uninstalling` (acknowledging the uninstall; no token served) or
    /// `uninstalled` (the record keeps no credentials).
    pub state: String,
    /// Whether the installation was approved through the Apps API.
    pub approved: bool,
    /// Whether the current credentials' rotation was acknowledged (false until a rotation).
    pub rotation_acknowledged: bool,
    /// The current credentials' client id (none once uninstalled).
    pub client_id: Option<String>,
    /// The current credentials' key id (`kid`).
    pub key_id: Option<String>,
    /// During a rotation's grace: the previous credentials' client id, still a fallback.
    pub previous_client_id: Option<String>,
    /// The record's version in the store (one per write).
    pub version: u64,
    /// The fingerprint of the sealing key the record is sealed with (see the runbook: rotating the key).
    pub sealed_with: String,
}

/// The answer of `GET /installations`.
#[derive(Debug, Clone, Serialize)]
pub struct InstallationList {
    /// Where the installations are kept (`memory`, or the store's scheme and `host:port`).
    pub store: String,
    /// The installations, by installation id.
    pub installations: Vec<InstallationView>,
}

/// The answer of `GET /installations/{installation_id}/token-status`: a token was obtained (or was warm),
/// and what it allows; never the token.
#[derive(Debug, Clone, Serialize)]
pub struct TokenStatus {
    /// The installation.
    pub installation_id: String,
    /// Its account.
    pub account: String,
    /// The installation's current client id (the manager falls back to a rotation's previous credentials
    /// only when the new ones are refused, and says so in its log).
    pub client_id: String,
    /// The scopes asked for.
    pub requested_scopes: Vec<String>,
    /// The scopes the token endpoint granted (as it said, or as asked when it did not say).
    pub scopes: Vec<String>,
    /// Seconds until the token expires.
    pub expires_in_seconds: u64,
}

/// An error answer of the operator endpoint: what went wrong, in words that hold no secret.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    /// What went wrong.
    pub error: String,
    /// Whether asking again later may work.
    pub retryable: bool,
}

/// The answer of `POST /reseal`.
#[derive(Debug, Clone, Serialize)]
pub struct Resealed {
    /// How many records were sealed again with the current key.
    pub resealed: usize,
    /// The current key's fingerprint.
    pub sealed_with: String,
}
