//! The Talkdesk API over sockets against the testkit, with blocking calls, as td-oauth-transport-tests'
//! `api` scenarios say: userinfo with a user token and the 400 of a client-credentials one, HAL lists
//! followed to their end (and stopped at another origin or the page bound), Talkdesk error bodies, the Apps
//! API's lifecycle calls (409 = already done), STS tokens sent without `Bearer`, and ending a user's
//! session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

td_oauth_transport_tests::scenario_tests!(common::Blocking, api);
