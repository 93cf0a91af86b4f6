//! Helpers shared by the integration tests: a testkit server over HTTP or HTTPS, clients with short
//! timeouts that trust its certificate, and credentials in both client authentications.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code, unreachable_pub)]

use std::time::Duration;

use td_oauth_reqwest::{
    CachePolicy, Client, ClientId, ClientSecret, Config, Credentials, Endpoints, KeyId, PrivateKey, RetryPolicy,
};
use td_oauth_testkit::{Algorithm, ClientCredentials, TestServer};

/// Both transports' schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

pub const SCHEMES: [Scheme; 2] = [Scheme::Http, Scheme::Https];

pub fn server(scheme: Scheme) -> TestServer {
    match scheme {
        Scheme::Http => TestServer::start().unwrap(),
        Scheme::Https => TestServer::start_https().unwrap(),
    }
}

pub fn server_with_lifetime(scheme: Scheme, lifetime: Duration) -> TestServer {
    TestServer::builder().https(scheme == Scheme::Https).token_lifetime(lifetime).start().unwrap()
}

/// Settings for tests: short timeouts and backoffs, and trust in the server's certificate only.
pub fn config(server: &TestServer) -> Config {
    let mut config = Config::default()
        .with_timeout(Duration::from_millis(500))
        .with_connect_timeout(Duration::from_millis(500))
        .with_retry_policy(
            RetryPolicy::default()
                .with_backoff(Duration::from_millis(10), Duration::from_millis(50))
                .unwrap()
                .with_deadline(Duration::from_secs(5)),
        );
    if let Some(cert) = server.certificate() {
        config = config.with_root_certificate(cert.der.clone()).with_system_roots(false);
    }
    config
}

pub fn jwt(creds: &ClientCredentials) -> Credentials {
    Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        // An RSA key does not say which PS algorithm it signs with: Talkdesk's key_algorithm does.
        PrivateKey::parse_with_algorithm(&creds.private_key, creds.algorithm.as_str().parse().unwrap()).unwrap(),
    )
}

pub fn basic(creds: &ClientCredentials) -> Credentials {
    Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(&creds.client_secret))
        .unwrap()
}

pub fn client_with(server: &TestServer, credentials: Credentials, config: Config) -> Client {
    Client::with_config(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials, config).unwrap()
}

/// A JWT client for a newly registered ES256 client, with the test settings.
pub fn client(server: &TestServer) -> (Client, ClientCredentials) {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    (client_with(server, jwt(&creds), config(server)), creds)
}

/// A cache policy for short test tokens: refresh when `percent` % of the lifetime is left.
pub fn cache_policy(percent: u32) -> CachePolicy {
    CachePolicy::default()
        .with_refresh_percent(percent)
        .unwrap()
        .with_refresh_jitter_percent(0)
        .unwrap()
        .with_expiry_margin(Duration::from_millis(100))
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// A clock the tests step (td-oauth-core's running `ManualClock`), whose `nth` reading from a chosen moment
/// panics, to provoke a panic inside the provider.
#[derive(Debug, Clone)]
pub struct TestClock {
    pub time: td_oauth_reqwest::core::clock::ManualClock,
    countdown: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TestClock {
    pub fn new() -> Self {
        TestClock { time: td_oauth_reqwest::core::clock::ManualClock::running(), countdown: Default::default() }
    }

    pub fn panic_on_read(&self, nth: usize) {
        self.countdown.store(nth, std::sync::atomic::Ordering::SeqCst);
    }
}

impl td_oauth_reqwest::core::clock::Clock for TestClock {
    fn now(&self) -> std::time::Instant {
        use std::sync::atomic::Ordering::SeqCst;
        if self.countdown.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)) == Ok(1) {
            panic!("the test clock failed, as the test asked");
        }
        self.time.now()
    }
}
