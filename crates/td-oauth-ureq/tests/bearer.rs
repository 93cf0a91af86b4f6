//! `BearerClient` reaches the testkit's protected resource and recovers once from a 401.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use td_oauth_testkit::{ME_PATH, TOKEN_PATH};
use td_oauth_ureq::core::Scopes;
use td_oauth_ureq::{BearerClient, TokenProvider};

#[test]
fn reaches_the_resource_and_recovers_once_from_a_401() {
    for scheme in SCHEMES {
        let server = start(scheme);
        let creds = register(&server);
        let client = jwt_client(&server, &creds, |c| c);
        // The token client's agent trusts the test certificate; an API agent would be the caller's own.
        let api =
            BearerClient::new(client.http_client().clone(), TokenProvider::client_credentials(client, Scopes::none()));
        let me = server.me_url();
        let get = || http::Request::get(me.as_str()).body(()).unwrap();

        let mut response = api.run(get).unwrap();
        assert_eq!(response.status(), 200, "{scheme:?}");
        let body = response.body_mut().read_to_string().unwrap();
        assert!(body.contains(&creds.client_id), "{body}");

        // The API refuses the token once: a new token, one more try, success.
        server.fail_next_api_calls(1);
        assert_eq!(api.run(get).unwrap().status(), 200);
        assert_eq!(server.count_path(TOKEN_PATH), 2);
        assert_eq!(server.count_path(ME_PATH), 3);

        // Refused twice: only one retry, and the 401 comes back as a response.
        server.fail_next_api_calls(2);
        assert_eq!(api.run(get).unwrap().status(), 401);
        assert_eq!(server.count_path(TOKEN_PATH), 3);
        assert_eq!(server.count_path(ME_PATH), 5);

        // Revoked tokens behave the same way as injected refusals.
        server.revoke_access_tokens();
        assert_eq!(api.run(get).unwrap().status(), 200);
        assert_eq!(server.count_path(TOKEN_PATH), 4);
    }
}
