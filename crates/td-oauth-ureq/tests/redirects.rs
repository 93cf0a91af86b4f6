//! Redirects are never followed (td-oauth-transport-tests' `redirects` scenarios): a token endpoint that
//! answers 301/302/303/307/308 towards another server (another port: someone else's listener) gets an
//! error, and that other server sees no request at all, even when the caller supplies an agent configured
//! to follow redirects.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Blocking, redirects);
