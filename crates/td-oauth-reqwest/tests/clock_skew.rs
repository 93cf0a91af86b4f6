//! A token endpoint whose clock is 10 minutes off from this machine's (td-oauth-transport-tests'
//! `clock_skew` scenarios): tokens still come, with one extra request the first time and none after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Async, clock_skew);
