//! td-oauth-redis's `RedisStore` (feature `partner`) against real servers the test starts: the installation
//! store's contract (td-oauth-store-conformance, the same checks every store runs) on one `redis-server`
//! and on a 3-master Redis Cluster, each with two store handles as two replicas; notices lost and resumed
//! across a server restart; a cluster's installations listed from every master; `rediss://` with the
//! certificate checked; and the errors a replica sees when Redis is down or refuses its password.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use td_oauth_partner::store::{InstallationStore, Notice, Put, StoreError};
use td_oauth_redis::{RedisStore, StoreConfig};
use td_oauth_store_conformance as conformance;
use td_oauth_testkit::{RedisCluster, RedisServer, TlsRedisServer};

fn config() -> StoreConfig {
    StoreConfig::new().with_timeout(Duration::from_millis(500))
}

/// A server that asks for `password` (set once it answers: the testkit waits for a PING without one).
fn with_password(password: &str) -> RedisServer {
    let redis = RedisServer::start().unwrap();
    let reply = redis.command(&[b"CONFIG", b"SET", b"requirepass", password.as_bytes()]).unwrap();
    assert!(reply.starts_with(b"+OK"), "{}", String::from_utf8_lossy(&reply));
    redis
}

fn replicas(make: impl Fn() -> RedisStore) -> (conformance::Store, conformance::Store) {
    (Arc::new(make()), Arc::new(make()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_server_meets_the_store_contract() {
    let redis = RedisServer::start().unwrap();
    let (first, second) = replicas(|| RedisStore::with_config(&redis.url(), config()).unwrap());
    conformance::run(&first, &second).await;
}

#[test]
fn a_redis_store_works_from_blocking_code() {
    let redis = RedisServer::start().unwrap();
    let (first, second) = replicas(|| RedisStore::with_config(&redis.url(), config()).unwrap());
    conformance::from_blocking_code(first, second);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_meets_the_store_contract() {
    let cluster = RedisCluster::start(3).unwrap();
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    // The second replica knows the cluster from another seed node.
    let first: conformance::Store = Arc::new(RedisStore::cluster_with_config(&seeds, config()).unwrap());
    let reversed: Vec<&str> = seeds.iter().rev().copied().collect();
    let second: conformance::Store = Arc::new(RedisStore::cluster_with_config(&reversed, config()).unwrap());
    conformance::run(&first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_lists_and_announces_installations_from_every_master() {
    let cluster = RedisCluster::start(3).unwrap();
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    let store = RedisStore::cluster_with_config(&seeds, config()).unwrap();
    // Subscribed on the first seed node: writes whose scripts run on the other masters reach it too.
    let heard = conformance::Heard::default();
    let _subscription = store.subscribe(heard.sink()).await.unwrap();
    let run = conformance::unique("spread");
    let keys: Vec<String> = (0..24).map(|i| format!("{run}-{i}")).collect();
    for key in &keys {
        assert_eq!(store.put(key, None, key.as_bytes()).await.unwrap(), Put::Written { version: 1 });
    }
    for key in &keys {
        let notice = Notice::Changed { key: key.clone(), version: 1 };
        assert!(heard.wait_for(conformance::NOTICE_BUDGET, |n| *n == notice).await, "{key}: {:?}", heard.all());
    }
    // Each installation is one key, in the slot of its hash tag; they spread over the masters.
    let owner_of = |key: &str| {
        let redis_key = store.installation_key(key);
        (0..cluster.len())
            .find(|node| cluster.node(*node).command(&[b"EXISTS", redis_key.as_bytes()]).unwrap().starts_with(b":1"))
            .expect("stored on a master")
    };
    let owners: BTreeSet<usize> = keys.iter().map(|key| owner_of(key)).collect();
    assert_eq!(owners.len(), 3, "24 installations land on all three masters: {owners:?}");
    let listed: BTreeSet<String> =
        store.list().await.unwrap().into_iter().map(|(key, _)| key).filter(|key| key.starts_with(&run)).collect();
    assert_eq!(listed, keys.iter().cloned().collect::<BTreeSet<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_lost_and_resumed_across_a_server_restart() {
    let redis = RedisServer::start().unwrap();
    let (subscriber, writer) = replicas(|| RedisStore::with_config(&redis.url(), config()).unwrap());
    conformance::lost_and_resumed(&subscriber, &writer, async || {
        tokio::task::block_in_place(|| redis.restart().unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_is_down_is_unavailable_and_named_by_host_and_port() {
    let password = "s3cret-store-password";
    let redis = with_password(password);
    let url = format!("redis://:{password}@127.0.0.1:{}/0", redis.port());
    let store: conformance::Store = Arc::new(RedisStore::with_config(&url, config()).unwrap());
    // Up: the password works.
    assert_eq!(store.put(&conformance::unique("up"), None, b"v").await.unwrap(), Put::Written { version: 1 });
    redis.stop();
    conformance::unavailable(&store, &format!("127.0.0.1:{}", redis.port()), password).await;
    assert!(!format!("{store:?}").contains(password));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_without_showing_it() {
    let redis = with_password("the-right-one");
    let url = format!("redis://:the-wrong-one@127.0.0.1:{}/0", redis.port());
    let store = RedisStore::with_config(&url, config()).unwrap();
    let err = store.get("k").await.unwrap_err();
    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{}", redis.port())), "{message}");
    assert!(message.contains("password"), "says what to check: {message}");
    assert!(!message.contains("the-wrong-one") && !message.contains("the-right-one"), "{message}");
    // Asked again at once (before the store tries to connect again), it is still a refusal, saying why.
    let again = store.put("k", None, b"v").await.unwrap_err();
    assert!(matches!(again, StoreError::Refused { .. }), "{again:?}");
    assert!(again.to_string().contains("password"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_carries_writes_and_notices_over_tls_with_the_certificate_checked() {
    let redis = TlsRedisServer::start().unwrap();
    let trusted = config().with_timeout(Duration::from_secs(2)).with_ca_certificates(redis.ca_pem());
    let (first, second) = replicas(|| RedisStore::with_config(&redis.tls_url(), trusted.clone()).unwrap());
    let heard = conformance::Heard::default();
    let _subscription = second.subscribe(heard.sink()).await.unwrap();
    let key = conformance::unique("tls");
    assert_eq!(first.put(&key, None, b"sealed").await.unwrap(), Put::Written { version: 1 });
    assert_eq!(second.get(&key).await.unwrap().map(|v| v.value), Some(b"sealed".to_vec()));
    let notice = Notice::Changed { key: key.clone(), version: 1 };
    assert!(heard.wait_for(conformance::NOTICE_BUDGET, |n| *n == notice).await, "{:?}", heard.all());

    // The system's roots do not know the test's CA: refused, never used unchecked.
    let untrusted = RedisStore::with_config(&redis.tls_url(), config()).unwrap();
    let err = untrusted.get(&key).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_subscription_moves_to_another_node_when_its_node_dies() {
    let cluster = RedisCluster::start(3).unwrap();
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    // Subscriptions go to the first seed node first.
    let store = RedisStore::cluster_with_config(&seeds, config()).unwrap();
    let heard = conformance::Heard::default();
    let _subscription = store.subscribe(heard.sink()).await.unwrap();
    cluster.node(0).stop();
    let patience = Duration::from_secs(20);
    assert!(heard.wait_for(patience, |n| *n == Notice::Lost).await, "{:?}", heard.all());
    assert!(
        heard.wait_for(patience, |n| *n == Notice::Resumed).await,
        "resubscribed on another node: {:?}",
        heard.all()
    );
}
