//! `td-oauth login`, `token --user` and `logout` against td-oauth-testkit: the loopback redirect (a forged
//! one ignored, a refusal and a timeout reported), the kept refresh token (0600, rotated, refused when others
//! can read it, removed by logout), and the whole flow in a real headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use td_oauth_testkit::{Algorithm, ClientCredentials, ClientSpec, TOKEN_PATH, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout, td_oauth};

const REDIRECT: &str = "http://127.0.0.1/callback";

fn user_client(server: &TestServer) -> ClientCredentials {
    let spec = ClientSpec::new(Algorithm::Es256).redirect_uri(REDIRECT);
    server.register_client_with(spec).unwrap()
}

/// A running `td-oauth login` and the lines of its standard error, as they come.
struct Login {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl Login {
    fn start(command: &mut Command) -> Login {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let stderr = child.stderr.take().unwrap();
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                if sender.send(line.unwrap()).is_err() {
                    break;
                }
            }
        });
        Login { child, lines, seen: Vec::new() }
    }

    /// The authorize URL it printed.
    fn url(&mut self) -> String {
        loop {
            let line = self.lines.recv_timeout(Duration::from_secs(20)).expect("login prints the URL");
            self.seen.push(line.clone());
            if let Some(url) = line.trim().strip_prefix("http") {
                return format!("http{url}");
            }
        }
    }

    /// Stops it (the process this test started).
    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for it to end (at most `timeout`): its exit code and everything it printed on standard error.
    fn finish(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("login did not finish; it printed: {}", self.seen.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(line);
        }
        (status.code(), self.seen.join("\n"))
    }
}

/// The redirect URI the URL names.
fn redirect_uri(url: &str) -> String {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == "redirect_uri").unwrap().1.into_owned()
}

fn login_files(config_home: &Path) -> Vec<PathBuf> {
    let dir = config_home.join("td-oauth/logins");
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect()
}

fn stored_refresh_token(file: &Path) -> String {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    json["refresh_token"].as_str().unwrap().to_owned()
}

/// What a browser does with the authorize URL: follows the testkit's redirect to the loopback listener and
/// reads the page it answers (within 20 s: a listener that makes it wait longer fails the test).
fn browse(url: &str) -> (u16, String) {
    let agent: td_oauth_ureq::ureq::Agent = td_oauth_ureq::ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    (response.status().as_u16(), response.body_mut().read_to_string().unwrap())
}

#[test]
fn login_keeps_a_private_rotating_refresh_token_and_logout_removes_it() {
    let server = TestServer::start().unwrap();
    let client = user_client(&server);
    let scratch = Scratch::new("login-flow");
    let key_file = scratch.file("client.key", &client.private_key);
    let config_home = scratch.path().join("config");
    let command = |subcommand: &str| {
        let mut command = connected(subcommand, &server, &client, &key_file);
        command.env("XDG_CONFIG_HOME", &config_home);
        command
    };

    let mut login =
        Login::start(command("login").args(["--no-browser", "--scope", "openid offline_access users:read"]));
    let url = login.url();
    let listener = redirect_uri(&url);
    assert!(listener.starts_with("http://127.0.0.1:") && listener.ends_with("/callback"), "{listener}");
    assert!(url.contains("code_challenge_method=S256"), "PKCE is always on: {url}");

    // Another page guessing the port, with a code but not the state: refused, and the login goes on.
    let (status, page) = browse(&format!("{listener}?code=forged&state=guessed"));
    assert_eq!(status, 400);
    assert!(page.contains("ignored"), "{page}");
    let (status, page) = browse(&format!("{}/favicon.ico", listener.trim_end_matches("/callback")));
    assert_eq!(status, 404, "{page}");

    let (status, page) = browse(&url);
    assert_eq!((status, page.contains("You are logged in")), (200, true), "{page}");
    let (code, printed) = login.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("state did not match"), "the forged request is reported: {printed}");
    assert!(printed.contains("td-oauth logout"), "{printed}");
    assert_eq!(server.count_grant("authorization_code"), 1);

    // One file, 0600 in a 0700 directory, named by no client in clear.
    let files = login_files(&config_home);
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::metadata(&files[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let dir = files[0].parent().unwrap();
    assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700);
    let first = stored_refresh_token(&files[0]);
    assert!(!printed.contains(&first), "the refresh token is never printed");

    // `token --user`: a user token each time, the kept refresh token replaced as the server rotates it.
    let mut refresh_tokens = vec![first];
    for _ in 0..2 {
        let output = run(command("token").arg("--user"));
        assert_exit(&output, 0);
        assert!(stdout(&output).starts_with("eyJ"));
        let now = stored_refresh_token(&files[0]);
        assert!(!refresh_tokens.contains(&now), "rotated");
        refresh_tokens.push(now);
    }
    assert_eq!(server.count_grant("refresh_token"), 2);
    let output = run(command("token").args(["--user", "--json", "--scope", "users:read"]));
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["scope"], "users:read");

    // --dry-run shows the refresh request with the token redacted, and sends nothing.
    let before = server.count_path(TOKEN_PATH);
    let output = run(command("token").args(["--user", "--dry-run"]));
    assert_exit(&output, 0);
    assert!(
        stdout(&output).contains("grant_type=refresh_token") && stdout(&output).contains("refresh_token=<redacted>")
    );
    assert!(!stdout(&output).contains(&stored_refresh_token(&files[0])));
    assert_eq!(server.count_path(TOKEN_PATH), before);

    // A login file others can read is refused, with how to fix it.
    std::fs::set_permissions(&files[0], std::fs::Permissions::from_mode(0o640)).unwrap();
    let output = run(command("token").arg("--user"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("chmod 600"), "{}", stderr(&output));
    assert!(!stderr(&output).contains(&stored_refresh_token(&files[0])));
    assert_eq!(server.count_path(TOKEN_PATH), before, "nothing sent with a refused file");
    std::fs::set_permissions(&files[0], std::fs::Permissions::from_mode(0o600)).unwrap();

    // A revoked login says to log in again.
    server.revoke_all_tokens();
    let output = run(command("token").arg("--user"));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("td-oauth login"), "{}", stderr(&output));

    // --user and --cache do not mix.
    let output = run(command("token").args(["--user", "--cache", "local"]));
    assert_exit(&output, 2);

    let output = run(&mut command("logout"));
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("logged out"), "{}", stderr(&output));
    assert!(std::fs::read_dir(dir).unwrap().next().is_none(), "nothing of the login is left");
    let output = run(command("token").arg("--user"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("td-oauth login"), "{}", stderr(&output));
    let output = run(&mut command("logout"));
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("not logged in"), "{}", stderr(&output));
}

#[test]
fn a_refusal_and_a_timeout_are_reported() {
    let server = TestServer::start().unwrap();
    let client = user_client(&server);
    let scratch = Scratch::new("login-errors");
    let key_file = scratch.file("client.key", &client.private_key);
    let config_home = scratch.path().join("config");

    // The server redirects back with an error (a scope the client may not have): exit 3, no file.
    let mut login = Login::start(
        connected("login", &server, &client, &key_file)
            .args(["--no-browser", "--scope", "no:such-scope"])
            .env("XDG_CONFIG_HOME", &config_home),
    );
    let url = login.url();
    let (status, page) = browse(&url);
    assert_eq!(status, 400, "{page}");
    let (code, printed) = login.finish(Duration::from_secs(20));
    assert_eq!(code, Some(3), "{printed}");
    assert!(printed.contains("invalid_scope"), "{printed}");
    assert!(login_files(&config_home).is_empty());

    // Nobody comes back: exit 1 after --wait.
    let login = Login::start(
        connected("login", &server, &client, &key_file)
            .args(["--no-browser", "--wait", "1"])
            .env("XDG_CONFIG_HOME", &config_home),
    );
    let (code, printed) = login.finish(Duration::from_secs(20));
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("--wait"), "{printed}");
    assert_eq!(server.count_path(TOKEN_PATH), 0);
}

/// Debian's `chromium` (/usr/bin/chromium), wherever it is on PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join("chromium")).find(|candidate| candidate.is_file())
}

#[test]
fn login_through_a_real_headless_chromium() {
    let Some(chromium) = chromium() else {
        // `cargo xtask test` and .ci/run install it; a machine where they cannot skips, and says so.
        eprintln!("skipped: chromium is not installed (the Debian package `chromium`)");
        return;
    };
    let server = TestServer::start().unwrap();
    let client = user_client(&server);
    let scratch = Scratch::new("login-chromium");
    let key_file = scratch.file("client.key", &client.private_key);
    let config_home = scratch.path().join("config");
    let profile = scratch.path().join("chromium-profile");
    let pid_file = scratch.path().join("chromium.pid");
    // Chromium leaves a directory of its own in $TMPDIR at each start: keep it in the scratch directory.
    let tmp = scratch.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // $BROWSER as a user would set it: the program and its flags; the URL is appended. Through a small
    // script, so that the test learns the browser's pid and can stop it.
    let script = scratch.file_with_mode(
        "browser.sh",
        format!(
            "#!/bin/sh\necho $$ > '{pid}'\nTMPDIR='{tmp}' exec '{chromium}' --headless --no-sandbox --disable-gpu \
             --disable-quic --no-first-run --disable-background-networking --disable-component-update \
             --disable-sync --user-data-dir='{profile}' \"$@\"\n",
            pid = pid_file.display(),
            tmp = tmp.display(),
            chromium = chromium.display(),
            profile = profile.display()
        )
        .as_bytes(),
        0o700,
    );

    let mut login = Login::start(
        connected("login", &server, &client, &key_file)
            .args(["--scope", "openid offline_access", "--wait", "60"])
            .env("BROWSER", &script)
            .env("XDG_CONFIG_HOME", &config_home),
    );
    let url = login.url();
    let outcome = login.finish(Duration::from_secs(90));
    stop_browser(&pid_file);
    let (code, printed) = outcome;
    assert_eq!(code, Some(0), "{printed}");
    assert!(printed.contains("opening your browser"), "{printed}");
    assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"), "{url}");
    assert_eq!(server.count_grant("authorization_code"), 1, "chromium followed the redirect to the listener");
    let files = login_files(&config_home);
    assert_eq!(files.len(), 1);

    let output =
        run(connected("token", &server, &client, &key_file).arg("--user").env("XDG_CONFIG_HOME", &config_home));
    assert_exit(&output, 0);
    assert!(stdout(&output).starts_with("eyJ"));
}

/// Stops the browser the script started (by its pid; chromium takes its helper processes down with it).
fn stop_browser(pid_file: &Path) {
    let Ok(pid) = std::fs::read_to_string(pid_file) else { return };
    let _ = Command::new("kill").arg(pid.trim()).status();
    // Give it a moment to remove its profile's locks before the scratch directory goes.
    std::thread::sleep(Duration::from_millis(500));
}

/// A started `login --no-browser` against a fresh server, and where its listener is.
fn start_login(name: &str, wait: &str) -> (TestServer, Scratch, Login, String, String) {
    let server = TestServer::start().unwrap();
    let client = user_client(&server);
    let scratch = Scratch::new(name);
    let key_file = scratch.file("client.key", &client.private_key);
    let mut login = Login::start(
        connected("login", &server, &client, &key_file)
            .args(["--no-browser", "--wait", wait])
            .env("XDG_CONFIG_HOME", scratch.path().join("config")),
    );
    let url = login.url();
    let listener = redirect_uri(&url);
    (server, scratch, login, url, listener)
}

/// Only a request whose `state` matches ends the wait: malformed ones without it (a repeated `code`, a
/// repeated `error_description`, a repeated `state`) are answered and ignored, and the real callback after
/// them still logs in.
#[test]
fn only_the_matching_state_ends_the_login() {
    let (server, _scratch, login, url, listener) = start_login("login-state-only", "60");
    let state = url::Url::parse(&url).unwrap().query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    for forged in [
        "?code=a&code=b".to_owned(),
        "?error=access_denied&error_description=a&error_description=b".to_owned(),
        format!("?code=a&state={state}&state={state}"),
        "?code=a&state=guessed&state=guessed".to_owned(),
    ] {
        let (status, page) = browse(&format!("{listener}{forged}"));
        assert_eq!(status, 400, "{forged}: {page}");
        assert!(page.contains("ignored"), "{forged}: {page}");
    }
    let (status, page) = browse(&url);
    assert_eq!((status, page.contains("You are logged in")), (200, true), "{page}");
    let (code, printed) = login.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(server.count_grant("authorization_code"), 1);
}

/// Writes one byte of a request every 200 ms until told to stop or the listener hangs up.
fn trickle(listener: &str, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    let address = listener.trim_start_matches("http://").trim_end_matches("/callback").to_owned();
    std::thread::spawn(move || {
        let Ok(mut stream) = TcpStream::connect(address) else { return };
        for byte in b"GET /callback?code=slow&state=slow HTTP/1.1\r\nHost: x\r\n".iter().cycle() {
            if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    })
}

/// Idle and trickling connections delay neither the real callback nor the end of `--wait`.
#[test]
fn idle_and_slow_connections_hold_nothing_up() {
    let (server, _scratch, login, url, listener) = start_login("login-slow-clients", "60");
    let address = listener.trim_start_matches("http://").trim_end_matches("/callback").to_owned();
    let idle: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(&address).unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = trickle(&listener, stop.clone());
    std::thread::sleep(Duration::from_millis(300));
    // The browser, behind 20 idle connections and one that never finishes its request: answered at once
    // (`browse` gives up after 20 s; served one at a time with 5 s each, it waited 100 s).
    let (status, page) = browse(&url);
    assert_eq!((status, page.contains("You are logged in")), (200, true), "{page}");
    let (code, printed) = login.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{printed}");
    assert_eq!(server.count_grant("authorization_code"), 1);
    stop.store(true, Ordering::Relaxed);
    trickler.join().unwrap();
    drop(idle);

    // With nobody but them, the login ends at --wait (2 s), whatever they do.
    let (_server, _scratch, login, _url, listener) = start_login("login-slow-wait", "2");
    let address = listener.trim_start_matches("http://").trim_end_matches("/callback").to_owned();
    let idle: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(&address).unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickler = trickle(&listener, stop.clone());
    let (code, printed) = login.finish(Duration::from_secs(15));
    assert_eq!(code, Some(1), "{printed}");
    assert!(printed.contains("--wait"), "{printed}");
    stop.store(true, Ordering::Relaxed);
    trickler.join().unwrap();
    drop(idle);
}

/// 300 requests with the wrong state: a few warnings and a count, not 300 lines.
#[test]
fn warnings_about_ignored_requests_are_bounded() {
    let (_server, _scratch, login, url, listener) = start_login("login-warnings", "60");
    for n in 0..300 {
        let (status, _) = browse(&format!("{listener}?code=c{n}&state=guess{n}"));
        assert_eq!(status, 400);
    }
    let (status, page) = browse(&url);
    assert_eq!(status, 200, "{page}");
    let (code, printed) = login.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{printed}");
    let warnings: Vec<&str> = printed.lines().filter(|line| line.contains("warning:")).collect();
    assert!(warnings.len() <= 4, "{} warning lines: {warnings:#?}", warnings.len());
    assert!(printed.contains("ignored 300 requests"), "the count is given: {printed}");
}

/// The prompt the URL carries.
fn prompt_in(url: &str) -> Option<String> {
    url::Url::parse(url).unwrap().query_pairs().find(|(k, _)| k == "prompt").map(|(_, v)| v.into_owned())
}

/// OpenID Connect Core §11: `offline_access` needs `prompt=consent`, which `login` and `authorize-url` send
/// with it unless told otherwise (`--prompt`, `--no-prompt`); the login goes through with it.
#[test]
fn offline_access_asks_for_consent_unless_told_otherwise() {
    let server = TestServer::start().unwrap();
    let client = user_client(&server);
    let scratch = Scratch::new("login-prompt");
    let key_file = scratch.file("client.key", &client.private_key);
    let login = |extra: &[&str]| {
        let mut login = Login::start(
            connected("login", &server, &client, &key_file)
                .args(["--no-browser", "--wait", "30"])
                .args(extra)
                .env("XDG_CONFIG_HOME", scratch.path().join("config")),
        );
        let url = login.url();
        (login, url)
    };

    let (login_run, url) = login(&["--scope", "openid offline_access"]);
    assert_eq!(prompt_in(&url).as_deref(), Some("consent"), "{url}");
    let (status, page) = browse(&url);
    assert_eq!(status, 200, "{page}");
    let (code, printed) = login_run.finish(Duration::from_secs(20));
    assert_eq!(code, Some(0), "{printed}");

    for (extra, expected) in [
        (vec!["--scope", "openid offline_access", "--prompt", "login"], Some("login")),
        (vec!["--scope", "openid offline_access", "--no-prompt"], None),
        (vec!["--scope", "openid users:read"], None),
        (vec!["--scope", "openid", "--prompt", "select_account"], Some("select_account")),
    ] {
        let (login_run, url) = login(&extra);
        assert_eq!(prompt_in(&url).as_deref(), expected, "{extra:?}: {url}");
        login_run.stop();
    }

    let authorize_url = |extra: &[&str]| {
        run(td_oauth()
            .args(["authorize-url", "--token-url", server.token_url(), "--client-id", &client.client_id])
            .args(["--redirect-uri", REDIRECT, "--json"])
            .args(extra))
    };
    let output = authorize_url(&["--scope", "openid offline_access"]);
    assert_exit(&output, 0);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(json["prompt"], "consent");
    assert_eq!(prompt_in(json["url"].as_str().unwrap()).as_deref(), Some("consent"));
    let output = authorize_url(&["--scope", "offline_access", "--prompt", "none"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(prompt_in(json["url"].as_str().unwrap()).as_deref(), Some("none"));
    let output = authorize_url(&["--scope", "offline_access", "--no-prompt"]);
    let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert!(json["prompt"].is_null() && prompt_in(json["url"].as_str().unwrap()).is_none(), "{json}");
    let output = authorize_url(&["--prompt", "always"]);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("none, login, consent, select_account"), "{}", stderr(&output));
    assert_exit(&authorize_url(&["--prompt", "login", "--no-prompt"]), 2);
}

/// The login store follows no link and trusts no file or directory someone else controls: a dangling link
/// in place of the lock file makes `token --user` and `logout` refuse, creating nothing where it points;
/// another user's login file is refused, as is a logins directory others can write to.
#[test]
fn the_login_store_follows_no_link_and_trusts_no_other_user() {
    let server = TestServer::start().unwrap();
    let client = user_client(&server);
    let scratch = Scratch::new("login-store-links");
    let key_file = scratch.file("client.key", &client.private_key);
    let config_home = scratch.path().join("config");
    let command = |subcommand: &str| {
        let mut command = connected(subcommand, &server, &client, &key_file);
        command.env("XDG_CONFIG_HOME", &config_home);
        command
    };
    let mut login = Login::start(command("login").args(["--no-browser", "--scope", "openid offline_access"]));
    let url = login.url();
    assert_eq!(browse(&url).0, 200);
    assert_eq!(login.finish(Duration::from_secs(20)).0, Some(0));
    let file = login_files(&config_home).remove(0);
    let lock = PathBuf::from(format!("{}.lock", file.display()));
    let target = scratch.path().join("planted-target");

    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    for subcommand in ["token", "logout"] {
        let mut run_it = command(subcommand);
        if subcommand == "token" {
            run_it.arg("--user");
        }
        let output = run(&mut run_it);
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("symbolic link"), "{subcommand}: {}", stderr(&output));
        assert!(std::fs::symlink_metadata(&target).is_err(), "{subcommand} created the link's target");
    }
    assert_eq!(server.count_grant("refresh_token"), 0);
    std::fs::remove_file(&lock).unwrap();

    let dir = file.parent().unwrap().to_owned();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let output = run(command("token").arg("--user"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("can be written by other users"), "{}", stderr(&output));
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_exit(&run(command("token").arg("--user")), 0);

    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped the other-owner case: planting another user's file needs root (chown)");
        return;
    }
    rustix::fs::chown(&file, Some(rustix::process::Uid::from_raw(65534)), None).unwrap();
    let output = run(command("token").arg("--user"));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("belongs to another user"), "{}", stderr(&output));
}
