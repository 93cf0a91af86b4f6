//! `td-oauth token --cache local` (and `--cache DIR`, `--cache file://DIR`) against td-oauth-testkit: a loop
//! of 100 runs and a race of 8 send one token request each; the file is 0600 in a 0700 directory, and one
//! others can read is refused; a token is used only while fresh, and fetched again ahead of its expiry.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use td_oauth_testkit::{Algorithm, ClientCredentials, TOKEN_PATH, TestServer};

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

/// The two lines of a cache file: what the token is for, and the stored token.
fn read_stored(file: &Path) -> (serde_json::Value, serde_json::Value) {
    let text = std::fs::read_to_string(file).unwrap();
    let (binding, token) = text.split_once('\n').expect("two lines");
    (serde_json::from_str(binding).unwrap(), serde_json::from_str(token).unwrap())
}

fn write_stored(file: &Path, binding: &serde_json::Value, token: &serde_json::Value) {
    std::fs::write(file, format!("{binding}\n{token}")).unwrap();
}

/// Rewrites the stored token's issue and expiry times, as if it had been fetched earlier.
fn age_stored_token(file: &Path, issued_secs_ago: i64, expires_in_secs: i64) {
    let (binding, mut token) = read_stored(file);
    token["issued_at"] = unix_ms(-issued_secs_ago).into();
    token["expires_at"] = unix_ms(expires_in_secs).into();
    write_stored(file, &binding, &token);
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
    let (_, token) = read_stored(&files[0]);
    assert_eq!(token["access_token"], tokens[0].as_str());
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

/// `td-oauth token --cache DIR` as `client` of `server`.
fn cached(server: &TestServer, client: &ClientCredentials, key_file: &Path, dir: &Path) -> std::process::Output {
    run(connected("token", server, client, key_file).arg("--cache").arg(dir))
}

/// Whether this test runs as root, which planting another user's files needs (`chown`).
fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// A dangling link in place of a lock file (or the token file) is never followed: nothing is created where
/// it points, and the command refuses it with how to fix it.
#[test]
fn links_in_the_cache_are_never_followed() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-links");
    let key_file = scratch.file("client.key", &client.private_key);
    let dir = scratch.path().join("tokens");
    assert_exit(&cached(&server, &client, &key_file, &dir), 0);
    let file = token_files(&dir).remove(0);
    let lock = PathBuf::from(format!("{}.lock", file.display()));
    let target = scratch.path().join("planted-target");

    // The lock file a dangling link, and the token gone so that the run must lock: refused, nothing created.
    std::fs::remove_file(&file).unwrap();
    std::fs::remove_file(&lock).unwrap();
    std::os::unix::fs::symlink(&target, &lock).unwrap();
    let output = cached(&server, &client, &key_file, &dir);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("symbolic link") && stderr(&output).contains("rm "), "{}", stderr(&output));
    assert!(std::fs::symlink_metadata(&target).is_err(), "the link's target was created");
    assert_eq!(server.count_path(TOKEN_PATH), 1, "nothing is fetched past a refused file");

    // The token file a link to a file of ours: refused too, not read through.
    std::fs::remove_file(&lock).unwrap();
    let elsewhere = scratch.file("elsewhere.json", "{}");
    std::os::unix::fs::symlink(&elsewhere, &file).unwrap();
    let output = cached(&server, &client, &key_file, &dir);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("link"), "{}", stderr(&output));
}

/// A file or directory someone else controls is refused, with the fix: another user's file (however
/// private), a directory others can write to (a 1777 `/tmp` like one), a directory that is a link, another
/// user's directory.
#[test]
fn files_and_directories_others_control_are_refused() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-owners");
    let key_file = scratch.file("client.key", &client.private_key);

    // Writable by others, sticky or not.
    for mode in [0o1777, 0o777, 0o770] {
        let dir = scratch.path().join(format!("shared-{mode:o}"));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let output = cached(&server, &client, &key_file, &dir);
        assert_exit(&output, 2);
        let message = stderr(&output);
        assert!(message.contains("can be written by other users") && message.contains("mkdir -m 700"), "{message}");
        assert!(std::fs::read_dir(&dir).unwrap().next().is_none(), "nothing written there");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 0);

    // A link to a directory of ours: refused, named.
    let real = scratch.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = scratch.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let output = cached(&server, &client, &key_file, &link);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is a symbolic link"), "{}", stderr(&output));
    assert_exit(&cached(&server, &client, &key_file, &real), 0);

    if !is_root() {
        eprintln!("skipped the other-owner cases: planting another user's files needs root (chown)");
        return;
    }
    // Another user's 0600 token file in our directory: refused, and not replaced behind the user's back.
    let file = token_files(&real).remove(0);
    rustix::fs::chown(&file, Some(rustix::process::Uid::from_raw(65534)), None).unwrap();
    let before = server.count_path(TOKEN_PATH);
    let output = cached(&server, &client, &key_file, &real);
    assert_exit(&output, 2);
    let message = stderr(&output);
    assert!(message.contains("belongs to another user") && message.contains("rm "), "{message}");
    assert_eq!(server.count_path(TOKEN_PATH), before);

    // Another user's directory, however private.
    let theirs = scratch.path().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    rustix::fs::chown(&theirs, Some(rustix::process::Uid::from_raw(65534)), None).unwrap();
    let output = cached(&server, &client, &key_file, &theirs);
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("belongs to another user"), "{}", stderr(&output));
}

/// A token file copied under another client's name (or another token URL's, or scopes') is not used: each
/// file says what it is for, and every read checks it.
#[test]
fn a_file_copied_under_another_name_is_not_used() {
    let server = TestServer::start().unwrap();
    let first = server.register_client(Algorithm::Es256).unwrap();
    let second = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-binding");
    let first_key = scratch.file("first.key", &first.private_key);
    let second_key = scratch.file("second.key", &second.private_key);
    let dir = scratch.path().join("tokens");

    let output = cached(&server, &first, &first_key, &dir);
    assert_exit(&output, 0);
    let first_token = stdout(&output);
    let first_file = token_files(&dir).remove(0);
    let output = cached(&server, &second, &second_key, &dir);
    assert_exit(&output, 0);
    let second_file = token_files(&dir).into_iter().find(|f| f != &first_file).unwrap();
    let (binding, _) = read_stored(&first_file);
    assert_eq!(binding["client_id"], first.client_id.as_str());

    std::fs::copy(&first_file, &second_file).unwrap();
    let output = cached(&server, &second, &second_key, &dir);
    assert_exit(&output, 0);
    assert_ne!(stdout(&output), first_token, "the first client's token is not handed to the second");
    assert_eq!(server.count_path(TOKEN_PATH), 3, "fetched anew, and stored for the second client");
    assert_eq!(read_stored(&second_file).0["client_id"], second.client_id.as_str());

    // The scopes are bound too: a file for other scopes, copied over.
    let output =
        run(connected("token", &server, &first, &first_key).args(["--scope", "users:read"]).arg("--cache").arg(&dir));
    assert_exit(&output, 0);
    let scoped_file = token_files(&dir).into_iter().find(|f| f != &first_file && f != &second_file).unwrap();
    std::fs::copy(&scoped_file, &first_file).unwrap();
    let before = server.count_path(TOKEN_PATH);
    let output = cached(&server, &first, &first_key, &dir);
    assert_exit(&output, 0);
    assert_eq!(server.count_path(TOKEN_PATH), before + 1);
}

/// The cache policy's maximum lifetime (24 h) holds for cached tokens: one issued 25 h ago, or one the
/// server granted for a year and issued 20 h ago, is fetched again.
#[test]
fn the_maximum_lifetime_holds_for_cached_tokens() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-lifetime");
    let key_file = scratch.file("client.key", &client.private_key);
    let dir = scratch.path().join("tokens");
    assert_exit(&cached(&server, &client, &key_file, &dir), 0);
    let file = token_files(&dir).remove(0);

    // Issued 25 h ago, a day left.
    age_stored_token(&file, 25 * 3600, 24 * 3600);
    assert_exit(&cached(&server, &client, &key_file, &dir), 0);
    assert_eq!(server.count_path(TOKEN_PATH), 2);

    // A year-long token: kept at first, fetched again once past the policy's refresh point of a 24 h token.
    server.set_token_lifetime(Duration::from_secs(365 * 24 * 3600));
    age_stored_token(&file, 0, -1);
    let year_token = stdout(&cached(&server, &client, &key_file, &dir));
    assert_eq!(server.count_path(TOKEN_PATH), 3);
    assert_eq!(stdout(&cached(&server, &client, &key_file, &dir)), year_token);
    age_stored_token(&file, 2 * 3600, 365 * 24 * 3600 - 2 * 3600);
    assert_eq!(stdout(&cached(&server, &client, &key_file, &dir)), year_token, "2 h old: still fresh");
    assert_eq!(server.count_path(TOKEN_PATH), 3);
    age_stored_token(&file, 20 * 3600, 365 * 24 * 3600 - 20 * 3600);
    assert_ne!(stdout(&cached(&server, &client, &key_file, &dir)), year_token);
    assert_eq!(server.count_path(TOKEN_PATH), 4);
}

/// A cached token holding CR LF and ESC never reaches standard output: the access token is checked when
/// it is read back, as when it is received, and a new one is fetched.
#[test]
fn a_cached_token_with_control_characters_is_not_printed() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-charset");
    let key_file = scratch.file("client.key", &client.private_key);
    let dir = scratch.path().join("tokens");
    assert_exit(&cached(&server, &client, &key_file, &dir), 0);
    let file = token_files(&dir).remove(0);
    let (binding, mut token) = read_stored(&file);
    token["access_token"] = "eyJplanted\r\nX-Injected: 1\u{1b}[2J".into();
    write_stored(&file, &binding, &token);

    for json in [false, true] {
        let mut command = connected("token", &server, &client, &key_file);
        command.arg("--cache").arg(&dir);
        if json {
            command.arg("--json");
        }
        let output = run(&mut command);
        assert_exit(&output, 0);
        let printed = stdout(&output);
        assert!(!printed.contains("planted") && !printed.contains('\u{1b}') && !printed.contains('\r'), "{printed:?}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), 2, "one new token, fetched in place of the refused one and kept");
}

/// `--help` says a cache that cannot be used costs a direct fetch: a `--cache` naming a regular file (no
/// directory can be made there) gives the token with a warning; an unsafe one is refused (exit 2).
#[test]
fn a_cache_that_cannot_be_made_falls_back_to_a_direct_fetch() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("file-cache-fallback");
    let key_file = scratch.file("client.key", &client.private_key);
    let regular = scratch.file("not-a-directory", "hello");
    for _ in 0..2 {
        let output = cached(&server, &client, &key_file, &regular);
        assert_exit(&output, 0);
        assert!(stdout(&output).starts_with("eyJ"));
        assert!(stderr(&output).contains("fetching directly"), "{}", stderr(&output));
    }
    assert_eq!(server.count_path(TOKEN_PATH), 2, "no cache: each run fetches");
    assert_eq!(std::fs::read_to_string(&regular).unwrap(), "hello");

    let help = stdout(&run(common::td_oauth().args(["token", "--help"])));
    assert!(help.contains("fetched directly") && help.contains("refused"), "{help}");
}
