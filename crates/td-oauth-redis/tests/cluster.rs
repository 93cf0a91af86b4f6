//! The fleet cache on a real 3-master Redis Cluster (td-oauth-testkit's `RedisCluster`: `redis-server
//! --cluster-enabled yes` × 3 joined by `redis-cli --cluster create`) against the testkit's identity server.
//! While the cluster is healthy, a fleet (async and blocking members, each with its own cluster connection
//! and its own provider) sends one token request per fleet key, whichever node serves the key's slot; with
//! one master killed mid-run, members fetch directly and every caller still gets a token, without waiting
//! long.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetConfig, FleetKey, SealingKey};
use td_oauth_reqwest::{Client, ClientId, Config, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes};
use td_oauth_testkit::{Algorithm, ClientCredentials, RedisCluster, TOKEN_PATH, TestServer};

/// Fleet members per fleet key.
const MEMBERS: usize = 4;
/// Callers in each member, all at once.
const CALLERS: usize = 10;
/// How many scope sets (fleet keys) the test uses.
const KEYS: usize = 6;

fn sealing_key() -> SealingKey {
    SealingKey::new([0x3c; 32])
}

fn fleet_config() -> FleetConfig {
    FleetConfig::default().with_redis_timeout(Duration::from_millis(300)).with_poll_interval(Duration::from_millis(10))
}

/// `KEYS` scope sets the client may ask for, one fleet key each, whose keys reach at least two of the
/// cluster's nodes (the keys hash the server's port and a random client id, so which node serves which key
/// differs from run to run): the first, one served by another node, then the next ones in order.
fn scope_sets(fixture: &Fixture) -> Vec<(String, usize)> {
    // API scopes only (`openid` and `offline_access` are for user grants).
    let scopes: Vec<&str> = td_oauth_testkit::DEFAULT_SCOPES.into_iter().filter(|s| s.contains(':')).collect();
    let scopes = &scopes;
    let singles = scopes.iter().map(|s| (*s).to_owned());
    let pairs = scopes.iter().enumerate().flat_map(|(i, a)| scopes[i + 1..].iter().map(move |b| format!("{a} {b}")));
    let owned: Vec<(String, usize)> = singles
        .chain(pairs)
        .map(|scopes| {
            let key = fixture.fleet_key(&scopes);
            let owner = fixture.cluster.owner_of(key.token_key()).unwrap();
            // Every fleet key's token and lease share a slot.
            assert_eq!(fixture.cluster.owner_of(key.lease_key()), Some(owner), "{scopes}: one slot");
            (scopes, owner)
        })
        .collect();
    let other = owned.iter().position(|(_, owner)| *owner != owned[0].1).expect("keys on more than one node");
    let mut chosen = vec![owned[0].clone(), owned[other].clone()];
    chosen.extend(owned.iter().enumerate().filter(|(i, _)| *i != 0 && *i != other).map(|(_, o)| o.clone()));
    chosen.truncate(KEYS);
    chosen
}

struct Fixture {
    server: TestServer,
    cluster: RedisCluster,
    creds: ClientCredentials,
    rt: tokio::runtime::Runtime,
}

impl Fixture {
    fn seeds(&self) -> Vec<String> {
        self.cluster.urls()
    }

    fn fleet_cache(&self) -> FleetCache {
        let seeds = self.seeds();
        let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
        FleetCache::cluster_with_config(&seeds, sealing_key(), fleet_config()).unwrap()
    }

    fn credentials(&self) -> Credentials {
        Credentials::private_key_jwt(
            ClientId::new(&self.creds.client_id).unwrap(),
            KeyId::new(&self.creds.key_id).unwrap(),
            PrivateKey::parse(&self.creds.private_key).unwrap(),
        )
    }

    fn fleet_key(&self, scopes: &str) -> FleetKey {
        FleetKey::new(self.server.token_url(), &ClientId::new(&self.creds.client_id).unwrap(), &scopes.parse().unwrap())
    }

    /// `MEMBERS` members, each with its own cluster connection and cold provider, `CALLERS` calls each, all
    /// at once: every access token handed out.
    fn fleet_round(&self, scopes: &str) -> Vec<String> {
        let endpoints = Endpoints::from_token_url(self.server.token_url()).unwrap();
        let providers: Vec<_> = (0..MEMBERS)
            .map(|_| {
                let config = Config::default().with_shared_cache(Arc::new(self.fleet_cache()));
                let client = Client::with_config(&endpoints, self.credentials(), config).unwrap();
                client.provider(Grant::client_credentials(scopes.parse::<Scopes>().unwrap()))
            })
            .collect();
        self.rt.block_on(async {
            let tasks: Vec<_> = providers
                .iter()
                .flat_map(|provider| (0..CALLERS).map(move |_| provider.clone()))
                .map(|provider| tokio::spawn(async move { provider.token().await }))
                .collect();
            let mut tokens = Vec::new();
            for task in tasks {
                tokens.push(task.await.unwrap().unwrap().access_token().secret().to_owned());
            }
            tokens
        })
    }

    fn token_requests(&self) -> usize {
        self.server.count_path(TOKEN_PATH)
    }
}

#[test]
fn one_token_request_per_fleet_key_on_a_healthy_cluster_and_direct_fetches_without_it() {
    let server = TestServer::start().unwrap();
    let cluster = RedisCluster::start(3).unwrap();
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let fixture = Fixture { server, cluster, creds, rt };

    let sets = scope_sets(&fixture);
    let (scope_sets, owners): (Vec<String>, Vec<usize>) = sets.into_iter().unzip();

    // Healthy: one request per fleet key, all members and callers handed the same token.
    for (i, scopes) in scope_sets.iter().enumerate() {
        let tokens = fixture.fleet_round(scopes);
        assert_eq!(tokens.len(), MEMBERS * CALLERS);
        assert!(tokens.iter().all(|t| *t == tokens[0]), "{scopes}: one token for the fleet");
        assert_eq!(fixture.token_requests(), i + 1, "{scopes}: one token request for the fleet");
    }
    // A blocking member (td-oauth-ureq) on the same cluster shares the token too.
    let seeds = fixture.seeds();
    let seeds: Vec<&str> = seeds.iter().map(String::as_str).collect();
    let blocking = BlockingFleetCache::cluster_with_config(&seeds, sealing_key(), fleet_config()).unwrap();
    let ureq_config = td_oauth_ureq::Config::default().with_shared_cache(Arc::new(blocking));
    let ureq_client = td_oauth_ureq::Client::with_config(
        &td_oauth_ureq::Endpoints::from_token_url(fixture.server.token_url()).unwrap(),
        fixture.credentials(),
        ureq_config,
    )
    .unwrap();
    let provider = ureq_client.provider(td_oauth_ureq::Grant::client_credentials(scope_sets[0].parse().unwrap()));
    provider.token().unwrap();
    assert_eq!(fixture.token_requests(), KEYS, "the blocking member found the fleet's token");

    // One master killed: the fleet keys it served are gone with it. Members fetch directly, every caller
    // gets a token, and nobody waits long.
    let victim = owners[0];
    fixture.cluster.node(victim).stop();
    let served_by_victim: Vec<&str> = scope_sets
        .iter()
        .zip(&owners)
        .filter(|(_, owner)| **owner == victim)
        .map(|(scopes, _)| scopes.as_str())
        .collect();
    for scopes in &served_by_victim {
        let before = fixture.token_requests();
        let started = Instant::now();
        let tokens = fixture.fleet_round(scopes);
        assert_eq!(tokens.len(), MEMBERS * CALLERS, "{scopes}: every caller got a token");
        assert_eq!(fixture.token_requests() - before, MEMBERS, "{scopes}: one direct fetch per member");
        assert!(started.elapsed() < Duration::from_secs(10), "{scopes}: took {:?}", started.elapsed());
    }
}
