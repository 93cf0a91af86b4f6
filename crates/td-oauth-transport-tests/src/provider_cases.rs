//! The shared provider's behaviour: td-oauth-testkit's table of provider cases (refresh ahead, expiry,
//! rotation, the herd, cancellation, a failing endpoint, a panic while recording, …) on a clock the cases
//! step, a bounded number at a time on threads; and `with_token`.

use td_oauth_testkit::providers;
use td_oauth_testkit::{TOKEN_PATH, TestServer, matrix};

use crate::driver::{Driver, on_threads};
use crate::setup::{Scheme, config, server};
use crate::subject::Subject;

/// Every case of the table, each against a server of its own. Only the cancellation case may be skipped,
/// and only by a blocking transport, which cannot cancel a call half-way.
pub fn provider_cases<D: Driver>() {
    let cases = providers::cases();
    let results = on_threads(&cases, providers::CONCURRENT, |case| {
        let server = TestServer::start().unwrap();
        D::block_on(case.check::<Subject<D>>(&server))
    });
    let mut checked = Vec::new();
    for (case, result) in cases.iter().zip(results) {
        match result {
            Ok(Some(reason)) => assert!(
                D::BLOCKING && case.name.contains("cancelled") && reason.contains("blocking"),
                "{}: skipped: {reason}",
                case.name
            ),
            result => checked.push(result.map(drop)),
        }
    }
    assert_eq!(checked.len(), cases.len() - usize::from(D::BLOCKING), "the cases run");
    if let Err(report) = matrix::report(checked) {
        panic!("{report}");
    }
}

/// `with_token` lends the cached token: the second call is served from the cache.
pub fn with_token_lends_the_cached_token<D: Driver>() {
    let server = server(Scheme::Http);
    let subject = Subject::<D>::client_credentials(&server, config(&server));
    let cold = D::block_on(D::with_token(&subject.provider)).unwrap();
    let warm = D::block_on(D::with_token(&subject.provider)).unwrap();
    assert_eq!(cold, warm);
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}
