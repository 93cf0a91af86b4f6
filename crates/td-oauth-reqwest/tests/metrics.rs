//! The `metrics` feature: a provider's fetches, retries, cache hits and misses, fetch latency and the
//! cached token's remaining lifetime, recorded with metrics-util's debugging recorder while the provider
//! talks to the testkit server over a socket. Labels are grant, region and outcome only.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Scheme, client, server};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::{CompositeKey, MetricKind};
use td_oauth_reqwest::core::telemetry::{
    CACHE_HITS, CACHE_MISSES, FETCH_SECONDS, FETCHES, RETRIES, TOKEN_REMAINING_SECONDS,
};
use td_oauth_reqwest::{Grant, Scopes};
use td_oauth_testkit::{Fault, FaultTarget, TOKEN_PATH};

/// A metric as recorded: name, labels (sorted), value.
type Recorded = (String, Vec<(String, String)>, DebugValue);

/// Every metric recorded.
fn recorded(snapshotter: &Snapshotter) -> Vec<Recorded> {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value): (CompositeKey, _, _, _)| {
            let mut labels: Vec<_> = key.key().labels().map(|l| (l.key().to_owned(), l.value().to_owned())).collect();
            labels.sort();
            (key.key().name().to_owned(), labels, value)
        })
        .collect()
}

fn labels(outcome: Option<&str>) -> Vec<(String, String)> {
    let mut labels =
        vec![("grant".to_owned(), "client_credentials".to_owned()), ("region".to_owned(), "other".to_owned())];
    labels.extend(outcome.map(|o| ("outcome".to_owned(), o.to_owned())));
    labels.sort();
    labels
}

fn counter(all: &[Recorded], name: &str, outcome: Option<&str>) -> u64 {
    let wanted = labels(outcome);
    all.iter()
        .find_map(|(n, l, v)| match v {
            DebugValue::Counter(count) if n == name && *l == wanted => Some(*count),
            _ => None,
        })
        .unwrap_or(0)
}

#[test]
fn fetches_retries_hits_misses_latency_and_lifetime_are_recorded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let server = server(Scheme::Http);
    let (client, creds) = client(&server);
    let provider = client.provider(Grant::client_credentials(Scopes::new(["users:read"]).unwrap()));
    // A current-thread runtime: the recorder is this thread's, and every task runs on it.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            provider.token().await.unwrap(); // a miss and a fetch
            provider.token().await.unwrap(); // hits
            provider.with_token(|_| ()).await.unwrap();

            // One 503, then a token: a retry, and a second successful fetch.
            server.inject_on(FaultTarget::Token, Fault::status(503), 1);
            provider.invalidate();
            provider.token().await.unwrap();

            // A refusal that is not retried.
            server.inject_on(FaultTarget::Token, Fault::status(400), 1);
            provider.invalidate();
            assert!(provider.token().await.is_err());
        })
    });
    assert_eq!(server.count_path(TOKEN_PATH), 4);

    let all = recorded(&snapshotter);
    assert_eq!(counter(&all, FETCHES, Some("success")), 2, "{all:?}");
    assert_eq!(counter(&all, FETCHES, Some("oauth_error")), 1, "{all:?}");
    assert_eq!(counter(&all, RETRIES, None), 1);
    assert_eq!(counter(&all, CACHE_HITS, None), 2);
    assert_eq!(counter(&all, CACHE_MISSES, None), 3);

    let latencies: usize = all
        .iter()
        .filter(|(name, _, _)| name == FETCH_SECONDS)
        .map(|(_, _, value)| match value {
            DebugValue::Histogram(values) => {
                assert!(values.iter().all(|v| v.into_inner() >= 0.0 && v.into_inner() < 10.0));
                values.len()
            }
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(latencies, 3, "one latency per fetch, by outcome");

    let remaining = all
        .iter()
        .find_map(|(name, l, value)| match value {
            DebugValue::Gauge(seconds) if name == TOKEN_REMAINING_SECONDS && *l == labels(None) => {
                Some(seconds.into_inner())
            }
            _ => None,
        })
        .unwrap();
    assert!(remaining > 0.0 && remaining <= 3600.0, "{remaining}");

    // Low cardinality: no client id, account or scope in any label.
    for (name, labels, _) in &all {
        for (key, value) in labels {
            assert!(["grant", "region", "outcome"].contains(&key.as_str()), "{name}: {key}");
            assert!(!value.contains(&creds.client_id) && !value.contains("users:read"), "{name}: {value}");
        }
    }
    let kinds: Vec<MetricKind> =
        snapshotter.snapshot().into_vec().into_iter().map(|(key, _, _, _)| key.kind()).collect();
    assert!(kinds.contains(&MetricKind::Histogram) && kinds.contains(&MetricKind::Gauge));
}
