//! The blocking face (`BlockingFleetCache` under td-oauth-ureq providers) against td-oauth-testkit's identity
//! server and a real `redis-server`: several caches (as separate processes would have) with many threads on a
//! cold cache share one token request; Redis stopped still gives tokens; a dropped token leaves Redis; calls
//! from inside a tokio runtime work; async and blocking processes share one entry.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetConfig, FleetKey, SealingKey};
use td_oauth_testkit::{Algorithm, ClientCredentials, RedisServer, TOKEN_PATH, TestServer};
use td_oauth_ureq::{Client, ClientId, Config, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes};

const SCOPE: &str = "apps:read";
const CACHES: usize = 4;
const THREADS_PER_CACHE: usize = 8;

fn sealing_key() -> SealingKey {
    SealingKey::new([0x5a; 32])
}

fn scopes() -> Scopes {
    SCOPE.parse().unwrap()
}

/// Counting tests: a slow Redis is a fallback (another token request) by design, so a loaded machine must
/// not pass for one.
fn patient() -> FleetConfig {
    FleetConfig::default().with_redis_timeout(Duration::from_secs(5)).with_max_wait(Duration::from_secs(15))
}

struct Fixture {
    server: TestServer,
    redis: RedisServer,
    creds: ClientCredentials,
}

impl Fixture {
    fn start() -> Fixture {
        let server = TestServer::start().unwrap();
        let redis = RedisServer::start().unwrap();
        let creds = server.register_client(Algorithm::Es256).unwrap();
        Fixture { server, redis, creds }
    }

    fn cache(&self, config: FleetConfig) -> BlockingFleetCache {
        BlockingFleetCache::with_config(&self.redis.url(), sealing_key(), config).unwrap()
    }

    /// A ureq client whose providers go through `shared`, if given.
    fn client(&self, shared: Option<BlockingFleetCache>) -> Client {
        let credentials = Credentials::private_key_jwt(
            ClientId::new(&self.creds.client_id).unwrap(),
            KeyId::new(&self.creds.key_id).unwrap(),
            PrivateKey::parse(&self.creds.private_key).unwrap(),
        );
        let mut config = Config::default().with_timeout(Duration::from_secs(20));
        if let Some(shared) = shared {
            config = config.with_shared_cache(Arc::new(shared));
        }
        Client::with_config(&Endpoints::from_token_url(self.server.token_url()).unwrap(), credentials, config).unwrap()
    }

    fn fleet_key(&self) -> FleetKey {
        FleetKey::new(self.server.token_url(), &ClientId::new(&self.creds.client_id).unwrap(), &scopes())
    }

    fn token_requests(&self) -> usize {
        self.server.count_path(TOKEN_PATH)
    }

    /// `threads` concurrent `token()` calls on one fresh provider (cold in-process cache) over `cache`.
    fn tokens(&self, cache: &BlockingFleetCache, threads: usize) -> Vec<String> {
        let provider = self.client(Some(cache.clone())).provider(Grant::client_credentials(scopes()));
        std::thread::scope(|scope| {
            let callers: Vec<_> = (0..threads).map(|_| scope.spawn(|| provider.token())).collect();
            callers
                .into_iter()
                .map(|caller| caller.join().unwrap().unwrap().access_token().secret().to_owned())
                .collect()
        })
    }
}

#[test]
fn four_caches_of_eight_threads_on_a_cold_cache_send_one_token_request() {
    let fixture = Fixture::start();
    // One cache and one provider per "process", all started together.
    let caches: Vec<_> = (0..CACHES).map(|_| fixture.cache(patient())).collect();
    let providers: Vec<_> = caches
        .iter()
        .map(|cache| fixture.client(Some(cache.clone())).provider(Grant::client_credentials(scopes())))
        .collect();
    let barrier = std::sync::Barrier::new(CACHES * THREADS_PER_CACHE);
    let tokens: Vec<String> = std::thread::scope(|scope| {
        let callers: Vec<_> = providers
            .iter()
            .flat_map(|provider| std::iter::repeat_n(provider, THREADS_PER_CACHE))
            .map(|provider| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    provider.token().unwrap().access_token().secret().to_owned()
                })
            })
            .collect();
        callers.into_iter().map(|caller| caller.join().unwrap()).collect()
    });
    assert_eq!(tokens.len(), CACHES * THREADS_PER_CACHE);
    assert!(tokens.iter().all(|token| token == &tokens[0]), "every process got the fleet's one token");
    assert_eq!(fixture.token_requests(), 1, "{:#?}", fixture.server.requests());
}

#[test]
fn every_caller_gets_a_token_when_redis_stops() {
    let fixture = Fixture::start();
    let cache = fixture.cache(FleetConfig::default().with_redis_timeout(Duration::from_millis(200)));
    let first = fixture.tokens(&cache, 8);
    assert_eq!(fixture.token_requests(), 1);
    assert_eq!(fixture.tokens(&cache, 8), first, "a second provider takes the shared token");
    assert_eq!(fixture.token_requests(), 1);

    fixture.redis.stop();
    for round in 0..3 {
        let got = fixture.tokens(&cache, 8);
        assert_eq!(got.len(), 8, "round {round}");
        assert!(got.iter().all(|token| !token.is_empty() && token == &got[0]));
    }
    // Each cold provider fetched for itself: one request per provider, never one per caller.
    assert_eq!(fixture.token_requests(), 4);
}

#[test]
fn a_redis_that_is_down_at_start_up_is_a_fallback_not_an_error() {
    let fixture = Fixture::start();
    let url = fixture.redis.url();
    fixture.redis.stop();
    let cache = BlockingFleetCache::new(&url, sealing_key()).unwrap();
    assert_eq!(fixture.tokens(&cache, 4).len(), 4);
    assert_eq!(fixture.token_requests(), 1);
    assert!(!format!("{cache:?}").contains("redis://"), "{cache:?}");
}

#[test]
fn an_invalidated_token_is_not_handed_back_by_redis() {
    let fixture = Fixture::start();
    let cache = fixture.cache(patient());
    let provider = fixture.client(Some(cache.clone())).provider(Grant::client_credentials(scopes()));
    let first = provider.token().unwrap();
    assert_eq!(fixture.token_requests(), 1);

    provider.invalidate();
    let second = provider.token().unwrap();
    assert_eq!(fixture.token_requests(), 2, "Redis no longer held the invalidated token");
    assert_ne!(second.access_token().secret(), first.access_token().secret());

    // After a 401, `token_rejected` does the same.
    provider.token_rejected(&second);
    let third = provider.token().unwrap();
    assert_eq!(fixture.token_requests(), 3);
    assert_ne!(third.access_token().secret(), second.access_token().secret());

    // The fleet now shares the newest token: another process's provider takes it without a request.
    assert_eq!(fixture.tokens(&fixture.cache(patient()), 2), vec![third.access_token().secret().to_owned(); 2]);
    assert_eq!(fixture.token_requests(), 3);
}

#[test]
fn get_or_fetch_and_discard_without_a_provider() {
    let fixture = Fixture::start();
    let cache = fixture.cache(patient());
    let client = fixture.client(None);
    let grant = Grant::client_credentials(scopes());
    let key = fixture.fleet_key();
    let first = cache.get_or_fetch(&key, || client.fetch(&grant)).unwrap();
    let again = cache.get_or_fetch(&key, || Err::<_, &str>("must not fetch")).unwrap();
    assert_eq!(again.access_token().secret(), first.access_token().secret());
    assert_eq!(fixture.token_requests(), 1);
    // The fetch's own error comes back as it is.
    cache.discard(&key, &first);
    assert_eq!(cache.get_or_fetch(&key, || Err::<td_oauth_ureq::TokenResponse, _>("refused")).unwrap_err(), "refused");
}

#[test]
fn calls_from_inside_a_tokio_runtime_work_and_share() {
    let fixture = Fixture::start();
    let cache = fixture.cache(patient());
    let first = fixture.tokens(&cache, 1).remove(0);
    let client = fixture.client(Some(cache.clone()));
    let grant = Grant::client_credentials(scopes());
    for flavor in ["current_thread", "multi_thread"] {
        let rt = match flavor {
            "current_thread" => tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap(),
            _ => tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap(),
        };
        rt.block_on(async {
            // Blocking inside an async task: not recommended, but it must not panic, and it shares.
            let in_task = client.provider(grant.clone()).token().unwrap();
            assert_eq!(in_task.access_token().secret(), first, "{flavor}");
            let provider = client.provider(grant.clone());
            let in_blocking = tokio::task::spawn_blocking(move || provider.token().unwrap()).await.unwrap();
            assert_eq!(in_blocking.access_token().secret(), first, "{flavor}");
        });
        // The cache (and its runtime) may be dropped inside a runtime too.
        let dropped = fixture.cache(patient());
        rt.block_on(async move { drop(dropped) });
    }
    assert_eq!(fixture.token_requests(), 1);
}

#[test]
fn async_and_blocking_processes_share_one_entry() {
    let fixture = Fixture::start();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let fleet = FleetCache::with_config(&fixture.redis.url(), sealing_key(), patient()).unwrap();
    let creds = &fixture.creds;
    let credentials = td_oauth_reqwest::Credentials::private_key_jwt(
        ClientId::new(&creds.client_id).unwrap(),
        KeyId::new(&creds.key_id).unwrap(),
        PrivateKey::parse(&creds.private_key).unwrap(),
    );
    let config = td_oauth_reqwest::Config::default().with_shared_cache(Arc::new(fleet));
    let endpoints = Endpoints::from_token_url(fixture.server.token_url()).unwrap();
    let client = td_oauth_reqwest::Client::with_config(&endpoints, credentials, config).unwrap();
    let from_async = rt.block_on(client.provider(Grant::client_credentials(scopes())).token()).unwrap();
    let from_blocking = fixture.tokens(&fixture.cache(patient()), 2);
    assert_eq!(from_blocking, vec![from_async.access_token().secret().to_owned(); 2]);
    assert_eq!(fixture.token_requests(), 1);
}

#[test]
fn other_grants_go_straight_to_the_token_endpoint() {
    use td_oauth_ureq::SharedCache as _;
    let fixture = Fixture::start();
    let cache = fixture.cache(patient());
    let client = fixture.client(Some(cache.clone()));
    let redis_reads = || {
        let stats = fixture.redis.command(&[b"INFO", b"commandstats"]).unwrap();
        String::from_utf8_lossy(&stats).contains("cmdstat_get:")
    };
    client.fetch(&Grant::client_credentials(scopes())).unwrap();
    assert_eq!(fixture.token_requests(), 1);
    assert!(!redis_reads(), "Client::fetch is a direct request");

    // A refresh-token grant is per user: sent as is (the server refuses this one), never looked up.
    let grant = Grant::refresh_token(td_oauth_ureq::RefreshToken::new("not-issued".to_owned()), scopes());
    assert!(cache.fetch(&client, &grant).is_err());
    assert_eq!(fixture.token_requests(), 2);
    assert!(!redis_reads());

    // The control: a client-credentials grant through the same cache does use Redis.
    cache.fetch(&client, &Grant::client_credentials(scopes())).unwrap();
    assert!(redis_reads());
}
