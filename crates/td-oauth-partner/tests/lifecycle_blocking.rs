//! The partner-app lifecycle on the token manager, over sockets against the testkit: install and approve,
//! a rotation acknowledged only after the new credentials obtained a token (and not at all when they
//! cannot), an uninstall acknowledged and dropped, `user.logout` surfaced, unknown types passed through.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use td_oauth_partner::{
    Acknowledged, BlockingTokenManager as TokenManager, Error, Event, InstallationDecision, Lifecycle,
};
use td_oauth_testkit::{
    Acknowledgement, Algorithm, AppEvent, TEST_APP_ID, TOKEN_PATH, TestServer, app_event_with_root, lifecycle_event,
    rotated_to_unknown_client,
};
use td_oauth_transport_tests::setup::{Scheme, config as fast_config, server as start};
use td_oauth_ureq::Scopes;
use td_oauth_ureq::api::GatewayAllowList;

fn event(server: &TestServer, body: &[u8]) -> Event {
    Event::parse(body, &GatewayAllowList::default().with_origin(server.base_url()).unwrap()).unwrap()
}

fn with_root(server: &TestServer, body: &[u8]) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(body).unwrap();
    value["app_id"] = json!(TEST_APP_ID);
    value["_links"]["root"] = json!({ "href": server.base_url() });
    value.to_string().into_bytes()
}

fn scopes() -> Scopes {
    Scopes::new(["users:read"]).unwrap()
}

#[test]
fn install_approve_rotate_and_uninstall() {
    let server = start(Scheme::Http);
    let first = server.register_client(Algorithm::Es256).unwrap();
    let manager = TokenManager::new(fast_config(&server)).unwrap();
    let acme = "acme".parse().unwrap();

    let installed = event(
        &server,
        &app_event_with_root(AppEvent::Installed, "acme", server.token_url(), server.base_url(), &first),
    );
    assert!(matches!(manager.apply(installed.clone()).unwrap(), Lifecycle::Installed { .. }));
    assert_eq!(
        manager.decide_installation(&installed, InstallationDecision::Approve, None).unwrap(),
        Acknowledged::Done
    );
    assert_eq!(server.installation_state("inst-acme"), "completed");

    // Rotation: the new client gets a token before the rotation is acknowledged.
    let second = server.register_client(Algorithm::Es256).unwrap();
    server.clear_requests();
    let rotated = event(
        &server,
        &app_event_with_root(AppEvent::CredentialsRotated, "acme", server.token_url(), server.base_url(), &second),
    );
    let Lifecycle::Rotated { acknowledged, .. } = manager.apply(rotated.clone()).unwrap() else { panic!() };
    assert_eq!(acknowledged.unwrap(), Acknowledged::Done);
    let requests = server.requests();
    let token_at =
        requests.iter().position(|r| r.path == TOKEN_PATH && r.client_id.as_deref() == Some(&second.client_id));
    let ack_at = requests.iter().position(|r| r.path.ends_with(&format!("/credentials/{}/state", second.client_id)));
    assert!(token_at.unwrap() < ack_at.unwrap(), "token first, then the acknowledgement: {requests:?}");
    // A redelivered rotation: 409 from the server, done all the same.
    let Lifecycle::Rotated { acknowledged, .. } = manager.apply(rotated).unwrap() else { panic!() };
    assert_eq!(acknowledged.unwrap(), Acknowledged::AlreadyDone);

    // Uninstall: acknowledged, then dropped.
    let uninstalled = event(
        &server,
        &lifecycle_event(
            "app.uninstalled",
            "acme",
            server.base_url(),
            json!({ "reason": { "type": "other", "message": "bye" } }),
        ),
    );
    let Lifecycle::Uninstalled { acknowledged, known, .. } = manager.apply(uninstalled).unwrap() else { panic!() };
    assert_eq!((acknowledged, known), (Acknowledged::Done, true));
    assert!(matches!(manager.token(&acme, &scopes()), Err(Error::UnknownInstallation { .. })));
    let states = server
        .acknowledgements()
        .into_iter()
        .filter(|a| matches!(a, Acknowledgement::InstallationState { .. }))
        .count();
    assert_eq!(states, 2, "the approval and the uninstall");
}

#[test]
fn a_rotation_to_credentials_that_get_no_token_is_not_acknowledged() {
    let server = start(Scheme::Http);
    let first = server.register_client(Algorithm::Es256).unwrap();
    let manager = TokenManager::new(fast_config(&server)).unwrap();
    let installed = event(
        &server,
        &app_event_with_root(AppEvent::Installed, "acct-0", server.token_url(), server.base_url(), &first),
    );
    manager.apply(installed).unwrap();

    let rotated = event(&server, &with_root(&server, &rotated_to_unknown_client("acct-0", server.token_url(), &first)));
    let err = manager.apply(rotated.clone()).unwrap_err();
    assert!(err.oauth().is_some_and(|oauth| oauth.is_invalid_client()), "{err:?}");
    // Talkdesk redelivers it (the app answered 5xx): not rotated again, so the old credentials stay the fallback.
    assert!(manager.apply(rotated).is_err());
    assert!(server.acknowledgements().is_empty(), "nothing acknowledged: the old credentials must keep working");
    // And they do: the manager falls back to them within the grace.
    manager.token(&"acct-0".parse().unwrap(), &scopes()).unwrap();
}

#[test]
fn logout_and_unknown_events_are_surfaced() {
    let server = start(Scheme::Http);
    let manager = TokenManager::new(fast_config(&server)).unwrap();
    let logout = event(
        &server,
        &lifecycle_event(
            "user.logout",
            "acme",
            server.base_url(),
            json!({ "user_id": "5f1b2c3d4e5f60718293a4b5", "user_email": "a@example.com" }),
        ),
    );
    let Lifecycle::UserLogout { user_id, user_email, .. } = manager.apply(logout).unwrap() else { panic!() };
    assert_eq!((user_id.as_str(), user_email.as_deref()), ("5f1b2c3d4e5f60718293a4b5", Some("a@example.com")));

    let data = json!({ "x": 1, "oauth": { "client_secret": "cs-of-an-unknown-event-0123" } });
    let unknown = event(&server, &lifecycle_event("app.something_new", "acme", server.base_url(), data));
    let other = manager.apply(unknown).unwrap();
    let shown = format!("{other:?}");
    assert!(!shown.contains("cs-of-an-unknown-event") && shown.contains("<redacted>"), "{shown}");
    let Lifecycle::Other(other) = other else { panic!() };
    assert_eq!(other.event_type(), "app.something_new");

    // An account the manager never had: no credentials to acknowledge its uninstall with.
    let uninstalled = event(&server, &lifecycle_event("app.uninstalled", "ghost", server.base_url(), json!({})));
    assert!(matches!(manager.apply(uninstalled), Err(Error::UnknownInstallation { .. })));
}
