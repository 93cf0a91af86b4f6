//! AppConnect events: the documented payloads parse into credentials and endpoints; every missing,
//! malformed or unsafe field gets its own error, which never repeats a secret.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{Value, json};
use td_oauth_core::{Algorithm, Credentials};
use td_oauth_partner::{Error, EventKind, InstallationCredentials};

const KEY: &str = include_str!("../../td-oauth-core/tests/keys/es256.pkcs8.b64");
const RSA: &str = include_str!("../../td-oauth-core/tests/keys/rsa2048.pkcs8.pem");

/// The payload from Talkdesk's `app.installed` reference, with a real test key.
fn installed() -> Value {
    json!({
        "id": "8b62e0c6001548d7b59f8240d79cb0d7",
        "created_at": "2016-06-14T16:23:07Z",
        "api_version": "1",
        "type": "app.installed",
        "app_id": "f918e2623486417791f3b5a18ca746ce",
        "app_version_id": "970d6643b6604a9d8ec77d470a3903cf",
        "app_version_name": "app_version_name",
        "data": {
            "installation_id": "9514148a170c4d4aaa344a540cec08c5",
            "account_id": "052c3763ee0745c68a1f65f25b0bf273",
            "account_name": "starship",
            "client_id": "23de1fee7658490f8021465553402546",
            "client_secret": "CLIENT_SECRET_VALUE",
            "private_key": KEY.trim(),
            "public_key": "PUBLIC_KEY",
            "key_id": "78a574781e434d0b9991edd0994fbeed",
            "key_algorithm": "ES256"
        },
        "_links": {
            "root": { "href": "https://api.talkdeskapp.com" },
            "self": { "href": "https://api.talkdeskapp.com/apps/f918/events/3214" },
            "userinfo": { "href": "https://api.talkdeskapp.com/users/me" },
            "authorization": { "href": "https://starship.talkdeskid.com/oauth/authorize" },
            "token": { "href": "https://starship.talkdeskid.com/oauth/token" }
        }
    })
}

fn parse(event: &Value) -> Result<InstallationCredentials, Error> {
    InstallationCredentials::from_event(event.to_string().as_bytes())
}

#[test]
fn reads_the_documented_installed_event() {
    let installation = parse(&installed()).unwrap();
    assert_eq!(installation.kind(), EventKind::Installed);
    assert_eq!(installation.event_id(), Some("8b62e0c6001548d7b59f8240d79cb0d7"));
    assert_eq!(installation.installation_id(), "9514148a170c4d4aaa344a540cec08c5");
    assert_eq!(installation.account().as_str(), "starship");
    assert_eq!(installation.account_id(), Some("052c3763ee0745c68a1f65f25b0bf273"));
    assert_eq!(installation.client_id().as_str(), "23de1fee7658490f8021465553402546");
    assert_eq!(installation.algorithm(), Some(Algorithm::Es256));
    let endpoints = installation.endpoints();
    assert_eq!(endpoints.token_url().as_str(), "https://starship.talkdeskid.com/oauth/token");
    assert_eq!(endpoints.authorize_url().unwrap().as_str(), "https://starship.talkdeskid.com/oauth/authorize");
    assert_eq!(endpoints.api_base().unwrap().as_str(), "https://api.talkdeskapp.com/");
    assert!(matches!(installation.credentials(), Credentials::PrivateKeyJwt { .. }));
    assert!(matches!(installation.secret_credentials(), Some(Credentials::ClientSecret { .. })));

    let debug = format!("{installation:?}");
    assert!(!debug.contains("CLIENT_SECRET_VALUE") && !debug.contains(&KEY[20..50]), "{debug}");
}

#[test]
fn reads_a_rotation_and_a_secret_only_event() {
    let mut event = installed();
    event["type"] = json!("app.credentials_rotated");
    event["data"]["private_key"] = json!(RSA);
    event["data"]["key_algorithm"] = json!("PS384");
    let installation = parse(&event).unwrap();
    assert_eq!(installation.kind(), EventKind::CredentialsRotated);
    assert_eq!(installation.algorithm(), Some(Algorithm::Ps384));

    let mut event = installed();
    event["data"].as_object_mut().unwrap().remove("private_key");
    let installation = parse(&event).unwrap();
    assert!(installation.key_id().is_none());
    assert!(matches!(installation.credentials(), Credentials::ClientSecret { .. }));
}

fn refused(event: &Value, field: &str, says: &str) {
    match parse(event) {
        Err(err @ Error::InvalidEvent { .. }) => {
            let message = err.to_string();
            assert!(message.contains(&format!("`{field}`")) && message.contains(says), "{message}");
            assert!(!message.contains("CLIENT_SECRET_VALUE") && !message.contains(&KEY[20..50]), "{message}");
        }
        other => panic!("{field}: expected an InvalidEvent error, got {other:?}"),
    }
}

#[test]
fn every_bad_field_gets_its_own_error() {
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut event = installed();
        f(&mut event);
        event
    };
    refused(&json!([1, 2]), "event", "not a JSON object");
    refused(&edit(&|e| e["type"] = json!("app.uninstalled")), "type", "only app.installed");
    refused(
        &edit(&|e| {
            e.as_object_mut().unwrap().remove("data");
        }),
        "data",
        "missing",
    );
    for field in ["account_name", "client_id", "installation_id"] {
        refused(
            &edit(&|e| {
                e["data"].as_object_mut().unwrap().remove(field);
            }),
            &format!("data.{field}"),
            "missing",
        );
    }
    refused(&edit(&|e| e["data"]["client_id"] = json!(42)), "data.client_id", "not a string");
    refused(&edit(&|e| e["data"]["client_secret"] = json!(7)), "data.client_secret", "not a string");
    refused(&edit(&|e| e["data"]["account_name"] = json!("starship.evil.com")), "data.account_name", "account name");
    refused(
        &edit(&|e| {
            e["data"].as_object_mut().unwrap().remove("key_id");
        }),
        "data.key_id",
        "missing",
    );
    refused(&edit(&|e| e["data"]["key_algorithm"] = json!("HS256")), "data.key_algorithm", "not one of");
    refused(&edit(&|e| e["data"]["key_algorithm"] = json!("ES384")), "data.private_key", "does not match");
    refused(&edit(&|e| e["data"]["private_key"] = json!(&KEY[..60])), "data.private_key", "truncated");
    refused(
        &edit(&|e| {
            let data = e["data"].as_object_mut().unwrap();
            data.remove("private_key");
            data.remove("client_secret");
        }),
        "data",
        "neither private_key nor client_secret",
    );
    refused(
        &edit(&|e| {
            e["_links"].as_object_mut().unwrap().remove("token");
        }),
        "_links.token.href",
        "missing",
    );
    for (href, says) in [
        ("http://starship.talkdeskid.com/oauth/token", "only sent over https"),
        ("https://x@evil.com/oauth/token", "user info"),
        ("https://starship.talkdeskid.com%2eevil.com/oauth/token", "canonical"),
        ("not a url", "not a URL"),
    ] {
        refused(&edit(&|e| e["_links"]["token"]["href"] = json!(href)), "_links.token.href", says);
    }
    refused(&edit(&|e| e["_links"]["root"]["href"] = json!("http://api.evil.com")), "_links.root.href", "https");
}

#[test]
fn arbitrary_bytes_never_panic() {
    for body in
        [&b""[..], b"{", b"null", b"{\"type\":null}", b"{\"type\":\"app.installed\",\"data\":[]}", &[0xff, 0xfe]]
    {
        assert!(InstallationCredentials::from_event(body).is_err());
    }
}
