//! The fleet cache against td-oauth-testkit's identity server and a real `redis-server`: several processes
//! (this test binary, run again as workers, async or blocking) share one token request; a lease holder killed mid-fetch; Redis
//! stopped mid-run; a tampered value; and no token in clear in Redis.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetConfig, FleetKey, SealingKey};
use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::{Algorithm, ClientCredentials, Fault, RedisServer, TOKEN_PATH, TestServer, bulk_payload};

const SCOPE: &str = "apps:read";
/// Set in a worker process's environment: what it should do.
const WORKER: &str = "TD_OAUTH_FLEET_WORKER";
const CALLERS_PER_PROCESS: usize = 50;
const PROCESSES: usize = 8;

fn sealing_key() -> SealingKey {
    SealingKey::new([0x5a; 32])
}

/// The identity server, a Redis, and one registered client, with the client's key in a file for workers;
/// and one runtime for the test, since a fleet cache's connection lives on the runtime that made it.
struct Fleet {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    redis: RedisServer,
    creds: ClientCredentials,
    key_file: PathBuf,
}

impl Fleet {
    fn start() -> Fleet {
        let server = TestServer::start().unwrap();
        let redis = RedisServer::start().unwrap();
        let creds = server.register_client(Algorithm::Es256).unwrap();
        let key_file = redis.dir().join("client-key.txt");
        std::fs::write(&key_file, &creds.private_key).unwrap();
        Fleet { rt: runtime(), server, redis, creds, key_file }
    }

    fn fleet_key(&self) -> FleetKey {
        FleetKey::new(self.server.token_url(), &ClientId::new(&self.creds.client_id).unwrap(), &scopes())
    }

    fn token_requests(&self) -> usize {
        self.server.count_path(TOKEN_PATH)
    }

    /// This test binary, run as a worker: `mode` is `herd` (50 concurrent callers), `one` (one call), or
    /// `blocking-herd` (50 threads on a td-oauth-ureq provider with a `BlockingFleetCache`).
    fn worker(&self, mode: &str, lease: Duration) -> Command {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", "worker", "--nocapture", "--test-threads", "1"])
            .env(WORKER, mode)
            .env("TD_FLEET_REDIS_URL", self.redis.url())
            .env("TD_FLEET_TOKEN_URL", self.server.token_url())
            .env("TD_FLEET_CLIENT_ID", &self.creds.client_id)
            .env("TD_FLEET_KEY_ID", &self.creds.key_id)
            .env("TD_FLEET_KEY_FILE", &self.key_file)
            .env("TD_FLEET_LEASE_MS", lease.as_millis().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

fn scopes() -> Scopes {
    SCOPE.parse().unwrap()
}

fn client(token_url: &str, client_id: &str, key_id: &str, private_key: &str, fleet: Option<FleetCache>) -> Client {
    let credentials = Credentials::private_key_jwt(
        ClientId::new(client_id).unwrap(),
        KeyId::new(key_id).unwrap(),
        PrivateKey::parse(private_key).unwrap(),
    );
    let mut config = Config::default().with_timeout(Duration::from_secs(20));
    if let Some(fleet) = fleet {
        config = config.with_shared_cache(Arc::new(fleet));
    }
    Client::with_config(&Endpoints::from_token_url(token_url).unwrap(), credentials, config).unwrap()
}

fn fleet_cache(url: &str, config: FleetConfig) -> FleetCache {
    FleetCache::with_config(url, sealing_key(), config).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// `callers` concurrent `token()` calls on one fresh provider (cold in-process cache) over `fleet`.
fn tokens(fixture: &Fleet, fleet: &FleetCache, callers: usize) -> Vec<String> {
    let creds = &fixture.creds;
    let client =
        client(fixture.server.token_url(), &creds.client_id, &creds.key_id, &creds.private_key, Some(fleet.clone()));
    let provider = client.provider(Grant::client_credentials(scopes()));
    fixture.rt.block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let provider = provider.clone();
                tokio::spawn(async move { provider.token().await })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap().unwrap().access_token().secret().to_owned());
        }
        tokens
    })
}

fn stored(fixture: &Fleet) -> Option<Vec<u8>> {
    let reply = fixture.redis.command(&[b"GET", fixture.fleet_key().token_key().as_bytes()]).unwrap();
    bulk_payload(&reply).map(<[u8]>::to_vec)
}

fn describe(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Polls `condition` (every 10 ms, for at most 15 s): for states reached by another process.
fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(15), "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The worker: does nothing unless run by a test below with `TD_OAUTH_FLEET_WORKER` set.
#[test]
fn worker() {
    let Ok(mode) = std::env::var(WORKER) else { return };
    let var = |name: &str| std::env::var(name).unwrap();
    let lease = Duration::from_millis(var("TD_FLEET_LEASE_MS").parse().unwrap());
    // A slow Redis is a fallback (another token request) by design; these runs count requests, so a loaded
    // machine must not pass for a slow Redis.
    let config = FleetConfig::default()
        .with_lease(lease)
        .with_max_wait(Duration::from_secs(15))
        .with_redis_timeout(Duration::from_secs(5));
    let private_key = std::fs::read_to_string(var("TD_FLEET_KEY_FILE")).unwrap();
    if mode == "blocking-herd" {
        blocking_worker(&var, config, &private_key);
        println!("worker {mode}: {CALLERS_PER_PROCESS} tokens");
        return;
    }
    let fleet = fleet_cache(&var("TD_FLEET_REDIS_URL"), config);
    let client = client(
        &var("TD_FLEET_TOKEN_URL"),
        &var("TD_FLEET_CLIENT_ID"),
        &var("TD_FLEET_KEY_ID"),
        &private_key,
        Some(fleet),
    );
    let provider = client.provider(Grant::client_credentials(scopes()));
    let callers = if mode == "herd" { CALLERS_PER_PROCESS } else { 1 };
    runtime().block_on(async {
        let tasks: Vec<_> = (0..callers)
            .map(|_| {
                let provider = provider.clone();
                tokio::spawn(async move { provider.token().await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    });
    println!("worker {mode}: {callers} tokens");
}

/// The blocking worker: `CALLERS_PER_PROCESS` threads on one td-oauth-ureq provider over a `BlockingFleetCache`.
fn blocking_worker(var: &dyn Fn(&str) -> String, config: FleetConfig, private_key: &str) {
    let fleet = BlockingFleetCache::with_config(&var("TD_FLEET_REDIS_URL"), sealing_key(), config).unwrap();
    let credentials = td_oauth_ureq::Credentials::private_key_jwt(
        ClientId::new(&var("TD_FLEET_CLIENT_ID")).unwrap(),
        KeyId::new(&var("TD_FLEET_KEY_ID")).unwrap(),
        PrivateKey::parse(private_key).unwrap(),
    );
    let config =
        td_oauth_ureq::Config::default().with_timeout(Duration::from_secs(20)).with_shared_cache(Arc::new(fleet));
    let endpoints = Endpoints::from_token_url(&var("TD_FLEET_TOKEN_URL")).unwrap();
    let provider = td_oauth_ureq::Client::with_config(&endpoints, credentials, config)
        .unwrap()
        .provider(Grant::client_credentials(scopes()));
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..CALLERS_PER_PROCESS).map(|_| scope.spawn(|| provider.token())).collect();
        for thread in threads {
            thread.join().unwrap().unwrap();
        }
    });
}

#[test]
fn async_and_blocking_processes_on_a_cold_cache_send_one_token_request() {
    let fixture = Fleet::start();
    let children: Vec<(&str, Child)> = (0..PROCESSES)
        .map(|i| if i % 2 == 0 { "herd" } else { "blocking-herd" })
        .map(|mode| (mode, fixture.worker(mode, Duration::from_secs(5)).spawn().unwrap()))
        .collect();
    for (mode, child) in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        let done = format!("worker {mode}: 50 tokens");
        assert!(String::from_utf8_lossy(&output.stdout).contains(&done), "{}", describe(&output));
    }
    assert_eq!(fixture.token_requests(), 1, "{:#?}", fixture.server.requests());
}

#[test]
fn eight_processes_of_fifty_callers_on_a_cold_cache_send_one_token_request() {
    let fixture = Fleet::start();
    let children: Vec<Child> =
        (0..PROCESSES).map(|_| fixture.worker("herd", Duration::from_secs(5)).spawn().unwrap()).collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", describe(&output));
        assert!(String::from_utf8_lossy(&output.stdout).contains("worker herd: 50 tokens"), "{}", describe(&output));
    }
    assert_eq!(fixture.token_requests(), 1, "{:#?}", fixture.server.requests());
}

#[test]
fn a_lease_holder_killed_mid_fetch_is_taken_over_after_the_lease_expires() {
    let fixture = Fleet::start();
    // The first token request stalls: its process takes the lease and never comes back.
    fixture.server.inject(Fault::Delay(Duration::from_secs(20)));
    let mut holder = fixture.worker("one", Duration::from_millis(1500)).spawn().unwrap();
    let lease_key = fixture.fleet_key().lease_key().to_owned();
    wait_for("the worker to take the lease and ask for a token", || {
        fixture.token_requests() == 1 && fixture.redis.command(&[b"EXISTS", lease_key.as_bytes()]).unwrap() == b":1\r\n"
    });
    holder.kill().unwrap();
    holder.wait().unwrap();

    // Another process waits (its max_wait is longer than the lease), then takes the expired lease.
    let output = fixture.worker("one", Duration::from_secs(5)).output().unwrap();
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(fixture.token_requests(), 2);
    assert!(stored(&fixture).is_some(), "the new token is shared");
}

#[test]
fn every_caller_gets_a_token_when_redis_stops_mid_run() {
    let fixture = Fleet::start();
    let config =
        FleetConfig::default().with_redis_timeout(Duration::from_millis(200)).with_max_wait(Duration::from_secs(30));
    let fleet = fleet_cache(&fixture.redis.url(), config);
    let first = tokens(&fixture, &fleet, 20);
    assert_eq!(fixture.token_requests(), 1);
    // A second process's provider (cold in-process cache) takes the shared token.
    assert_eq!(tokens(&fixture, &fleet, 20), first);
    assert_eq!(fixture.token_requests(), 1);

    // Another process holds the lease and never shares a token: a cold provider's callers wait on it,
    // and Redis stops under them.
    let key = fixture.fleet_key();
    fixture.redis.command(&[b"DEL", key.token_key().as_bytes()]).unwrap();
    fixture.redis.command(&[b"SET", key.lease_key().as_bytes(), b"stuck", b"PX", b"60000"]).unwrap();
    std::thread::scope(|scope| {
        let waiting = scope.spawn(|| tokens(&fixture, &fleet, 20));
        std::thread::sleep(Duration::from_millis(300));
        fixture.redis.stop();
        assert_eq!(waiting.join().unwrap().len(), 20);
    });
    assert_eq!(fixture.token_requests(), 2);

    for round in 0..3 {
        let got = tokens(&fixture, &fleet, 20);
        assert_eq!(got.len(), 20, "round {round}");
        assert!(got.iter().all(|token| !token.is_empty()));
    }
    // Each cold provider fetched for itself: one request per provider, never one per caller.
    assert_eq!(fixture.token_requests(), 5);
}

#[test]
fn a_redis_that_is_down_at_start_up_is_a_fallback_not_an_error() {
    let fixture = Fleet::start();
    let url = fixture.redis.url();
    fixture.redis.stop();
    let fleet = fleet_cache(&url, FleetConfig::default());
    assert_eq!(tokens(&fixture, &fleet, 10).len(), 10);
    assert_eq!(fixture.token_requests(), 1);
    assert!(!format!("{fleet:?}").contains("redis://"), "{fleet:?}");
}

/// Everything `tracing` writes while `run` runs on this thread.
fn logs_of<T>(run: impl FnOnce() -> T) -> (T, String) {
    let capture = td_oauth_testkit::LogCapture::default();
    let result = {
        let _events = capture.install();
        run()
    };
    (result, capture.text())
}

#[test]
fn falling_back_says_so_naming_only_host_and_port() {
    let fixture = Fleet::start();
    let port = fixture.redis.port();
    fixture.redis.stop();
    let fleet = FleetCache::new(&format!("redis://:hunter2@127.0.0.1:{port}/0"), sealing_key()).unwrap();
    let creds = &fixture.creds;
    let client = client(fixture.server.token_url(), &creds.client_id, &creds.key_id, &creds.private_key, None);
    let grant = Grant::client_credentials(scopes());
    let (token, logs) = logs_of(|| {
        // On this thread, so that the subscriber above sees the events.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(fleet.get_or_fetch(&fixture.fleet_key(), || client.fetch(&grant))).unwrap()
    });
    assert_eq!(fixture.token_requests(), 1);
    assert!(logs.contains("level=WARN") && logs.contains("fetching the token directly"), "{logs}");
    assert!(logs.contains(&format!("127.0.0.1:{port}")), "{logs}");
    for secret in ["hunter2", "redis://", token.access_token().secret()] {
        assert!(!logs.contains(secret), "{secret} in {logs}");
    }
}

#[test]
fn a_tampered_value_is_detected_discarded_and_refetched() {
    let fixture = Fleet::start();
    let fleet = fleet_cache(&fixture.redis.url(), FleetConfig::default());
    let first = tokens(&fixture, &fleet, 5);
    let mut value = stored(&fixture).unwrap();
    let middle = value.len() / 2;
    value[middle] ^= 0x01;
    let key = fixture.fleet_key();
    let reply = fixture.redis.command(&[b"SET", key.token_key().as_bytes(), &value, b"KEEPTTL"]).unwrap();
    assert_eq!(reply, b"+OK\r\n");

    let second = tokens(&fixture, &fleet, 5);
    assert_eq!(fixture.token_requests(), 2, "the tampered token was refetched");
    assert_ne!(second[0], first[0]);
    let replaced = stored(&fixture).unwrap();
    assert_ne!(replaced, value, "the tampered value was replaced");
    // And the replacement is good: a third cold provider takes it without a request.
    assert_eq!(tokens(&fixture, &fleet, 5), second);
    assert_eq!(fixture.token_requests(), 2);
}

#[test]
fn a_value_sealed_with_another_key_is_discarded_and_refetched() {
    let fixture = Fleet::start();
    let other = FleetCache::new(&fixture.redis.url(), SealingKey::new([0x11; 32])).unwrap();
    tokens(&fixture, &other, 3);
    let fleet = fleet_cache(&fixture.redis.url(), FleetConfig::default());
    tokens(&fixture, &fleet, 3);
    assert_eq!(fixture.token_requests(), 2);
}

#[test]
fn redis_holds_no_token_and_no_identifier_in_clear() {
    let fixture = Fleet::start();
    let fleet = fleet_cache(&fixture.redis.url(), FleetConfig::default());
    let token = tokens(&fixture, &fleet, 3).remove(0);
    let value = stored(&fixture).unwrap();
    let contains = |needle: &[u8]| value.windows(needle.len()).any(|window| window == needle);
    assert!(!contains(token.as_bytes()));
    // Base64 of the token at each alignment, in both alphabets, without the last (partial) group.
    for offset in 0..3 {
        let part = &token.as_bytes()[offset..];
        for engine in [&base64::engine::general_purpose::STANDARD, &base64::engine::general_purpose::URL_SAFE] {
            let encoded = engine.encode(part);
            let whole = &encoded[..encoded.len().saturating_sub(4)];
            assert!(!contains(whole.as_bytes()), "Base64 of the token found at offset {offset}");
        }
    }
    let keys = fixture.redis.command(&[b"KEYS", b"*"]).unwrap();
    let keys = String::from_utf8_lossy(&keys);
    assert!(keys.contains(":token"), "{keys}");
    for clear in [fixture.creds.client_id.as_str(), SCOPE, "127.0.0.1"] {
        assert!(!keys.contains(clear), "{clear} in {keys}");
    }
}

#[test]
fn get_or_fetch_shares_one_fetch_and_refreshes_a_due_token_without_waiting() {
    let fixture = Fleet::start();
    // Tokens of 10 s: with a 1 s margin they stay in Redis ~9 s; 95 % makes them due at once.
    fixture.server.set_token_lifetime(Duration::from_secs(10));
    let config = FleetConfig::default().with_ttl_margin(Duration::from_secs(1)).with_refresh_below_percent(95);
    let fleet = fleet_cache(&fixture.redis.url(), config);
    let creds = &fixture.creds;
    let client = client(fixture.server.token_url(), &creds.client_id, &creds.key_id, &creds.private_key, None);
    let key = fixture.fleet_key();
    let grant = Grant::client_credentials(scopes());
    fixture.rt.block_on(async {
        let first = fleet.get_or_fetch(&key, || client.fetch(&grant)).await.unwrap();
        assert_eq!(fixture.token_requests(), 1);
        // Due (less than 95 % left once a moment has passed): this caller refreshes it.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let refreshed = fleet.get_or_fetch(&key, || client.fetch(&grant)).await.unwrap();
        assert_eq!(fixture.token_requests(), 2);
        assert_ne!(refreshed.access_token().secret(), first.access_token().secret());
        // While another process holds the lease, a due token is returned at once, without a fetch.
        fixture.redis.command(&[b"SET", key.lease_key().as_bytes(), b"someone-else", b"PX", b"10000"]).unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
        let kept = fleet
            .get_or_fetch(&key, || async { Err::<td_oauth_reqwest::TokenResponse, &str>("must not fetch") })
            .await
            .unwrap();
        assert_eq!(kept.access_token().secret(), refreshed.access_token().secret());
        // The lease is not released by a caller that does not hold it.
        assert_eq!(fixture.redis.command(&[b"EXISTS", key.lease_key().as_bytes()]).unwrap(), b":1\r\n");
    });
}

#[test]
fn a_token_refused_by_the_api_or_invalidated_leaves_the_fleet_cache() {
    let fixture = Fleet::start();
    let fleet = fleet_cache(&fixture.redis.url(), FleetConfig::default());
    let creds = &fixture.creds;
    let client =
        client(fixture.server.token_url(), &creds.client_id, &creds.key_id, &creds.private_key, Some(fleet.clone()));
    let provider = client.provider(Grant::client_credentials(scopes()));
    fixture.rt.block_on(async {
        let first = provider.token().await.unwrap();
        // A 401: the provider drops the token, and the fleet cache must not hand it back.
        provider.token_rejected(&first);
        let second = provider.token().await.unwrap();
        assert_ne!(second.access_token().secret(), first.access_token().secret());
        assert_eq!(fixture.token_requests(), 2);
        // force_refresh (invalidate, then fetch) too.
        let third = provider.force_refresh().await.unwrap();
        assert_ne!(third.access_token().secret(), second.access_token().secret());
        assert_eq!(fixture.token_requests(), 3);
    });
    // The fleet now shares the newest token.
    let newest = tokens(&fixture, &fleet, 3);
    assert_eq!(fixture.token_requests(), 3);
    assert_eq!(newest.len(), 3);
}

#[test]
fn tokens_expiring_within_the_margin_are_not_shared() {
    let fixture = Fleet::start();
    fixture.server.set_token_lifetime(Duration::from_secs(20));
    let fleet = fleet_cache(&fixture.redis.url(), FleetConfig::default().with_ttl_margin(Duration::from_secs(30)));
    tokens(&fixture, &fleet, 3);
    assert!(stored(&fixture).is_none());
    tokens(&fixture, &fleet, 3);
    assert_eq!(fixture.token_requests(), 2);
}

#[test]
fn bad_urls_are_refused_without_echoing_a_password() {
    for url in ["http://:hunter2@localhost:6379", "rediss://:hunter2@localhost:6379#insecure", "redis://:hunter2@[::1"]
    {
        let err = FleetCache::new(url, sealing_key()).unwrap_err().to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("Redis URL"), "{err}");
    }
}
