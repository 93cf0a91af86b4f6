//! Redirects are never followed: a token endpoint that answers 301/302/303/307/308 towards another server
//! (another port: someone else's listener) gets an error, and with td-oauth's own HTTP client that other
//! server sees no request at all. A caller-supplied client that follows redirects is stopped as well where
//! the transport can turn redirects off per request ([`Driver::STOPS_FOLLOWING_CLIENTS`]); where it cannot,
//! its redirected answer is still refused.

use td_oauth_core::transport::Config;
use td_oauth_core::{Error, Scopes, TokenClient};
use td_oauth_testkit::{Fault, TestServer};

use crate::driver::Driver;
use crate::setup::{endpoints, jwt, register};

fn client<D: Driver>(server: &TestServer, config: Config<D::Client>) -> D::Client {
    D::client(TokenClient::new(&endpoints(server), jwt(&register(server))), config).unwrap()
}

/// Every redirect status towards another port is refused, not retried, and never reaches it: with the
/// transport's own HTTP client, and with a caller's following one where the transport stops it.
pub fn redirects_to_another_port_are_refused_and_never_reach_it<D: Driver>() {
    let server = TestServer::start().unwrap();
    let elsewhere = TestServer::start().unwrap();
    let mut configs = vec![("default client", Config::new())];
    if D::STOPS_FOLLOWING_CLIENTS {
        configs.push(("caller's following client", D::following_redirects(Config::new())));
    }
    for (name, config) in configs {
        let client = client::<D>(&server, config);
        for status in [301, 302, 303, 307, 308] {
            server.inject(Fault::body(status, "text/plain", "moved").with_header("location", elsewhere.token_url()));
            let before = server.request_count();
            let err = D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err();
            assert!(matches!(err, Error::Redirected { .. }), "{name}, {status}: {err:?}");
            assert_eq!(server.request_count(), before + 1, "{name}, {status}: not retried");
            assert_eq!(elsewhere.request_count(), 0, "{name}, {status}: the redirect target was contacted");
        }
    }
}

/// A caller's HTTP client that follows redirects still gets no token from elsewhere: the redirected answer
/// is refused.
pub fn a_following_caller_client_still_gets_no_token_from_elsewhere<D: Driver>() {
    let server = TestServer::start().unwrap();
    let elsewhere = TestServer::start().unwrap();
    let client = client::<D>(&server, D::following_redirects(Config::new()));
    server.inject(Fault::body(307, "text/plain", "moved").with_header("location", elsewhere.token_url()));
    let err = D::block_on(D::client_credentials(&client, Scopes::none())).unwrap_err();
    assert!(matches!(err, Error::Redirected { .. }), "{err:?}");
}
