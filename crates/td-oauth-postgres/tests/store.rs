//! td-oauth-postgres's `PostgresStore` against a real PostgreSQL each test starts (td-oauth-testkit's
//! `PostgresServer`: `initdb` and `postgres` on a loopback port, as `nobody` when run as root): the
//! installation store's contract (td-oauth-store-conformance, the same checks every store runs) with two
//! store handles as two replicas; notices lost and resumed across a server restart; the schema made only by
//! the migration, and a store on a database without it answering `NotMigrated`; expired event rows deleted;
//! the errors a replica sees when the server is down or refuses its password.
//!
//! Where PostgreSQL is not installed (`.ci/run` and `cargo xtask test` install Debian's `postgresql`), each
//! test prints why and returns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use td_oauth_partner::store::{EventClaim, InstallationStore, NoticeSink, Put, StoreError};
use td_oauth_postgres::{MIGRATION, PostgresStore, StoreConfig, tokio_postgres};
use td_oauth_store_conformance as conformance;
use td_oauth_testkit::PostgresServer;

/// A server of this test's own, or `None` (said on stderr) where PostgreSQL is not installed.
fn server(test: &str) -> Option<PostgresServer> {
    match PostgresServer::binaries() {
        Ok(_) => Some(PostgresServer::start().unwrap()),
        Err(why) => {
            eprintln!("{test}: skipped, PostgreSQL cannot be started: {why}");
            None
        }
    }
}

fn config() -> StoreConfig {
    StoreConfig::new().with_timeout(Duration::from_secs(2))
}

fn store(postgres: &PostgresServer) -> PostgresStore {
    PostgresStore::with_config(&postgres.url(), config()).unwrap()
}

/// A client of the test's own, to look at the tables behind the store's back.
async fn client(postgres: &PostgresServer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&postgres.url(), tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_meets_the_store_contract() {
    let Some(postgres) = server("postgres_meets_the_store_contract") else { return };
    let first = store(&postgres);
    first.migrate().await.unwrap();
    let first: conformance::Store = Arc::new(first);
    let second: conformance::Store = Arc::new(store(&postgres));
    conformance::run(&first, &second).await;
}

#[test]
fn a_postgres_store_works_from_blocking_code() {
    let Some(postgres) = server("a_postgres_store_works_from_blocking_code") else { return };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(store(&postgres).migrate()).unwrap();
    drop(runtime);
    conformance::from_blocking_code(Arc::new(store(&postgres)), Arc::new(store(&postgres)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_lost_and_resumed_across_a_server_restart() {
    let Some(postgres) = server("notices_are_lost_and_resumed_across_a_server_restart") else { return };
    let subscriber = store(&postgres);
    subscriber.migrate().await.unwrap();
    let subscriber: conformance::Store = Arc::new(subscriber);
    let writer: conformance::Store = Arc::new(store(&postgres));
    conformance::lost_and_resumed(&subscriber, &writer, async || {
        tokio::task::block_in_place(|| postgres.restart().unwrap());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unmigrated_database_answers_not_migrated_until_the_migration_runs() {
    let Some(postgres) = server("an_unmigrated_database_answers_not_migrated_until_the_migration_runs") else { return };
    let store = store(&postgres);
    let lease = Duration::from_secs(1);
    let sink: NoticeSink = Arc::new(|_| {});
    let errors = [
        ("get", store.get("k").await.err()),
        ("put", store.put("k", None, b"v").await.err()),
        ("list", store.list().await.err()),
        ("claim", store.claim_event("e", "h", lease).await.err()),
        ("finish", store.finish_event("e", lease).await.err()),
        ("release", store.release_event("e", "h").await.err()),
        ("subscribe", store.subscribe(sink).await.err()),
    ];
    for (what, err) in errors {
        let err = err.unwrap_or_else(|| panic!("{what} succeeded on a database without td-oauth's tables"));
        assert!(matches!(err, StoreError::NotMigrated { .. }), "{what}: {err:?}");
        let message = err.to_string();
        assert!(message.contains(&format!("127.0.0.1:{}", postgres.port())), "{what}: {message}");
        assert!(message.contains("migrate") && message.contains("docs/installation-store.md"), "{what}: {message}");
    }
    // Nothing was created behind the operator's back.
    let tables: i64 = client(&postgres)
        .await
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'td_oauth%'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 0);

    // Replicas running the migration at once, and again later, all succeed.
    let (a, b) = (store.clone(), PostgresStore::with_config(&postgres.url(), config()).unwrap());
    let (first, second) = tokio::join!(a.migrate(), b.migrate());
    first.unwrap();
    second.unwrap();
    td_oauth_postgres::migrate(&client(&postgres).await).await.unwrap();
    assert_eq!(store.put("k", None, b"v").await.unwrap(), Put::Written { version: 1 });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_event_rows_are_deleted() {
    let Some(postgres) = server("expired_event_rows_are_deleted") else { return };
    let store =
        PostgresStore::with_config(&postgres.url(), config().with_sweep_interval(Duration::from_millis(1))).unwrap();
    store.migrate().await.unwrap();
    let short = Duration::from_millis(50);
    for i in 0..20 {
        let event = format!("old-{i}");
        assert_eq!(store.claim_event(&event, "h", short).await.unwrap(), EventClaim::Claimed);
        if i % 2 == 0 {
            store.finish_event(&event, short).await.unwrap();
        }
    }
    assert_eq!(store.claim_event("live", "h", Duration::from_secs(60)).await.unwrap(), EventClaim::Claimed);
    store.finish_event("live-done", Duration::from_secs(60)).await.unwrap();
    let count = async |client: &tokio_postgres::Client| -> i64 {
        client.query_one("SELECT count(*) FROM td_oauth_events", &[]).await.unwrap().get(0)
    };
    let client = client(&postgres).await;
    // Give the short rows time to expire, then let an event call sweep them.
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(store.claim_event("live", "other", Duration::from_secs(60)).await.unwrap(), EventClaim::Busy);
        if count(&client).await == 2 || started.elapsed() > Duration::from_secs(20) {
            break;
        }
    }
    let left: Vec<String> = client
        .query("SELECT event_id FROM td_oauth_events ORDER BY event_id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(left, ["live", "live-done"], "only the live rows are left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_is_down_is_unavailable_and_named_by_host_and_port() {
    let Some(postgres) = server("a_server_that_is_down_is_unavailable_and_named_by_host_and_port") else { return };
    let store = store(&postgres);
    store.migrate().await.unwrap();
    let store: conformance::Store = Arc::new(store);
    assert_eq!(store.put("up", None, b"v").await.unwrap(), Put::Written { version: 1 });
    postgres.stop();
    conformance::unavailable(&store, &format!("127.0.0.1:{}", postgres.port()), postgres.password()).await;
    assert!(!format!("{store:?}").contains(postgres.password()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_without_showing_it() {
    let Some(postgres) = server("a_wrong_password_is_refused_without_showing_it") else { return };
    let url = postgres.url().replace(postgres.password(), "the-wrong-password");
    let store = PostgresStore::with_config(&url, config()).unwrap();
    let err = store.get("k").await.unwrap_err();
    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
    assert!(!err.is_retryable());
    let message = err.to_string();
    assert!(message.contains(&format!("127.0.0.1:{}", postgres.port())), "{message}");
    assert!(message.contains("password"), "says what to check: {message}");
    assert!(!message.contains("the-wrong-password") && !message.contains(postgres.password()), "{message}");
}

#[test]
fn the_migration_in_the_docs_is_the_one_the_crate_runs() {
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/installation-store.md")).unwrap();
    assert!(
        docs.contains(MIGRATION.trim()),
        "docs/installation-store.md must show migrations/0001_installation_store.sql as is"
    );
}
