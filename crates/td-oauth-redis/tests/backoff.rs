//! Backoff shared by the fleet, against td-oauth-testkit's identity server and a real `redis-server`: when the
//! token endpoint refuses one process (429 with `Retry-After`, or repeated failures), the others, async and
//! blocking, plain providers and partner-app managers, send no token request until the wait is over, then
//! one for the whole fleet. Each provider has its own fleet cache, as a process of its own would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetConfig, FleetKey, SealingKey};
use td_oauth_reqwest::{
    Account, CachePolicy, ClientId, Credentials, Endpoints, Error, Grant, KeyId, PrivateKey, RetryPolicy, Scopes,
};
use td_oauth_testkit::{
    Algorithm, AppEvent, ClientCredentials, Fault, RedisCluster, RedisServer, TOKEN_PATH, TestServer, app_event,
    app_event_with_root, bulk_payload,
};

const SCOPE: &str = "apps:read";

fn sealing_key() -> SealingKey {
    SealingKey::new([0x3c; 32])
}

/// A generous Redis timeout: a loaded machine must not pass for a slow Redis (a direct fetch).
fn fleet_config() -> FleetConfig {
    FleetConfig::default().with_redis_timeout(Duration::from_secs(5)).with_max_wait(Duration::from_secs(15))
}

fn scopes() -> Scopes {
    SCOPE.parse().unwrap()
}

/// The identity server, a Redis (one server, or a cluster), one client, and a runtime for the async providers.
struct Fleet {
    rt: tokio::runtime::Runtime,
    server: TestServer,
    redis: Redis,
    creds: ClientCredentials,
}

enum Redis {
    One(RedisServer),
    Cluster(RedisCluster),
}

impl Fleet {
    fn start() -> Fleet {
        Fleet::on(Redis::One(RedisServer::start().unwrap()))
    }

    fn on(redis: Redis) -> Fleet {
        let server = TestServer::start().unwrap();
        let creds = server.register_client(Algorithm::Es256).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        Fleet { rt, server, redis, creds }
    }

    /// The one Redis server (tests on a cluster reach its nodes through [`Fleet::node_of`]).
    fn redis(&self) -> &RedisServer {
        match &self.redis {
            Redis::One(server) => server,
            Redis::Cluster(_) => panic!("this test runs on one Redis server"),
        }
    }

    /// The node that serves `key`.
    fn node_of(&self, key: &str) -> &RedisServer {
        match &self.redis {
            Redis::One(server) => server,
            Redis::Cluster(cluster) => cluster.node(cluster.owner_of(key).unwrap()),
        }
    }

    /// A process's own fleet cache.
    fn fleet_cache(&self) -> FleetCache {
        match &self.redis {
            Redis::One(server) => FleetCache::with_config(&server.url(), sealing_key(), fleet_config()).unwrap(),
            Redis::Cluster(cluster) => {
                let urls = cluster.urls();
                let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
                FleetCache::cluster_with_config(&seeds, sealing_key(), fleet_config()).unwrap()
            }
        }
    }

    /// A blocking process's own fleet cache.
    fn blocking_cache(&self) -> BlockingFleetCache {
        match &self.redis {
            Redis::One(server) => {
                BlockingFleetCache::with_config(&server.url(), sealing_key(), fleet_config()).unwrap()
            }
            Redis::Cluster(cluster) => {
                let urls = cluster.urls();
                let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
                BlockingFleetCache::cluster_with_config(&seeds, sealing_key(), fleet_config()).unwrap()
            }
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials::private_key_jwt(
            ClientId::new(&self.creds.client_id).unwrap(),
            KeyId::new(&self.creds.key_id).unwrap(),
            PrivateKey::parse(&self.creds.private_key).unwrap(),
        )
    }

    /// An async process's provider: its own `FleetCache`, no retries inside a fetch (so that each refusal
    /// ends a fetch), and `policy`.
    fn async_provider(&self, policy: &CachePolicy) -> td_oauth_reqwest::TokenProvider {
        self.async_client(policy).provider(Grant::client_credentials(scopes()))
    }

    fn async_client(&self, policy: &CachePolicy) -> td_oauth_reqwest::Client {
        let fleet = self.fleet_cache();
        let config = td_oauth_reqwest::Config::default()
            .with_timeout(Duration::from_secs(20))
            .with_retry_policy(RetryPolicy::none())
            .with_cache_policy(policy.clone())
            .with_shared_cache(Arc::new(fleet));
        let endpoints = Endpoints::from_token_url(self.server.token_url()).unwrap();
        td_oauth_reqwest::Client::with_config(&endpoints, self.credentials(), config).unwrap()
    }

    /// A blocking process's provider: td-oauth-ureq over its own `BlockingFleetCache`.
    fn blocking_provider(&self, policy: &CachePolicy) -> td_oauth_ureq::TokenProvider {
        let fleet = self.blocking_cache();
        let config = td_oauth_ureq::Config::default()
            .with_timeout(Duration::from_secs(20))
            .with_retry_policy(RetryPolicy::none())
            .with_cache_policy(policy.clone())
            .with_shared_cache(Arc::new(fleet));
        let endpoints = Endpoints::from_token_url(self.server.token_url()).unwrap();
        td_oauth_ureq::Client::with_config(&endpoints, self.credentials(), config)
            .unwrap()
            .provider(Grant::client_credentials(scopes()))
    }

    fn token_requests(&self) -> usize {
        self.server.count_path(TOKEN_PATH)
    }

    fn fleet_key(&self) -> FleetKey {
        FleetKey::new(self.server.token_url(), &ClientId::new(&self.creds.client_id).unwrap(), &scopes())
    }

    fn backoff_key(&self) -> String {
        self.fleet_key().backoff_key().to_owned()
    }

    /// The backoff record's remaining Redis TTL in ms (`None`: there is none).
    fn backoff_ttl(&self) -> Option<u64> {
        let key = self.backoff_key();
        let reply = self.node_of(&key).command(&[b"PTTL", key.as_bytes()]).unwrap();
        let text = String::from_utf8(reply).unwrap();
        text.trim().strip_prefix(':').and_then(|n| n.parse().ok())
    }
}

/// The wait an error asks for, if it is the fleet's backoff.
fn fleet_wait(error: &Error) -> Option<Duration> {
    match error {
        Error::FleetBackoff { retry_after, status } => {
            assert_eq!(*status, Some(429), "{error}");
            Some(*retry_after)
        }
        _ => None,
    }
}

fn is_429(error: &Error) -> bool {
    error.oauth().is_some_and(|oauth| oauth.status().as_u16() == 429)
}

/// Calls `attempt` every 50 ms until it returns `Some`, for at most `limit`.
fn eventually<T>(what: &str, limit: Duration, mut attempt: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(done) = attempt() {
            return done;
        }
        assert!(started.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_429_to_one_process_holds_every_process_until_its_retry_after_then_one_request_for_all() {
    let fleet = Fleet::start();
    let policy = CachePolicy::default();
    let (a, b) = (fleet.async_provider(&policy), fleet.async_provider(&policy));
    let c = fleet.blocking_provider(&policy);

    fleet.server.inject(Fault::retry_after(429, "2"));
    let refused_at = Instant::now();
    let refused = fleet.rt.block_on(a.token()).unwrap_err();
    assert!(is_429(&refused), "{refused:?}");
    assert_eq!(fleet.token_requests(), 1);
    let ttl = fleet.backoff_ttl().expect("the refusal is recorded beside the token's lease");
    assert!(ttl <= 2000, "{ttl} ms");

    // During the wait, B (async) and C (blocking) are refused by the fleet's record, without a request.
    let wait = Duration::from_secs(2);
    while refused_at.elapsed() < wait.saturating_sub(Duration::from_millis(300)) {
        let b_error = fleet.rt.block_on(b.token()).unwrap_err();
        let c_error = c.token().unwrap_err();
        for error in [&b_error, &c_error] {
            let left = fleet_wait(error).unwrap_or_else(|| panic!("not the fleet's backoff: {error:?}"));
            assert!(left <= wait, "{left:?}");
            assert!(error.is_retryable() && error.retry_after().is_some(), "{error:?}");
        }
        assert_eq!(fleet.token_requests(), 1, "no token request while the fleet waits");
        std::thread::sleep(Duration::from_millis(100));
    }

    // Once it is over: B and C together, then A, get one token, fetched once for the fleet.
    let (b_token, c_token) = eventually("the fleet's wait to end", Duration::from_secs(15), || {
        let (b_result, c_result) = std::thread::scope(|scope| {
            let c_call = scope.spawn(|| c.token());
            (fleet.rt.block_on(b.token()), c_call.join().unwrap())
        });
        match (b_result, c_result) {
            (Ok(b_token), Ok(c_token)) => Some((b_token, c_token)),
            (b_result, c_result) => {
                for error in [b_result.err(), c_result.err()].into_iter().flatten() {
                    assert!(fleet_wait(&error).is_some(), "{error:?}");
                }
                None
            }
        }
    });
    assert!(refused_at.elapsed() >= wait, "no token before the wait was over");
    let a_token = eventually("A's own backoff to end", Duration::from_secs(15), || fleet.rt.block_on(a.token()).ok());
    assert_eq!(b_token.access_token().secret(), c_token.access_token().secret());
    assert_eq!(a_token.access_token().secret(), b_token.access_token().secret());
    assert_eq!(fleet.token_requests(), 2, "one request for the whole fleet after the wait");
    assert_eq!(fleet.backoff_ttl(), None, "the token stored cleared the refusal");
}

#[test]
fn a_token_stored_for_the_fleet_clears_its_refusal() {
    let fleet = Fleet::start();
    let policy = CachePolicy::default();
    let (a, b) = (fleet.async_provider(&policy), fleet.async_provider(&policy));
    fleet.server.inject(Fault::retry_after(429, "30"));
    assert!(is_429(&fleet.rt.block_on(a.token()).unwrap_err()));
    assert!(fleet.backoff_ttl().is_some());

    // A token reaches Redis all the same (here through get_or_fetch, which knows no provider's rule).
    let direct = fleet.fleet_cache();
    let client = fleet.async_client(&policy);
    let grant = Grant::client_credentials(scopes());
    let stored = fleet.rt.block_on(direct.get_or_fetch(&fleet.fleet_key(), || client.fetch(&grant))).unwrap();
    assert_eq!(fleet.backoff_ttl(), None, "storing the token cleared the refusal");
    assert_eq!(fleet.token_requests(), 2);

    // B takes it from Redis; once it is dropped (a 401, say), B's next request is not held by a stale refusal.
    let token = fleet.rt.block_on(b.token()).unwrap();
    assert_eq!(token.access_token().secret(), stored.access_token().secret());
    b.invalidate();
    let fresh = fleet.rt.block_on(b.token()).unwrap();
    assert_ne!(fresh.access_token().secret(), stored.access_token().secret());
    assert_eq!(fleet.token_requests(), 3);
}

#[test]
fn a_retry_after_beyond_the_maximum_backoff_holds_the_fleet_only_that_long() {
    let fleet = Fleet::start();
    let policy = CachePolicy::default().with_backoff(Duration::from_secs(1), Duration::from_secs(2)).unwrap();
    let (a, c) = (fleet.async_provider(&policy), fleet.blocking_provider(&policy));

    fleet.server.inject(Fault::retry_after(429, "3600"));
    let refused_at = Instant::now();
    assert!(is_429(&fleet.rt.block_on(a.token()).unwrap_err()));
    let ttl = fleet.backoff_ttl().expect("the refusal is recorded");
    assert!(ttl <= 2000, "kept {ttl} ms, more than the 2 s maximum backoff");
    let error = c.token().unwrap_err();
    let left = fleet_wait(&error).unwrap_or_else(|| panic!("{error:?}"));
    assert!(left <= Duration::from_secs(2), "{left:?}");
    assert_eq!(fleet.token_requests(), 1);

    // Within seconds, not an hour: one request, C's, then A gets the fleet's token from Redis.
    let token = eventually("the capped wait to end", Duration::from_secs(10), || c.token().ok());
    assert!(refused_at.elapsed() >= Duration::from_millis(1500));
    assert_eq!(fleet.token_requests(), 2);
    let a_token = eventually("A's own backoff to end", Duration::from_secs(10), || fleet.rt.block_on(a.token()).ok());
    assert_eq!(a_token.access_token().secret(), token.access_token().secret());
    assert_eq!(fleet.token_requests(), 2);
}

#[test]
fn repeated_failures_are_shared_from_the_second_in_a_row() {
    let fleet = Fleet::start();
    let policy = CachePolicy::default();
    let (a, c) = (fleet.async_provider(&policy), fleet.blocking_provider(&policy));
    fleet.server.inject_n(Fault::status(503), 2);

    // A's first failed fetch is its own (it may be this host's trouble): nothing recorded.
    let first = fleet.rt.block_on(a.token()).unwrap_err();
    assert!(first.is_retryable() && fleet_wait(&first).is_none(), "{first:?}");
    assert_eq!(fleet.backoff_ttl(), None);
    // Its second, after its own backoff, is shared.
    eventually("A's second request", Duration::from_secs(10), || {
        let _ = fleet.rt.block_on(a.token());
        (fleet.token_requests() == 2).then_some(())
    });
    let ttl = fleet.backoff_ttl().expect("the second failure in a row is recorded");
    assert!(ttl <= 2000, "{ttl} ms: the backoff after the second failure is 2 s");
    match c.token().unwrap_err() {
        Error::FleetBackoff { status: Some(503), retry_after } => assert!(retry_after <= Duration::from_secs(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(fleet.token_requests(), 2, "C sent nothing");
    eventually("the fleet's wait to end", Duration::from_secs(10), || c.token().ok());
    assert_eq!(fleet.token_requests(), 3);
}

#[test]
fn with_redis_down_each_process_decides_alone_and_the_cache_adds_no_error() {
    let fleet = Fleet::start();
    let policy = CachePolicy::default();
    let (a, b) = (fleet.async_provider(&policy), fleet.async_provider(&policy));
    let c = fleet.blocking_provider(&policy);
    fleet.server.inject(Fault::retry_after(429, "30"));
    assert!(is_429(&fleet.rt.block_on(a.token()).unwrap_err()));
    assert!(fleet.backoff_ttl().is_some(), "recorded while Redis was up");

    // Redis goes away with the record: B and C cannot read it, so each asks for itself, and gets a token.
    fleet.redis().stop();
    let b_token = fleet.rt.block_on(b.token()).unwrap();
    let c_token = c.token().unwrap();
    assert_eq!(fleet.token_requests(), 3, "each process on its own: A's refusal, B's and C's requests");
    assert_ne!(b_token.access_token().secret(), c_token.access_token().secret(), "nothing shared");
    // A keeps to its own backoff: its own error again, no request.
    let again = fleet.rt.block_on(a.token()).unwrap_err();
    assert!(is_429(&again), "{again:?}");
    assert_eq!(fleet.token_requests(), 3);
}

#[test]
fn partner_managers_in_a_fleet_wait_out_a_refusal_together() {
    let fleet = Fleet::start();
    let event = app_event(AppEvent::Installed, "acme", fleet.server.token_url(), &fleet.creds);
    let account: Account = "acme".parse().unwrap();
    let async_config = td_oauth_reqwest::Config::default()
        .with_timeout(Duration::from_secs(20))
        .with_retry_policy(RetryPolicy::none())
        .with_shared_cache(Arc::new(fleet.fleet_cache()));
    let manager = td_oauth_partner::TokenManager::new(async_config).unwrap();
    manager.handle_event(&event).unwrap();
    let blocking_config = td_oauth_ureq::Config::default()
        .with_timeout(Duration::from_secs(20))
        .with_retry_policy(RetryPolicy::none())
        .with_shared_cache(Arc::new(fleet.blocking_cache()));
    let blocking = td_oauth_partner::BlockingTokenManager::new(blocking_config).unwrap();
    blocking.handle_event(&event).unwrap();

    fleet.server.inject(Fault::retry_after(429, "2"));
    let refused_at = Instant::now();
    match fleet.rt.block_on(manager.token(&account, &scopes())).unwrap_err() {
        td_oauth_partner::Error::Core(error) => assert!(is_429(&error), "{error:?}"),
        other => panic!("{other:?}"),
    }
    match blocking.token(&account, &scopes()).unwrap_err() {
        td_oauth_partner::Error::Core(error) => assert!(fleet_wait(&error).is_some(), "{error:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fleet.token_requests(), 1, "the blocking manager sent nothing");

    let token =
        eventually("the fleet's wait to end", Duration::from_secs(15), || blocking.token(&account, &scopes()).ok());
    assert!(refused_at.elapsed() >= Duration::from_millis(1500));
    let again = eventually("the async manager's backoff to end", Duration::from_secs(15), || {
        fleet.rt.block_on(manager.token(&account, &scopes())).ok()
    });
    assert_eq!(token.access_token().secret(), again.access_token().secret());
    assert_eq!(fleet.token_requests(), 2, "one request for both after the wait");
    let stored = fleet.redis().command(&[b"GET", fleet.backoff_key().as_bytes()]).unwrap();
    assert!(bulk_payload(&stored).is_none(), "cleared by the token stored");
}

#[test]
fn on_a_redis_cluster_the_refusal_shares_the_tokens_slot_and_holds_the_fleet() {
    let fleet = Fleet::on(Redis::Cluster(RedisCluster::start(3).unwrap()));
    let Redis::Cluster(cluster) = &fleet.redis else { unreachable!() };
    let key = fleet.fleet_key();
    let slot_owner = cluster.owner_of(key.token_key());
    assert_eq!(cluster.owner_of(key.backoff_key()), slot_owner, "one slot");
    assert_eq!(cluster.owner_of(key.lease_key()), slot_owner, "one slot");

    let policy = CachePolicy::default();
    let (a, b) = (fleet.async_provider(&policy), fleet.async_provider(&policy));
    let c = fleet.blocking_provider(&policy);
    fleet.server.inject(Fault::retry_after(429, "2"));
    assert!(is_429(&fleet.rt.block_on(a.token()).unwrap_err()));
    assert!(fleet.backoff_ttl().is_some(), "recorded on the node serving the token's slot");
    for error in [fleet.rt.block_on(b.token()).unwrap_err(), c.token().unwrap_err()] {
        assert!(fleet_wait(&error).is_some(), "{error:?}");
    }
    assert_eq!(fleet.token_requests(), 1);

    let token = eventually("the fleet's wait to end", Duration::from_secs(15), || c.token().ok());
    let b_token = eventually("B's hold to end", Duration::from_secs(15), || fleet.rt.block_on(b.token()).ok());
    assert_eq!(token.access_token().secret(), b_token.access_token().secret());
    assert_eq!(fleet.token_requests(), 2);
    assert_eq!(fleet.backoff_ttl(), None, "cleared with the token stored, in the same slot");
}

#[test]
fn store_backed_fleet_managers_wait_out_a_refusal_together() {
    use td_oauth_partner::record::SealingKeys;
    use td_oauth_partner::store::MemoryStore;
    use td_oauth_partner::{Event, FleetTokenManager};

    let fleet = Fleet::start();
    let store = Arc::new(MemoryStore::new());
    let allow = td_oauth_reqwest::api::GatewayAllowList::default().with_origin(fleet.server.base_url()).unwrap();
    let body = app_event_with_root(
        AppEvent::Installed,
        "acme",
        fleet.server.token_url(),
        fleet.server.base_url(),
        &fleet.creds,
    );
    let account: Account = "acme".parse().unwrap();
    // Two replicas of a partner app: one installation store, and each its own fleet cache.
    let replicas: Vec<FleetTokenManager> = fleet.rt.block_on(async {
        let mut replicas = Vec::new();
        for _ in 0..2 {
            let config = td_oauth_reqwest::Config::default()
                .with_timeout(Duration::from_secs(20))
                .with_retry_policy(RetryPolicy::none())
                .with_shared_cache(Arc::new(fleet.fleet_cache()));
            let keys = SealingKeys::new(SealingKey::new([0x42; 32]));
            replicas.push(FleetTokenManager::new(config, store.clone(), keys).await.unwrap());
        }
        replicas[0].apply(Event::parse(&body, &allow).unwrap()).await.unwrap();
        replicas
    });

    fleet.server.inject(Fault::retry_after(429, "2"));
    let requests = fleet.token_requests();
    let token = |replica: &FleetTokenManager| fleet.rt.block_on(replica.token(&account, &scopes()));
    match token(&replicas[0]).unwrap_err() {
        td_oauth_partner::Error::Core(error) => assert!(is_429(&error), "{error:?}"),
        other => panic!("{other:?}"),
    }
    match token(&replicas[1]).unwrap_err() {
        td_oauth_partner::Error::Core(error) => assert!(fleet_wait(&error).is_some(), "{error:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(fleet.token_requests(), requests + 1, "the second replica sent nothing");
    let second = eventually("the fleet's wait to end", Duration::from_secs(15), || token(&replicas[1]).ok());
    let first = eventually("the first replica's backoff to end", Duration::from_secs(15), || token(&replicas[0]).ok());
    assert_eq!(first.access_token().secret(), second.access_token().secret());
    assert_eq!(fleet.token_requests(), requests + 2, "one request for both replicas after the wait");
}
