//! The client snippets docs/agent.md shows, run as child processes against a real `td-oauth agent`: Python
//! (standard library, http.client over AF_UNIX), Node.js (`http.request` with `socketPath`) and curl
//! (`--unix-socket`). They are the files in docs/agent/, and docs/agent.md is checked to hold each one
//! whole, so the page cannot drift from what runs here. Where an interpreter is missing its test says so
//! and skips (`cargo xtask test` installs them from Debian when it can).

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use td_oauth_testkit::{Algorithm, TestServer};

mod agent_support;
mod common;

use agent_support::{Agent, agent_command, client_table, socket_in};
use common::{Scratch, run, stderr, stdout};

fn docs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs")
}

fn snippet(name: &str) -> PathBuf {
    docs().join("agent").join(name)
}

/// Whether `program` is on PATH; if not, says that `what` skips.
fn available(program: &str, what: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()));
    if !found {
        eprintln!("skipped: {what}: {program} is not installed (the Debian package installs it; see .ci/run)");
    }
    found
}

/// An agent with a default client and a named one (`reports`), and the tokens each answers directly.
struct Setup {
    _server: TestServer,
    scratch: Scratch,
    agent: Agent,
    default_token: String,
    reports_token: String,
}

fn setup(name: &str) -> Setup {
    let server = TestServer::start().unwrap();
    let default = server.register_client(Algorithm::Es256).unwrap();
    let reports = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new(name);
    let key = scratch.file("default.key", &default.private_key);
    let reports_key = scratch.file("reports.key", &reports.private_key);
    let config = scratch.file("agent.toml", &client_table("reports", &server, &reports, &reports_key));
    let mut command = agent_command(&server, &default, &key);
    command.arg("--config").arg(&config);
    let agent = Agent::start(command, &socket_in(&scratch), &scratch.path().join("agent.log"));
    let default_token = agent.token("/v1/token");
    let reports_token = agent.token("/v1/token/reports");
    Setup { _server: server, scratch, agent, default_token, reports_token }
}

/// Runs `program snippet [client]` with the agent's socket in TD_OAUTH_AGENT_SOCKET: its standard output.
fn run_snippet(setup: &Setup, program: &str, file: &str, client: Option<&str>) -> String {
    let mut command = Command::new(program);
    command
        .arg(snippet(file))
        .args(client)
        .env("TD_OAUTH_AGENT_SOCKET", &setup.agent.socket)
        .env_remove("XDG_RUNTIME_DIR")
        .current_dir(setup.scratch.path());
    let output = run(&mut command);
    assert!(output.status.success(), "{program} {file}: {}{}", stdout(&output), stderr(&output));
    stdout(&output).trim().to_owned()
}

#[test]
fn the_python_snippet_gets_a_token() {
    if !available("python3", "the Python snippet test") {
        return;
    }
    let setup = setup("snippet-python");
    assert_eq!(run_snippet(&setup, "python3", "token.py", None), setup.default_token);
    assert_eq!(run_snippet(&setup, "python3", "token.py", Some("reports")), setup.reports_token);
    // A refusal is an exception with the agent's error, not a token.
    let output = run(Command::new("python3")
        .arg(snippet("token.py"))
        .arg("nobody")
        .env("TD_OAUTH_AGENT_SOCKET", &setup.agent.socket));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("unknown_client"), "{}", stderr(&output));
}

#[test]
fn the_node_snippet_gets_a_token() {
    if !available("node", "the Node.js snippet test") {
        return;
    }
    let setup = setup("snippet-node");
    assert_eq!(run_snippet(&setup, "node", "token.js", None), setup.default_token);
    assert_eq!(run_snippet(&setup, "node", "token.js", Some("reports")), setup.reports_token);
    let output = run(Command::new("node")
        .arg(snippet("token.js"))
        .arg("nobody")
        .env("TD_OAUTH_AGENT_SOCKET", &setup.agent.socket));
    assert!(!output.status.success());
    assert!(stderr(&output).contains("unknown_client"), "{}", stderr(&output));
}

#[test]
fn the_curl_snippet_gets_a_token() {
    if !available("curl", "the curl snippet test") {
        return;
    }
    let setup = setup("snippet-curl");
    for (client, token) in [(None, &setup.default_token), (Some("reports"), &setup.reports_token)] {
        let answer: serde_json::Value = serde_json::from_str(&run_snippet(&setup, "sh", "token.sh", client)).unwrap();
        assert_eq!(answer["access_token"].as_str(), Some(token.as_str()));
        assert_eq!(answer["token_type"], "Bearer");
    }
    let output = run(Command::new("sh")
        .arg(snippet("token.sh"))
        .arg("nobody")
        .env("TD_OAUTH_AGENT_SOCKET", &setup.agent.socket));
    assert_eq!(output.status.code(), Some(22), "curl --fail-with-body exits 22 on a 404");
    assert!(stdout(&output).contains("unknown_client"));
}

#[test]
fn the_docs_show_each_snippet_whole() {
    let page = std::fs::read_to_string(docs().join("agent.md")).unwrap();
    for (file, fence) in [("token.py", "```python\n"), ("token.js", "```js\n"), ("token.sh", "```sh\n")] {
        let text = std::fs::read_to_string(snippet(file)).unwrap();
        assert!(page.contains(&format!("{fence}{text}```\n")), "docs/agent.md does not show docs/agent/{file} whole");
    }
}
