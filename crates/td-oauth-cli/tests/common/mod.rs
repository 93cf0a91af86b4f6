//! What the CLI's integration tests share: the binary with a clean environment, scratch files, output
//! checks, and the browser's part of the authorization-code flow.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use td_oauth_testkit::{ClientCredentials, TestServer};

/// The built `td-oauth`, with no `TALKDESK_*` or `TD_OAUTH_*` variable leaking in from the machine, and
/// no D-Bus session: a test's login never reaches the keyring of the desktop it runs on (a test that
/// wants a Secret Service starts its own, and points DBUS_SESSION_BUS_ADDRESS at it).
pub(crate) fn td_oauth() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_td-oauth"));
    for (name, _) in std::env::vars() {
        if name.starts_with("TALKDESK_") || name.starts_with("TD_OAUTH_") {
            command.env_remove(name);
        }
    }
    command.env("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/td-oauth-tests-have-no-session-bus");
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

/// A scratch directory removed when the test ends.
pub(crate) struct Scratch(PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("td-oauth-cli-test-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// A file only its owner can read, as secrets should be.
    pub(crate) fn file(&self, name: &str, content: &str) -> PathBuf {
        self.file_with_mode(name, content.as_bytes(), 0o600)
    }

    pub(crate) fn file_with_mode(&self, name: &str, content: &[u8], mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let path = self.0.join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().unwrap()
}

/// Runs `command` with `input` on its standard input.
pub(crate) fn run_with_stdin(command: &mut Command, input: &[u8]) -> Output {
    use std::io::Write as _;
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// The write end of a pipe whose reader has already gone: every write to it fails with a broken pipe.
pub(crate) fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// Asserts that the run did not panic (exit status 101, a panic message).
pub(crate) fn assert_no_panic(output: &Output, what: &str) {
    assert_ne!(output.status.code(), Some(101), "{what} panicked: {}", String::from_utf8_lossy(&output.stderr));
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("panicked"),
        "{what}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

pub(crate) fn assert_exit(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(output), stderr(output));
}

/// `td-oauth SUBCOMMAND` connected to `server` as `client` with a signed JWT, key from a file.
pub(crate) fn connected(subcommand: &str, server: &TestServer, client: &ClientCredentials, key_file: &Path) -> Command {
    let mut command = td_oauth();
    command
        .arg(subcommand)
        .args(["--token-url", server.token_url()])
        .args(["--client-id", &client.client_id])
        .args(["--key-id", &client.key_id])
        .arg("--private-key-file")
        .arg(key_file)
        .args(["--timeout", "2", "--retries", "1"]);
    command
}
