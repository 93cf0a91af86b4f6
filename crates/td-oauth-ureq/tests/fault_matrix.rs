//! The fault matrix (`td_oauth_testkit::matrix`): every fault the testkit can inject at the token endpoint,
//! against a cold cache, a warm cache and a cache due for refresh ahead of expiry, with the outcome of every
//! cell asserted, and the odd `expires_in` values beside it; run by td-oauth-transport-tests'
//! `fault_matrix` scenarios with this transport's blocking driver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Blocking, fault_matrix);
