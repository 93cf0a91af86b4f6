//! Assertions signed outside the process's memory (td-oauth-transport-tests' `signers` scenarios): blocking
//! and async signers over real sockets, and the errors for one that fails, hangs or answers in the wrong form.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Async, signers);
