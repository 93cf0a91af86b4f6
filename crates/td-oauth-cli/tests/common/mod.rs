//! What the CLI's integration tests share: the binary with a clean environment, and the browser's part of
//! the authorization-code flow.

#![allow(dead_code, clippy::unwrap_used)]

use std::process::Command;

/// The built `td-oauth`, with no `TALKDESK_*` or `TD_OAUTH_LOG` variable leaking in from the machine.
pub(crate) fn td_oauth() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_td-oauth"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TALKDESK_") || name == "TD_OAUTH_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// Follows an authorize URL like a browser, stopping at the redirect: the redirect's query parameters.
pub(crate) fn authorize(url: &str) -> Vec<(String, String)> {
    let agent: td_oauth_ureq::ureq::Agent =
        td_oauth_ureq::ureq::Agent::config_builder().max_redirects(0).http_status_as_error(false).build().into();
    let response = agent.get(url).call().unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    url::Url::parse(location).unwrap().query_pairs().into_owned().collect()
}

/// The value of `name` among query parameters.
pub(crate) fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap()
}
