//! AppConnect pieces, sans-IO: every documented event type typed, the dedup set bounded, the Apps API's
//! lifecycle answers; raw event data prints no secret; arbitrary bytes never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use http::Response;
use proptest::prelude::*;
use serde_json::json;
use td_oauth_api::{ApiGateway, GatewayAllowList};
use td_oauth_core::Region;
use td_oauth_partner::{
    Acknowledged, Delivery, Event, EventDedup, EventPayload, EventReceiver, NoVerification, credentials_state_request,
};

fn us() -> ApiGateway {
    ApiGateway::for_region(Region::Us).unwrap()
}

fn answer(status: u16, body: &str) -> Response<Vec<u8>> {
    Response::builder().status(status).body(body.as_bytes().to_vec()).unwrap()
}

#[test]
fn every_documented_event_type_is_typed() {
    let allow = GatewayAllowList::default();
    let event = |kind: &str, data: serde_json::Value| {
        json!({"id":"be4cfd0a01a046ec98fde433d973d259","type":kind,"app_id":"f918","data":data,
               "_links":{"root":{"href":"https://api.talkdeskapp.com"}}})
        .to_string()
    };
    let updated =
        Event::parse(event("app.updated", json!({"users":{"adding":[{"id":"u"}],"removing":[]}})).as_bytes(), &allow)
            .unwrap();
    assert!(matches!(updated.payload(), EventPayload::Updated { adding, .. } if adding.len() == 1));
    for (kind, check) in [
        ("app.trial_started", "TrialStarted"),
        ("app.trial_extended", "TrialExtended"),
        ("app.trial_ended", "TrialEnded"),
        ("app.uninstalled", "Uninstalled"),
        ("app.new_thing", "Unknown"),
    ] {
        let parsed =
            Event::parse(event(kind, json!({"reason":{"type":"other","message":"m"}})).as_bytes(), &allow).unwrap();
        assert!(format!("{:?}", parsed.payload()).starts_with(check), "{kind}");
        assert_eq!(parsed.gateway().unwrap().origin(), "https://api.talkdeskapp.com");
    }
    let logout =
        Event::parse(event("user.logout", json!({"user_id":"5f1b2c3d4e5f60718293a4b5"})).as_bytes(), &allow).unwrap();
    assert!(
        matches!(logout.payload(), EventPayload::UserLogout { user_id, .. } if user_id == "5f1b2c3d4e5f60718293a4b5")
    );
    assert!(Event::parse(event("user.logout", json!({})).as_bytes(), &allow).is_err(), "user.logout needs user_id");
    // A forged root is refused whatever the type.
    let forged = event("app.trial_ended", json!({})).replace("api.talkdeskapp.com", "evil.example");
    assert!(Event::parse(forged.as_bytes(), &allow).unwrap_err().to_string().contains("not a Talkdesk API host"));
}

#[test]
fn the_dedup_set_is_bounded_in_count_and_age() {
    let t0 = Instant::now();
    let mut dedup = EventDedup::new(2, Duration::from_secs(60));
    assert!(dedup.first_delivery("a", t0));
    assert!(!dedup.first_delivery("a", t0 + Duration::from_secs(10)), "a redelivery");
    assert!(dedup.first_delivery("b", t0));
    assert!(dedup.first_delivery("c", t0), "the oldest goes");
    assert_eq!(dedup.len(), 2);
    assert!(dedup.first_delivery("a", t0 + Duration::from_secs(1)), "a was evicted");
    assert!(dedup.first_delivery("b", t0 + Duration::from_secs(120)), "b expired");
    dedup.forget("b");
    assert!(dedup.first_delivery("b", t0 + Duration::from_secs(121)));
}

#[test]
fn lifecycle_answers() {
    assert_eq!(Acknowledged::from_http(&answer(202, "")).unwrap(), Acknowledged::Done);
    assert_eq!(Acknowledged::from_http(&answer(409, "")).unwrap(), Acknowledged::AlreadyDone);
    assert!(Acknowledged::from_http(&answer(404, r#"{"error":"not found"}"#)).is_err());
    let request = credentials_state_request(&us(), "app", "inst", "client").unwrap();
    assert_eq!(request.uri(), "https://api.talkdeskapp.com/apps/app/installations/inst/credentials/client/state");
    assert_eq!(request.body().as_slice(), br#"{"state":"acknowledged"}"#);
    assert!(credentials_state_request(&us(), "app", "../x", "client").is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512), status in 100u16..600) {
        let _ = Event::parse(&body, &GatewayAllowList::default());
        if let Ok(status) = http::StatusCode::from_u16(status) {
            let response = Response::builder().status(status).body(body.clone()).unwrap();
            let _ = Acknowledged::from_http(&response);
        }
    }
}

/// Secrets an event of a type this crate does not know may carry, at any depth and in any key style.
const SECRETS: [&str; 8] = [
    "cs-unknown-client-secret-1",
    "pk-unknown-private-key-22",
    "at-unknown-access-token-333",
    "rt-unknown-refresh-token-4444",
    "pw-unknown-password-55555",
    "ak-unknown-api-key-666666",
    "co-unknown-auth-code-7777777",
    "MIGHAgEAMBMGByqGSM49AgEGCCqG",
];

fn secret_event(kind: &str) -> String {
    json!({
        "id": "be4cfd0a01a046ec98fde433d973d259", "type": kind, "app_id": "f918",
        "data": {
            "installation_id": "inst-1", "account_name": "acme", "client_id": "visible-client-id",
            "client_secret": SECRETS[0], "private_key": SECRETS[1],
            "credentials": { "nested": { "accessToken": SECRETS[2] } },
            "users": { "adding": [{ "id": "u1", "Refresh-Token": SECRETS[3] }], "removing": [] },
            "subscription": { "PASSWORD": SECRETS[4] },
            "integrations": [{ "api_key": SECRETS[5], "auth_code": SECRETS[6] }],
            "pem": format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----", SECRETS[7]),
        },
        "_links": { "root": { "href": "https://api.talkdeskapp.com" } },
    })
    .to_string()
}

fn assert_hidden(shown: &str) {
    for secret in SECRETS {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
}

#[test]
fn raw_event_data_prints_no_secret() {
    let allow = GatewayAllowList::default();
    for kind in ["app.something_new", "app.updated", "app.trial_started", "app.trial_extended", "app.trial_ended"] {
        let event = Event::parse(secret_event(kind).as_bytes(), &allow).unwrap();
        let shown = format!("{event:?} {:?} {:#?}", event.payload(), event.clone().into_payload());
        assert_hidden(&shown);
        assert!(shown.contains("<redacted>"), "{kind}: {shown}");
        if let EventPayload::Unknown(data) = event.payload() {
            // The data itself is kept as sent, and what is not secret-looking shows.
            assert_eq!(data["client_secret"], SECRETS[0]);
            assert!(shown.contains("visible-client-id") && shown.contains("inst-1"), "{shown}");
        }
    }

    // The receiver's delivery of one.
    let mut receiver = EventReceiver::new(NoVerification);
    let request = http::Request::post("/events").body(secret_event("app.something_new").into_bytes()).unwrap();
    let (delivery, response) = receiver.receive(&request, Instant::now());
    assert_eq!(response.status(), 200);
    assert!(matches!(delivery, Delivery::Event(_)));
    assert_hidden(&format!("{delivery:?}"));
}
