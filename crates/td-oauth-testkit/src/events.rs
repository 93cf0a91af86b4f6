//! AppConnect event bodies for tests of partner-app code: `app.installed` and `app.credentials_rotated`
//! carrying a registered client's credentials, pointed at a test server's token URL.

use serde_json::json;

use crate::ClientCredentials;

/// Which AppConnect event to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEvent {
    /// `app.installed`: an account installed the app.
    Installed,
    /// `app.credentials_rotated`: the installation's credentials were replaced.
    CredentialsRotated,
}

impl AppEvent {
    /// The event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            AppEvent::Installed => "app.installed",
            AppEvent::CredentialsRotated => "app.credentials_rotated",
        }
    }
}

/// The body of `event` for `account`, carrying `client`'s id, key id, private key (Talkdesk's one-line
/// form), algorithm and secret, with `token_url` as the `_links.token` href.
pub fn app_event(event: AppEvent, account: &str, token_url: &str, client: &ClientCredentials) -> Vec<u8> {
    let body = json!({
        "id": format!("evt-{account}-{}", client.client_id),
        "type": event.as_str(),
        "data": {
            "installation_id": format!("inst-{account}"),
            "account_name": account,
            "client_id": client.client_id,
            "client_secret": client.client_secret,
            "private_key": client.private_key,
            "key_id": client.key_id,
            "key_algorithm": client.algorithm.as_str(),
        },
        "_links": { "token": { "href": token_url } },
    });
    body.to_string().into_bytes()
}

/// An `app.credentials_rotated` body for `account` whose new client the server does not know (its id is
/// `unregistered-<account>`, its key `client`'s): the token endpoint refuses it with `invalid_client`.
pub fn rotated_to_unknown_client(account: &str, token_url: &str, client: &ClientCredentials) -> Vec<u8> {
    let mut unknown = client.clone();
    unknown.client_id = format!("unregistered-{account}");
    unknown.key_id = format!("kid-{}", unknown.client_id);
    app_event(AppEvent::CredentialsRotated, account, token_url, &unknown)
}

/// Checks captured `tracing` text (see [`LogCapture`](crate::LogCapture)) after a partner-app manager fell
/// back from [`rotated_to_unknown_client`]'s credentials to `client`'s: the warning is there, names the
/// account `acct-0` and both client ids, and no secret of `client` (private key, client secret) nor
/// `access_token` appears anywhere. `Err` says what was wrong.
pub fn check_fallback_warning(text: &str, client: &ClientCredentials, access_token: &str) -> Result<(), String> {
    let warning = text
        .lines()
        .find(|line| line.contains("using the previous ones"))
        .ok_or_else(|| format!("no fallback warning in: {text}"))?;
    for wanted in ["acct-0", "unregistered-acct-0", client.client_id.as_str()] {
        if !warning.contains(wanted) {
            return Err(format!("the warning does not name {wanted}: {warning}"));
        }
    }
    let key_part = client.private_key.get(40..80).unwrap_or(&client.private_key);
    for secret in [key_part, client.client_secret.as_str(), access_token] {
        if text.contains(secret) {
            return Err(format!("a secret reached tracing: {text}"));
        }
    }
    Ok(())
}

/// The app id the event bodies below carry.
pub const TEST_APP_ID: &str = "f918e2623486417791f3b5a18ca746ce";

/// [`app_event`] with an `app_id` ([`TEST_APP_ID`]) and `_links.root` = `root_url` (the test server's
/// [`base_url`](crate::TestServer::base_url) to call its API side), as Talkdesk's events carry.
pub fn app_event_with_root(
    event: AppEvent,
    account: &str,
    token_url: &str,
    root_url: &str,
    client: &ClientCredentials,
) -> Vec<u8> {
    let mut body: serde_json::Value =
        serde_json::from_slice(&app_event(event, account, token_url, client)).unwrap_or_else(|_| json!({}));
    body["app_id"] = json!(TEST_APP_ID);
    body["_links"]["root"] = json!({ "href": root_url });
    body.to_string().into_bytes()
}

/// A lifecycle event of `event_type` (`app.uninstalled`, `user.logout`, `app.trial_started`, or any
/// other) for `account`'s installation `inst-<account>`, with a fresh 32-hex id, [`TEST_APP_ID`],
/// `_links.root` = `root_url`, and `data` merged over `installation_id` and `account_name`.
pub fn lifecycle_event(event_type: &str, account: &str, root_url: &str, data: serde_json::Value) -> Vec<u8> {
    let mut merged = json!({ "installation_id": format!("inst-{account}"), "account_name": account });
    if let (Some(target), serde_json::Value::Object(extra)) = (merged.as_object_mut(), data) {
        target.extend(extra);
    }
    json!({
        "id": crate::keys::random_hex(16),
        "created_at": "2026-01-01T00:00:00Z",
        "api_version": "1",
        "type": event_type,
        "app_id": TEST_APP_ID,
        "data": merged,
        "_links": { "root": { "href": root_url } },
    })
    .to_string()
    .into_bytes()
}
