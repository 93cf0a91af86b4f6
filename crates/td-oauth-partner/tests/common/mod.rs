//! Helpers shared by the manager and lifecycle tests: a testkit server over HTTP or HTTPS, each transport's
//! settings with short backoffs that trust its certificate, and a clock the tests step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code, unreachable_pub)]

use std::time::Duration;

use td_oauth_core::clock::{Clock, ManualClock};
use td_oauth_core::retry::RetryPolicy;
use td_oauth_core::transport::{Config, Transport};
use td_oauth_testkit::TestServer;

/// Both schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

pub fn server(scheme: Scheme) -> TestServer {
    TestServer::builder().https(scheme == Scheme::Https).start().unwrap()
}

/// Settings for either transport: short backoffs, generous timeouts, and trust in the server's
/// certificate only.
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

/// A clock the tests step (td-oauth-core's running `ManualClock`), whose `nth` reading from a chosen moment
/// panics, to provoke a panic inside the provider.
#[derive(Debug, Clone)]
pub struct TestClock {
    pub time: ManualClock,
    countdown: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TestClock {
    pub fn new() -> Self {
        TestClock { time: ManualClock::running(), countdown: Default::default() }
    }

    pub fn panic_on_read(&self, nth: usize) {
        self.countdown.store(nth, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> std::time::Instant {
        use std::sync::atomic::Ordering::SeqCst;
        if self.countdown.fetch_update(SeqCst, SeqCst, |n| n.checked_sub(1)) == Ok(1) {
            panic!("the test clock failed, as the test asked");
        }
        self.time.now()
    }
}
