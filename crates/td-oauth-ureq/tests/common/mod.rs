//! Helpers shared by the end-to-end tests: servers, clients and fast configurations.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Barrier};
use std::time::Duration;

use td_oauth_testkit::{Algorithm, ClientCredentials, TestServer};
use td_oauth_ureq::core::retry::RetryPolicy;
use td_oauth_ureq::core::{ClientId, ClientSecret, Credentials, Endpoints, KeyId, PrivateKey, TokenResponse};
use td_oauth_ureq::{Client, Config, Error, TokenProvider};

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

pub const SCHEMES: [Scheme; 2] = [Scheme::Http, Scheme::Https];

pub fn start(scheme: Scheme) -> TestServer {
    TestServer::builder().https(scheme == Scheme::Https).start().unwrap()
}

/// Short backoffs, generous timeouts: retries are quick, slow CI machines do not time out by accident.
pub fn fast_config(server: &TestServer) -> Config {
    let mut config = Config::new()
        .with_connect_timeout(Duration::from_secs(5))
        .with_timeout(Duration::from_secs(5))
        .with_retry_policy(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
                .unwrap()
                .with_deadline(Duration::from_secs(20)),
        );
    if let Some(cert) = server.certificate() {
        config = config.with_root_certificate(cert.der.clone()).with_system_roots(false);
    }
    config
}

pub fn jwt_credentials(creds: &ClientCredentials) -> Credentials {
    Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        PrivateKey::parse(&creds.private_key).unwrap(),
    )
}

pub fn basic_credentials(creds: &ClientCredentials) -> Credentials {
    Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(creds.client_secret.clone()))
        .unwrap()
}

pub fn endpoints(server: &TestServer) -> Endpoints {
    Endpoints::from_token_url(server.token_url()).unwrap()
}

/// A signed-JWT client with [`fast_config`] changed by `tweak`.
pub fn jwt_client(server: &TestServer, creds: &ClientCredentials, tweak: impl FnOnce(Config) -> Config) -> Client {
    Client::with_config(&endpoints(server), jwt_credentials(creds), tweak(fast_config(server))).unwrap()
}

pub fn register(server: &TestServer) -> ClientCredentials {
    server.register_client(Algorithm::Es256).unwrap()
}

/// `n` threads, released together by a barrier, each asking `provider` for a token once.
pub fn race(provider: &TokenProvider, n: usize) -> Vec<Result<Arc<TokenResponse>, Error>> {
    let barrier = Barrier::new(n);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    provider.token()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// Asserts every result is the same token and returns it.
pub fn all_same(results: Vec<Result<Arc<TokenResponse>, Error>>) -> Arc<TokenResponse> {
    let tokens: Vec<Arc<TokenResponse>> = results.into_iter().map(|r| r.unwrap()).collect();
    let first = tokens[0].clone();
    for token in &tokens {
        assert_eq!(token.access_token().secret(), first.access_token().secret());
    }
    first
}
/// A clock the tests step (td-oauth-core's running `ManualClock`), whose `nth` reading from a chosen moment
/// panics, to provoke a panic inside the provider.
#[derive(Debug, Clone)]
pub struct TestClock {
    pub time: td_oauth_ureq::core::clock::ManualClock,
    countdown: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TestClock {
    pub fn new() -> Self {
        TestClock { time: td_oauth_ureq::core::clock::ManualClock::running(), countdown: Default::default() }
    }

    pub fn panic_on_read(&self, nth: usize) {
        self.countdown.store(nth, std::sync::atomic::Ordering::SeqCst);
    }
}

impl td_oauth_ureq::core::clock::Clock for TestClock {
    fn now(&self) -> std::time::Instant {
        use std::sync::atomic::Ordering::SeqCst;
        if self.countdown.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)) == Ok(1) {
            panic!("the test clock failed, as the test asked");
        }
        self.time.now()
    }
}
