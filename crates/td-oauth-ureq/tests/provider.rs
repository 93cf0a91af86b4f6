//! The shared provider's behaviour: td-oauth-testkit's table of provider cases (refresh ahead, expiry,
//! rotation, the herd, a failing endpoint, a panic while recording, …) on a clock the cases step, and
//! `with_token`, run by td-oauth-transport-tests' `provider_cases` scenarios with blocking calls on threads.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use td_oauth_ureq::{Client, Error, TokenProvider};

td_oauth_transport_tests::scenario_tests!(common::Blocking, provider_cases);

#[test]
fn provider_is_send_sync_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<TokenProvider>();
    check::<Client>();
    check::<Error>();
}
