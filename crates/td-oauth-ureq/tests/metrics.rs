//! The `metrics` feature on the blocking transport: the same events as td-oauth-reqwest's, from the same
//! core code (the provider machine and the retry loop), recorded with metrics-util's debugging recorder
//! while the provider talks to the testkit server over a socket.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Scheme, jwt_client, register, start};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use td_oauth_testkit::{Fault, FaultTarget};
use td_oauth_ureq::core::telemetry::{
    CACHE_HITS, CACHE_MISSES, CLOCK_OFFSET_SECONDS, FETCHES, RETRIES, TOKEN_REMAINING_SECONDS,
};
use td_oauth_ureq::{Grant, Scopes};

#[test]
fn the_blocking_provider_records_the_same_metrics() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let server = start(Scheme::Http);
    let creds = register(&server);
    let provider = jwt_client(&server, &creds, |config| config).provider(Grant::client_credentials(Scopes::none()));
    metrics::with_local_recorder(&recorder, || {
        provider.token().unwrap();
        provider.token().unwrap();
        server.inject_on(FaultTarget::Token, Fault::status(503), 1);
        provider.invalidate();
        provider.token().unwrap();
    });

    let mut seen = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        assert!(labels.contains(&"grant=client_credentials".to_owned()) && labels.contains(&"region=other".to_owned()));
        let value = match value {
            DebugValue::Counter(count) => count as f64,
            DebugValue::Gauge(value) => value.into_inner(),
            DebugValue::Histogram(values) => values.len() as f64,
        };
        seen.push((key.key().name().to_owned(), labels.join(","), value));
    }
    let value = |name: &str| seen.iter().filter(|(n, ..)| n == name).map(|(.., v)| *v).sum::<f64>();
    assert_eq!(value(FETCHES), 2.0, "{seen:?}");
    assert_eq!(value(RETRIES), 1.0);
    assert_eq!(value(CACHE_HITS), 1.0);
    assert_eq!(value(CACHE_MISSES), 2.0);
    assert!(value(TOKEN_REMAINING_SECONDS) > 0.0);
    // The testkit's clock is this machine's: the offset gauge is recorded, and near zero.
    assert!(seen.iter().any(|(n, ..)| n == CLOCK_OFFSET_SECONDS), "{seen:?}");
    assert!(value(CLOCK_OFFSET_SECONDS).abs() < 2.0, "{seen:?}");
}
