//! Keys rotated under a running client (td-oauth-transport-tests' `key_rotation` scenarios): a key file swapped
//! like a Kubernetes secret, and several keys of one client.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Blocking, key_rotation);
