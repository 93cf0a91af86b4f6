//! Redirects are never followed (td-oauth-transport-tests' `redirects` scenarios): a token endpoint that
//! answers 301/302/303/307/308 towards another server (another port: someone else's listener) gets an
//! error, and with td-oauth's own HTTP client that other server sees no request at all. A caller-supplied
//! `reqwest::Client` that follows redirects cannot be stopped per request (reqwest has no such switch): its
//! redirected answer is still refused, which is why the docs require such clients to come from
//! `Config::http_client_builder()` or `Policy::none()`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Async, redirects);
