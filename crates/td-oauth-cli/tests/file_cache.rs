//! `td-oauth token --cache local` (and `--cache DIR`, `--cache file://DIR`) against td-oauth-testkit: a loop
//! of 100 runs and a race of 8 send one token request each; the file is 0600 in a 0700 directory, and one
//! others can read is refused; a token is used only while fresh, and fetched again ahead of its expiry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stderr, stdout};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The token files in `dir` (not the locks).
fn token_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
}

fn unix_ms(offset_secs: i64) -> u64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    (now + offset_secs * 1000) as u64
}

/// Rewrites the stored token's issue and expiry times, as if it had been fetched earlier.
fn age_stored_token(file: &Path, issued_secs_ago: i64, expires_in_secs: i64) {
    let mut json: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    json["issued_at"] = unix_ms(-issued_secs_ago).into();
    json["expires_at"] = unix_ms(expires_in_secs).into();
    std::fs::write(file, serde_json::to_vec(&json).unwrap()).unwrap();
}

#[test]
fn a_hundred_runs_send_one_token_request_and_the_file_is_private() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-loop");
    let key_file = scratch.file("client.key", &client.private_key);
    let cache_home = scratch.path().join("cache-home");

    let mut first = None;
    for _ in 0..100 {
        let output = run(connected("token", &server, &client, &key_file)
            .args(["--cache", "local"])
            .env("XDG_CACHE_HOME", &cache_home));
        assert_exit(&output, 0);
        assert!(stderr(&output).is_empty(), "{}", stderr(&output));
        let token = stdout(&output);
        assert!(token.starts_with("eyJ"));
        assert_eq!(first.get_or_insert_with(|| token.clone()), &token, "every run prints the cached token");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 1, "100 runs, 1 token request");

    // In the user's cache directory, readable by the user alone; the token is kept (that is the cache), by
    // permissions, without its refresh token or anything else.
    let dir = cache_home.join("td-oauth/tokens");
    assert_eq!(mode(&dir), 0o700);
    let files = token_files(&dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(mode(&files[0]), 0o600);
    let stored = std::fs::read_to_string(&files[0]).unwrap();
    assert!(stored.contains(first.unwrap().trim()));
    let name = files[0].file_name().unwrap().to_str().unwrap();
    assert!(!name.contains(&client.client_id), "the file name says nothing in clear: {name}");

    // Other scopes, another entry (and the TD_OAUTH_CACHE variable works like the flag).
    let output = run(connected("token", &server, &client, &key_file)
        .args(["--scope", "users:read"])
        .env("TD_OAUTH_CACHE", "local")
        .env("XDG_CACHE_HOME", &cache_home));
    assert_exit(&output, 0);
    assert_eq!(server.count_path(TOKEN_PATH), 2);
    assert_eq!(token_files(&dir).len(), 2);
}

#[test]
fn eight_racing_runs_send_one_token_request() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-race");
    let key_file = scratch.file("client.key", &client.private_key);
    // A directory given as a file URL, created on first use.
    let dir = scratch.path().join("tokens");
    let url = format!("file://{}", dir.display());

    let children: Vec<_> = (0..8)
        .map(|_| {
            connected("token", &server, &client, &key_file)
                .args(["--cache", &url, "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut tokens = Vec::new();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert_exit(&output, 0);
        let json: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert!(json["expires_in"].as_u64().unwrap() > 0);
        tokens.push(json["access_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(server.count_path(TOKEN_PATH), 1, "8 racing runs, 1 token request");
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    // No temporary file is left behind, and the one token file is whole.
    let names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| n.ends_with(".json") || n.ends_with(".json.lock")), "{names:?}");
    let files = token_files(&dir);
    assert_eq!(files.len(), 1);
    let _: serde_json::Value = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
}

#[test]
fn a_token_is_used_only_while_fresh() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-expiry");
    let key_file = scratch.file("client.key", &client.private_key);
    let dir = scratch.path().join("tokens");
    let token = || {
        let output = run(connected("token", &server, &client, &key_file).arg("--cache").arg(&dir));
        assert_exit(&output, 0);
        stdout(&output)
    };

    let first = token();
    assert_eq!(token(), first);
    assert_eq!(server.count_path(TOKEN_PATH), 1);
    let file = token_files(&dir).remove(0);

    // Less than a fifth of its lifetime left: fetched again ahead of expiry.
    age_stored_token(&file, 3000, 500);
    let second = token();
    assert_ne!(second, first);
    assert_eq!(server.count_path(TOKEN_PATH), 2);
    assert_eq!(token(), second, "the new token is stored");
    assert_eq!(server.count_path(TOKEN_PATH), 2);

    // Expired, or within the expiry margin (30 s): never handed out.
    for expires_in in [-5, 10] {
        age_stored_token(&file, 60, expires_in);
        let before = server.count_path(TOKEN_PATH);
        let next = token();
        assert_ne!(next, second);
        assert_eq!(server.count_path(TOKEN_PATH), before + 1);
    }

    // A file that is not a token (another version's, or damaged) is replaced, not trusted.
    std::fs::write(&file, b"{\"garbage\": true}").unwrap();
    let before = server.count_path(TOKEN_PATH);
    assert!(token().starts_with("eyJ"));
    assert_eq!(server.count_path(TOKEN_PATH), before + 1);

    // A server whose tokens live less than the margin: every run fetches.
    server.set_token_lifetime(Duration::from_secs(20));
    std::fs::remove_file(&file).unwrap();
    let before = server.count_path(TOKEN_PATH);
    token();
    token();
    assert_eq!(server.count_path(TOKEN_PATH), before + 2);
}

#[test]
fn a_file_others_can_read_is_refused() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-mode");
    let key_file = scratch.file("client.key", &client.private_key);
    let dir = scratch.path().join("tokens");
    let output = run(connected("token", &server, &client, &key_file).arg("--cache").arg(&dir));
    assert_exit(&output, 0);
    let token = stdout(&output);
    let file = token_files(&dir).remove(0);

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = run(connected("token", &server, &client, &key_file).arg("--cache").arg(&dir));
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("chmod 600") && message.contains(file.to_str().unwrap()), "{message}");
    assert!(!message.contains(token.trim()), "the token is never printed in an error");
    assert!(stdout(&output).is_empty());
    assert_eq!(server.count_path(TOKEN_PATH), 1, "nothing is fetched past a refused file");

    // A file URL must name a local path.
    let output = run(connected("token", &server, &client, &key_file).args(["--cache", "file://elsewhere/tokens"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--cache"), "{}", stderr(&output));
}
