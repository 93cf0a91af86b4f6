//! Redirects are never followed: a token endpoint that answers 301/302/303/307/308 towards another server
//! (another port: someone else's listener) gets an error, and that other server sees no request at all,
//! even when the caller supplies an agent configured to follow redirects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_core::{ClientId, Credentials, Endpoints, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::{Algorithm, Fault, TestServer};
use td_oauth_ureq::{Client, Config, Error};

fn client(server: &TestServer, config: Config) -> Client {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let credentials = Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        PrivateKey::parse(&creds.private_key).unwrap(),
    );
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials, config).unwrap()
}

#[test]
fn redirects_to_another_port_are_refused_and_never_reach_it() {
    let server = TestServer::start().unwrap();
    let elsewhere = TestServer::start().unwrap();
    let following: ureq::Agent = ureq::Agent::config_builder().max_redirects(5).build().into();
    for (name, config) in
        [("default agent", Config::new()), ("caller's following agent", Config::new().with_built_client(following))]
    {
        let client = client(&server, config);
        for status in [301, 302, 303, 307, 308] {
            server.inject(Fault::body(status, "text/plain", "moved").with_header("location", elsewhere.token_url()));
            let before = server.request_count();
            let err = client.client_credentials(Scopes::none()).unwrap_err();
            assert!(matches!(err, Error::Redirected { .. }), "{name}, {status}: {err:?}");
            assert_eq!(server.request_count(), before + 1, "{name}, {status}: not retried");
            assert_eq!(elsewhere.request_count(), 0, "{name}, {status}: the redirect target was contacted");
        }
    }
}
