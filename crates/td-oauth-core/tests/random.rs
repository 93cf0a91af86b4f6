//! Every random value the core writes comes from the caller's `RandomSource`: one source, shared through an
//! `Arc`, feeds a token client's `jti`s, an authorize request's `state`, `nonce` and PKCE verifier, and a
//! client assertion's `jti`. (td-oauth-redis's tests check the sealed token's nonce the same way.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::SystemTime;

use td_oauth_core::jwt::UnverifiedJwt;
use td_oauth_core::random::RandomSource;
use td_oauth_core::{
    AuthorizeRequest, ClientId, Credentials, Endpoints, Error, Grant, KeyId, PrivateKey, Region, Scopes, TokenClient,
};

const ES256: &str = include_str!("keys/es256.pkcs8.b64");

/// Fills each request with one byte value, counting up from 1, so every draw is predictable.
#[derive(Default)]
struct Counter(AtomicU8);

impl RandomSource for Counter {
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        dest.fill(self.0.fetch_add(1, Ordering::Relaxed) + 1);
        Ok(())
    }
}

fn jti(request: &http::Request<td_oauth_core::request::FormBody>) -> String {
    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body().as_bytes()).into_owned().collect();
    let assertion = &form.iter().find(|(name, _)| name == "client_assertion").unwrap().1;
    let jwt = UnverifiedJwt::decode(assertion).unwrap();
    jwt.claims()["jti"].as_str().unwrap().to_owned()
}

#[test]
fn one_shared_source_feeds_every_random_value() {
    let source = Arc::new(Counter::default());
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    let credentials = Credentials::private_key_jwt(
        ClientId::new("client-1").unwrap(),
        KeyId::new("key-1").unwrap(),
        PrivateKey::parse(ES256).unwrap(),
    );
    let client = TokenClient::new(&endpoints, credentials).with_random(Arc::clone(&source));
    let grant = Grant::client_credentials(Scopes::none());

    // UUID v4 of sixteen 0x01 bytes, then of sixteen 0x02 bytes (version and variant bits set).
    assert_eq!(jti(&client.token_request(&grant, SystemTime::now()).unwrap()), "01010101-0101-4101-8101-010101010101");
    assert_eq!(jti(&client.token_request(&grant, SystemTime::now()).unwrap()), "02020202-0202-4202-8202-020202020202");

    let (_, pending) = AuthorizeRequest::new(ClientId::new("client-1").unwrap(), "https://app.example/cb")
        .with_pkce(true)
        .build(endpoints.authorize_url().unwrap(), &source)
        .unwrap();
    // 16 bytes of 0x03 and of 0x04, base64url.
    assert_eq!(pending.state(), "AwMDAwMDAwMDAwMDAwMDAw");
    assert_eq!(pending.nonce(), "BAQEBAQEBAQEBAQEBAQEBA");
    assert_eq!(pending.code_verifier().unwrap().secret(), "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU");
}
