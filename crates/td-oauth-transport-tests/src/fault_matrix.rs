//! The fault matrix (`td_oauth_testkit::matrix`): every fault the testkit can inject at the token endpoint,
//! against a cold cache, a warm cache and a cache due for refresh ahead of expiry, with the outcome of every
//! cell asserted; and the odd `expires_in` values beside it. The table and the checks are the testkit's;
//! here the cells run a bounded number at a time on threads, each against its own server, through the
//! transport's [`Driver`].

use std::time::{Duration, Instant};

use td_oauth_core::cache::CachePolicy;
use td_oauth_testkit::matrix;
use td_oauth_testkit::{Fault, TestServer};

use crate::driver::{Driver, on_threads};
use crate::subject::{Subject, matrix_config};

/// How many cells run at once: enough to overlap their waits, few enough that a loaded 2-core machine does
/// not push a healthy exchange past the 400 ms attempt timeout.
const CONCURRENT: usize = 4;

/// Every cell of the matrix, each against a server of its own; the report names every cell that disagrees.
pub fn fault_matrix<D: Driver>() {
    let results = on_threads(&matrix::cells(), CONCURRENT, |cell| {
        let server = TestServer::start().unwrap();
        D::block_on(cell.check::<Subject<D>>(&server))
    });
    if let Err(report) = matrix::report(results) {
        panic!("{report}");
    }
}

/// The matrix's "huge" `expires_in` is usable; the cache still keeps it no longer than its cap (24 h by
/// default, an hour here), after which it is refreshed like any other.
pub fn a_huge_expires_in_is_cached_no_longer_than_the_cap<D: Driver>() {
    let server = TestServer::start().unwrap();
    let cache = CachePolicy::default()
        .with_refresh_percent(75)
        .unwrap()
        .with_refresh_jitter_percent(0)
        .unwrap()
        .with_max_lifetime(Duration::from_secs(3600));
    let subject = Subject::<D>::client_credentials(&server, matrix_config::<D>(&server).with_cache_policy(cache));
    server.inject(Fault::ExpiresIn(1_000_000_000u64.into()));
    let huge = D::block_on(D::token(&subject.provider)).unwrap();
    assert_eq!(huge.expires_in(), Duration::from_secs(1_000_000_000));
    // Capped at an hour, due with 75 % left: due after 15 minutes.
    subject.clock.time.advance(Duration::from_secs(15 * 60 + 1));
    let served = D::block_on(D::token(&subject.provider)).unwrap();
    assert!(served.is_same_token(&huge), "the capped token is still valid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.request_count() < 2 {
        assert!(Instant::now() < deadline, "the capped token was never refreshed");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server that always answers `expires_in: 0`: every call gets a token (the one fetched for it), at the
/// cost of exactly one request per call; no loop, no storm, no error.
pub fn expires_in_zero_every_time_costs_one_request_per_call<D: Driver>() {
    let server = TestServer::start().unwrap();
    let subject = Subject::<D>::client_credentials(&server, matrix_config::<D>(&server));
    server.inject_n(Fault::ExpiresIn(0.into()), 100);
    for call in 1..=5 {
        let token = D::block_on(D::token(&subject.provider)).unwrap();
        assert_eq!(token.expires_in(), Duration::ZERO);
        assert_eq!(server.request_count(), call);
    }
}
