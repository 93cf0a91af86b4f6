//! TLS to PostgreSQL against a real server that accepts TLS connections only (td-oauth-testkit's
//! `PostgresServer::start_tls`: `ssl=on`, pg_hba.conf `hostssl` only, a self-signed certificate made for the
//! test): the store's contract holds over TLS with `sslmode=require`, libpq's `verify-full` and the default
//! `prefer`; a certificate the store was not told to trust, or one for another server, is refused, saying
//! what to do; `sslmode=disable` is refused by the server.
//!
//! Where PostgreSQL is not installed (`.ci/run` and `cargo xtask test` install Debian's `postgresql`), each
//! test prints why and returns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use td_oauth_partner::store::{InstallationStore, StoreError};
use td_oauth_postgres::{PostgresStore, StoreConfig};
use td_oauth_store_conformance as conformance;
use td_oauth_testkit::PostgresServer;

fn tls_server(test: &str) -> Option<PostgresServer> {
    match PostgresServer::binaries() {
        Ok(_) => Some(PostgresServer::start_tls().unwrap()),
        Err(why) => {
            eprintln!("{test}: skipped, PostgreSQL cannot be started: {why}");
            None
        }
    }
}

fn trusting(postgres: &PostgresServer) -> StoreConfig {
    StoreConfig::new().with_timeout(Duration::from_secs(5)).with_ca_certificates(postgres.ca_pem().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_contract_holds_over_tls() {
    let Some(postgres) = tls_server("the_store_contract_holds_over_tls") else { return };
    let required = PostgresStore::with_config(&format!("{}?sslmode=require", postgres.url()), trusting(&postgres));
    let required = required.unwrap();
    required.migrate().await.unwrap();
    // The default sslmode (prefer) takes the TLS the server offers, and checks it the same way.
    let preferred = PostgresStore::with_config(&postgres.url(), trusting(&postgres)).unwrap();
    let first: conformance::Store = Arc::new(required);
    let second: conformance::Store = Arc::new(preferred);
    conformance::run(&first, &second).await;
    // A URL copied from a libpq program.
    let libpq = format!("{}?sslmode=verify-full", postgres.url());
    PostgresStore::with_config(&libpq, trusting(&postgres)).unwrap().list().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_certificate_is_refused_saying_what_to_do() {
    let Some(postgres) = tls_server("an_untrusted_certificate_is_refused_saying_what_to_do") else { return };
    let Some(other) = tls_server("an_untrusted_certificate_is_refused_saying_what_to_do") else { return };
    let url = format!("{}?sslmode=require", postgres.url());
    let untrusted = [("the system's CAs", StoreConfig::new()), ("another server's certificate", trusting(&other))];
    for (case, config) in untrusted {
        let err = PostgresStore::with_config(&url, config).unwrap().list().await.unwrap_err();
        let shown = err.to_string();
        assert!(matches!(err, StoreError::Refused { .. }), "{case}: {err:?}");
        assert!(
            shown.contains("TLS certificate was refused") && shown.contains("with_ca_certificates"),
            "{case}: {shown}"
        );
        assert!(!shown.contains(postgres.password()), "{case}: {shown}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_tls_is_refused_by_a_tls_only_server() {
    let Some(postgres) = tls_server("a_connection_without_tls_is_refused_by_a_tls_only_server") else { return };
    let url = format!("{}?sslmode=disable", postgres.url());
    let err = PostgresStore::with_config(&url, StoreConfig::new()).unwrap().list().await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
    assert!(shown.contains("pg_hba.conf") && shown.contains("sslmode=disable"), "{shown}");
    assert!(!shown.contains(postgres.password()), "{shown}");
}
