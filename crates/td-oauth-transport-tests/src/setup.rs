//! What the transports' tests build with: a testkit server over HTTP or HTTPS, settings with short
//! backoffs that trust its certificate only, credentials in both client authentications, and a clock the
//! tests step.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use td_oauth_core::clock::{Clock, ManualClock};
use td_oauth_core::retry::RetryPolicy;
use td_oauth_core::transport::{Config, Transport};
use td_oauth_core::{ClientId, ClientSecret, Credentials, Endpoints, KeyId, PrivateKey};
use td_oauth_testkit::{Algorithm, ClientCredentials, TestServer};

/// HTTP or HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP on loopback.
    Http,
    /// HTTPS with the testkit's self-signed certificate.
    Https,
}

/// Both schemes.
pub const SCHEMES: [Scheme; 2] = [Scheme::Http, Scheme::Https];

/// A new server over `scheme`.
pub fn server(scheme: Scheme) -> TestServer {
    TestServer::builder().https(scheme == Scheme::Https).start().unwrap()
}

/// Settings for either transport: short backoffs, generous timeouts (a slow machine is not taken for a
/// slow server), and trust in the server's certificate only.
pub fn config<T: Transport>(server: &TestServer) -> Config<T> {
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

/// The server's token URL.
pub fn endpoints(server: &TestServer) -> Endpoints {
    Endpoints::from_token_url(server.token_url()).unwrap()
}

/// A newly registered ES256 client.
pub fn register(server: &TestServer) -> ClientCredentials {
    server.register_client(Algorithm::Es256).unwrap()
}

/// `creds` as a signed-JWT client authentication.
pub fn jwt(creds: &ClientCredentials) -> Credentials {
    Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        // An RSA key does not say which PS algorithm it signs with: Talkdesk's key_algorithm does.
        PrivateKey::parse_with_algorithm(&creds.private_key, creds.algorithm.as_str().parse().unwrap()).unwrap(),
    )
}

/// `creds` as an HTTP Basic client authentication.
pub fn basic(creds: &ClientCredentials) -> Credentials {
    Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(&creds.client_secret))
        .unwrap()
}

/// A clock the tests step (td-oauth-core's running `ManualClock`), whose `nth` reading from a chosen moment
/// panics, to provoke a panic inside the provider.
#[derive(Debug, Clone)]
pub struct TestClock {
    /// The time it tells; advance it to step the provider's rules.
    pub time: ManualClock,
    countdown: Arc<AtomicUsize>,
}

impl TestClock {
    /// A clock that moves with real time until advanced.
    pub fn new() -> Self {
        TestClock { time: ManualClock::running(), countdown: Arc::default() }
    }

    /// Makes the `nth` reading from now panic (1: the next one).
    pub fn panic_on_read(&self, nth: usize) {
        self.countdown.store(nth, SeqCst);
    }
}

impl Default for TestClock {
    fn default() -> Self {
        TestClock::new()
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        if self.countdown.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)) == Ok(1) {
            panic!("the test clock failed, as the test asked");
        }
        self.time.now()
    }
}
