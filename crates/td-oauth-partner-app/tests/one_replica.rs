//! One replica of the built binary over the memory store, against the testkit: the event listener, the
//! operator endpoint, refusals, start-up errors and a clean stop. The fleet (three replicas sharing a
//! store) is `fleet.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use td_oauth_testkit::{
    Acknowledgement, Algorithm, AppEvent, EventDelivery, Fault, FaultTarget, TestServer, app_event_with_root,
    lifecycle_event,
};

use support::{CALLBACK_SECRET, Launch, STORE_KEY, assert_no_secret, rotation_acks, secrets_of};

#[test]
fn installs_approves_rotates_once_and_reports_without_secrets() {
    let server = TestServer::start().unwrap();
    let first = server.register_client(Algorithm::Es256).unwrap();
    let second = server.register_client(Algorithm::Es256).unwrap();
    let replica = Launch::new("memory", &server).start();
    let install = app_event_with_root(AppEvent::Installed, "acme", server.token_url(), server.base_url(), &first);

    // Without the callback secret, or with another one, nothing is applied.
    assert_eq!(replica.deliver_unsigned(&install).status, Some(401));
    assert_eq!(replica.deliver_to("/events?secret=cb-secret-6a1f0c2e9b7d4a5", &install).status, Some(401));
    assert_eq!(replica.deliver_to(&format!("/events?other={CALLBACK_SECRET}"), &install).status, Some(401));
    // Not an event: refused, nothing applied.
    assert_eq!(replica.deliver(b"{\"id\":\"x\"}").status, Some(400));
    assert_eq!(replica.installations()["installations"], json!([]));

    assert_eq!(replica.deliver(&install).status, Some(200));
    let approvals = server
        .acknowledgements()
        .into_iter()
        .filter(|a| matches!(a, Acknowledgement::InstallationState { state, .. } if state == "approve"))
        .count();
    assert_eq!(approvals, 1, "the installation is approved once");
    let listed = replica.installations();
    let view = &listed["installations"][0];
    assert_eq!(view["installation_id"], "inst-acme");
    assert_eq!(view["account"], "acme");
    assert_eq!(view["state"], "active");
    assert_eq!(view["approved"], true);
    assert_eq!(view["rotation_acknowledged"], false);
    assert_eq!(view["client_id"], first.client_id.as_str());
    assert_eq!(view["key_id"], first.key_id.as_str());

    let (status, body) = replica.admin_get("/installations/inst-acme/token-status");
    assert_eq!(status, 200, "{body}");
    let token: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(token["scopes"], json!(["apps:read"]));
    assert_eq!(token["client_id"], first.client_id.as_str());
    let left = token["expires_in_seconds"].as_u64().unwrap();
    assert!(left > 500 && left <= 600, "{body}");
    let (status, body) = replica.admin_get("/installations/inst-acme/token-status?scope=users:read%20apps:write");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("users:read") && body.contains("apps:write"), "{body}");

    // A rotation, then the same delivery again: one acknowledgement at the testkit, both answered 200.
    let rotate =
        app_event_with_root(AppEvent::CredentialsRotated, "acme", server.token_url(), server.base_url(), &second);
    assert_eq!(replica.deliver(&rotate).status, Some(200));
    assert_eq!(replica.deliver(&rotate).status, Some(200));
    assert_eq!(rotation_acks(&server, &second.client_id), 1, "one acknowledgement per rotation");
    let view = &replica.installations()["installations"][0];
    assert_eq!(view["state"], "active");
    assert_eq!(view["rotation_acknowledged"], true);
    assert_eq!(view["client_id"], second.client_id.as_str());
    assert_eq!(view["previous_client_id"], first.client_id.as_str());
    let (status, body) = replica.admin_get("/installations/inst-acme/token-status");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&second.client_id), "tokens now come from the new credentials: {body}");

    // Nothing the operator endpoint says holds a secret the test used.
    let mut secrets = secrets_of(&first);
    secrets.extend(secrets_of(&second));
    secrets.extend([CALLBACK_SECRET.to_owned(), STORE_KEY.to_owned()]);
    for path in ["/installations", "/installations/inst-acme/token-status", "/installations/nope/token-status"] {
        let (_, body) = replica.admin_get(path);
        assert_no_secret(path, &body, &secrets);
    }
    let (status, body) = replica.admin_get("/installations/nope/token-status");
    assert_eq!(status, 404, "{body}");

    // Uninstalled: acknowledged, listed as such without credentials, no token.
    let uninstall = lifecycle_event("app.uninstalled", "acme", server.base_url(), json!({}));
    assert_eq!(replica.deliver(&uninstall).status, Some(200));
    let view = &replica.installations()["installations"][0];
    assert_eq!(view["state"], "uninstalled");
    assert_eq!(view["client_id"], Value::Null);
    assert_eq!(replica.admin_get("/installations/inst-acme/token-status").0, 404);

    let (status, stderr) = replica.terminate();
    assert!(status.success(), "SIGTERM is a clean stop: {status:?} {stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
    assert_no_secret("the log", &stderr, &secrets);
}

#[test]
fn a_failed_acknowledgement_is_answered_503_and_the_redelivery_finishes_it() {
    let server = TestServer::start().unwrap();
    let first = server.register_client(Algorithm::Es256).unwrap();
    let second = server.register_client(Algorithm::Es256).unwrap();
    let replica = Launch::new("memory", &server).start();
    let install = app_event_with_root(AppEvent::Installed, "acme", server.token_url(), server.base_url(), &first);
    assert_eq!(replica.deliver(&install).status, Some(200));

    let ack_path: &'static str = Box::leak(
        format!(
            "/apps/{}/installations/inst-acme/credentials/{}/state",
            td_oauth_testkit::TEST_APP_ID,
            second.client_id
        )
        .into_boxed_str(),
    );
    server.inject_on(FaultTarget::Path(ack_path), Fault::status(503), 1);
    let rotate =
        app_event_with_root(AppEvent::CredentialsRotated, "acme", server.token_url(), server.base_url(), &second);
    // AppConnect's pattern, with the 5 and 10 minutes made milliseconds.
    let attempts = EventDelivery::new(&replica.callback())
        .unwrap()
        .with_delays([Duration::from_millis(100), Duration::from_millis(100)])
        .deliver(&rotate)
        .unwrap();
    let statuses: Vec<_> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Some(503), Some(200)]);
    let accepted = server
        .acknowledgements()
        .into_iter()
        .filter(
            |a| matches!(a, Acknowledgement::CredentialsRotation { client_id, .. } if *client_id == second.client_id),
        )
        .count();
    assert_eq!(accepted, 1);
    assert_eq!(rotation_acks(&server, &second.client_id), 2, "the failed try and the redelivery's");
}

#[test]
fn start_up_errors_say_what_to_fix_and_hold_no_secret() {
    let server = TestServer::start().unwrap();
    let base = Launch::new("memory", &server);

    let (status, stderr) =
        Launch { store: "mysql://root:pw-9f3e@db/x".into(), store_in_env: true, ..base.clone() }.fail();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("--store") && stderr.contains("redis://"), "{stderr}");
    assert!(!stderr.contains("pw-9f3e"), "{stderr}");

    // A password on the command line is refused (every user of the machine can read it there).
    let (status, stderr) = Launch { store: "redis://:pw-9f3e@127.0.0.1:1/0".into(), ..base.clone() }.fail();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("TD_OAUTH_STORE instead"), "{stderr}");
    assert!(!stderr.contains("pw-9f3e"), "{stderr}");

    let (status, stderr) =
        Launch { store: "redis://:pw-9f3e@127.0.0.1:1/0".into(), store_in_env: true, ..base.clone() }
            .env("TD_OAUTH_STORE_KEY", "")
            .fail();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("TD_OAUTH_STORE_KEY is not set") && stderr.contains("openssl rand"), "{stderr}");
    assert!(!stderr.contains("pw-9f3e"), "{stderr}");

    let (status, stderr) = base.clone().env("TD_OAUTH_STORE_KEY", "c2hvcnQta2V5LXNlY3JldA==").fail();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("TD_OAUTH_STORE_KEY: ") && stderr.contains("16 bytes"), "{stderr}");
    assert!(!stderr.contains("c2hvcnQta2V5LXNlY3JldA"), "{stderr}");

    let (status, stderr) = base.clone().env("TD_OAUTH_CALLBACK_SECRET", "").fail();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("TD_OAUTH_CALLBACK_SECRET") && stderr.contains("--no-verification"), "{stderr}");

    // A store that does not answer: a clear error, status 1 (try again), and no password.
    let (status, stderr) = Launch { store: "redis://:pw-9f3e@127.0.0.1:1/0".into(), store_in_env: true, ..base }.fail();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1 is unavailable") && stderr.contains("start the replica again"), "{stderr}");
    assert!(!stderr.contains("pw-9f3e"), "{stderr}");
}

#[test]
fn a_stop_lets_the_requests_in_flight_finish() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let replica = Launch::new("memory", &server).start();
    let install = app_event_with_root(AppEvent::Installed, "acme", server.token_url(), server.base_url(), &client);
    assert_eq!(replica.deliver(&install).status, Some(200));

    // A token request the token endpoint answers slowly, in flight when SIGTERM comes.
    server.inject(Fault::Delay(Duration::from_secs(2)));
    let before = server.count_path(td_oauth_testkit::TOKEN_PATH);
    let url = format!("{}/installations/inst-acme/token-status?scope=users:read", replica.admin);
    let in_flight = std::thread::spawn(move || support::http_get(&url));
    let arrived = std::time::Instant::now();
    while server.count_path(td_oauth_testkit::TOKEN_PATH) == before && arrived.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    replica.signal(rustix::process::Signal::TERM);
    let (status, body) = in_flight.join().unwrap();
    assert_eq!(status, 200, "the request in flight finished: {body}");
    let (status, stderr) = replica.wait();
    assert!(status.success(), "{status:?}: {stderr}");

    // SIGINT is a clean stop too.
    let (status, stderr) = Launch::new("memory", &server).start().interrupt();
    assert!(status.success() && stderr.contains("SIGINT"), "{status:?}: {stderr}");
}
