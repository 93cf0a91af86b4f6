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
