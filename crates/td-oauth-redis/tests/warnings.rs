//! What the fleet cache says and costs when Redis cannot be used, against real servers: a `redis-server`
//! that wants a password, refuses the one given or is out of memory is named by its error code; a server
//! that drops every connection is tried once per call, not on the connection manager's retry schedule; an
//! IPv6 host is shown in brackets. Each time the token is fetched directly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read as _;
use std::net::{Ipv6Addr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use td_oauth_redis::{FleetCache, FleetConfig, FleetKey, SealingKey};
use td_oauth_reqwest::{Client, ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::{Algorithm, LogCapture, RedisServer, TOKEN_PATH, TestServer};

/// The identity server and a client of it.
struct Fixture {
    server: TestServer,
    client: Client,
}

impl Fixture {
    fn start() -> Fixture {
        let server = TestServer::start().unwrap();
        let creds = server.register_client(Algorithm::Es256).unwrap();
        let credentials = Credentials::private_key_jwt(
            ClientId::new(&creds.client_id).unwrap(),
            KeyId::new(&creds.key_id).unwrap(),
            PrivateKey::parse(&creds.private_key).unwrap(),
        );
        let client = Client::new(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials).unwrap();
        Fixture { server, client }
    }

    /// One `get_or_fetch` through a fleet cache on `url`: what `tracing` said meanwhile.
    fn fetch_through(&self, url: &str, config: FleetConfig) -> String {
        let fleet = FleetCache::with_config(url, SealingKey::new([7; 32]), config).unwrap();
        let scopes: Scopes = "apps:read".parse().unwrap();
        let key = FleetKey::new(self.server.token_url(), &ClientId::new("c").unwrap(), &scopes);
        let grant = Grant::client_credentials(scopes);
        let capture = LogCapture::default();
        {
            let _events = capture.install();
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(fleet.get_or_fetch(&key, || self.client.fetch(&grant))).unwrap();
        }
        capture.text()
    }
}

/// A `redis-server` that asks for `password` (set once it is up, as the testkit checks it with a bare PING).
fn with_password(password: &str) -> RedisServer {
    let redis = RedisServer::start().unwrap();
    redis.command(&[b"CONFIG", b"SET", b"requirepass", password.as_bytes()]).unwrap();
    redis
}

/// A warning that names `code` and not the client's name for it.
fn assert_names(logs: &str, code: &str) {
    assert!(logs.contains("level=WARN") && logs.contains(code), "{code} not named in {logs}");
    for kind in ["Extension", "ResponseError", "AuthenticationFailed"] {
        assert!(!logs.contains(kind), "{kind} in {logs}");
    }
}

#[test]
fn a_server_wanting_a_password_is_named_noauth() {
    let fixture = Fixture::start();
    let redis = with_password("s3cret-pw");
    let logs = fixture.fetch_through(&redis.url(), FleetConfig::default());
    assert_names(&logs, "NOAUTH");
    assert_eq!(fixture.server.count_path(TOKEN_PATH), 1, "fetched directly");
}

#[test]
fn a_refused_password_is_named_wrongpass_and_not_shown() {
    let fixture = Fixture::start();
    let redis = with_password("s3cret-pw");
    let url = format!("redis://:not-the-pw@127.0.0.1:{}/0", redis.port());
    let logs = fixture.fetch_through(&url, FleetConfig::default());
    assert_names(&logs, "WRONGPASS");
    assert!(!logs.contains("not-the-pw"), "{logs}");
}

#[test]
fn a_server_out_of_memory_is_named_oom() {
    let fixture = Fixture::start();
    // One byte of memory and no eviction: every write is refused with OOM.
    let redis = RedisServer::start_with(&["--maxmemory", "1", "--maxmemory-policy", "noeviction"]).unwrap();
    let logs = fixture.fetch_through(&redis.url(), FleetConfig::default());
    assert_names(&logs, "OOM");
    assert_eq!(fixture.server.count_path(TOKEN_PATH), 1, "fetched directly");
}

#[test]
fn a_server_that_drops_every_connection_is_tried_once_per_call() {
    let fixture = Fixture::start();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let attempts = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&attempts);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            // Read what the client sends, then close: the connection fails as a refused one does.
            if let Ok(mut stream) = stream {
                let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
                let _ = stream.read(&mut [0; 256]);
            }
        }
    });
    // A long Redis timeout, so that a retry schedule inside one call would have time to show.
    let config = FleetConfig::default().with_redis_timeout(Duration::from_secs(2));
    let logs = fixture.fetch_through(&format!("redis://127.0.0.1:{port}/0"), config);
    assert!(logs.contains("fetching the token directly"), "{logs}");
    assert_eq!(attempts.load(Ordering::SeqCst), 1, "one connection attempt for the call");
    assert_eq!(fixture.server.count_path(TOKEN_PATH), 1);
}

#[test]
fn an_ipv6_host_is_shown_in_brackets() {
    let fixture = Fixture::start();
    // A free IPv6 loopback port, closed again: connections to it are refused. Skipped without IPv6.
    let Ok(listener) = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)) else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let logs = fixture.fetch_through(&format!("redis://[::1]:{port}/0"), FleetConfig::default());
    assert!(logs.contains(&format!("[::1]:{port}")), "{logs}");
}
