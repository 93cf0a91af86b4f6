//! `td-oauth serve` and `td-oauth demo` (the `local-server` feature): the server's client works, and its key
//! and secret land in a fresh private directory that another local user cannot have prepared.

#![cfg(feature = "local-server")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

mod common;

use common::{Scratch, assert_exit, run, stdout, td_oauth};

/// Starts `td-oauth serve ARGS` with TMPDIR set to `tmp`; its settings by name, read up to "Press Ctrl-C".
fn serve(tmp: &Path, args: &[&str]) -> (Child, HashMap<String, String>) {
    let mut child = td_oauth()
        .arg("serve")
        .args(args)
        .env("TMPDIR", tmp)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut settings = HashMap::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some((name, value)) = line.split_once(':') {
            settings.insert(name.trim().to_owned(), value.trim().split(' ').next().unwrap_or("").to_owned());
        }
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    (child, settings)
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn serve_prints_a_working_client() {
    let scratch = Scratch::new("serve");
    let (mut child, settings) = serve(scratch.path(), &[]);
    let output = run(td_oauth()
        .arg("token")
        .env("TALKDESK_TOKEN_URL", &settings["token URL"])
        .env("TALKDESK_CLIENT_ID", &settings["client id"])
        .env("TALKDESK_KEY_ID", &settings["key id"])
        .env("TALKDESK_PRIVATE_KEY_FILE", &settings["private key file"]));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_exit(&output, 0);
}

#[test]
fn serve_writes_its_client_into_a_fresh_private_directory() {
    let scratch = Scratch::new("serve-private");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // Another local user's trap: the directory the server used to write to, world-writable, its key file a
    // link to a file of theirs, its secret file a link to where they would read it.
    let planted = scratch.path().join(format!("td-oauth-serve-{port}"));
    std::fs::create_dir(&planted).unwrap();
    std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(0o777)).unwrap();
    let victim = scratch.file("victim.txt", "precious");
    std::os::unix::fs::symlink(&victim, planted.join("client.key")).unwrap();
    std::os::unix::fs::symlink(scratch.path().join("stolen"), planted.join("client.secret")).unwrap();

    let (mut child, settings) = serve(scratch.path(), &["--port", &port.to_string(), "--https"]);
    let files: Vec<PathBuf> = ["private key file", "client secret file", "certificate"]
        .iter()
        .map(|name| PathBuf::from(&settings[*name]))
        .collect();
    let dir = files[0].parent().unwrap().to_owned();
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious", "the planted link was not written through");
    assert!(!scratch.path().join("stolen").exists(), "nothing was written where the planted link pointed");
    assert_ne!(dir, planted, "not the directory someone else made");
    assert_eq!(dir.parent().unwrap(), scratch.path(), "under TMPDIR");
    let name = dir.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with("td-oauth-serve-") && !name.contains(&port.to_string()), "a random name: {name}");
    assert_eq!(mode(&dir), 0o700, "only the user may enter it");
    assert_eq!(std::fs::metadata(&dir).unwrap().uid(), std::fs::metadata(scratch.path()).unwrap().uid());
    for file in &files {
        assert_eq!(file.parent().unwrap(), dir);
        assert!(std::fs::symlink_metadata(file).unwrap().is_file(), "{file:?} is a plain file");
        assert_eq!(mode(file), 0o600, "{file:?}");
    }
    // A second server gets a directory of its own.
    let (mut child, again) = serve(scratch.path(), &[]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(PathBuf::from(&again["private key file"]).parent().unwrap(), dir);
}

#[test]
fn demo_walks_the_whole_flow() {
    let output = run(td_oauth().arg("demo"));
    assert_exit(&output, 0);
    assert!(stdout(&output).contains("Every step worked"));
}

#[test]
fn serve_answers_the_readme_api_commands() {
    let scratch = Scratch::new("serve-api");
    let (mut child, settings) = serve(scratch.path(), &[]);
    let connect = |command: &mut std::process::Command| {
        command
            .env("TALKDESK_TOKEN_URL", &settings["token URL"])
            .env("TALKDESK_API_URL", &settings["API gateway"])
            .env("TALKDESK_CLIENT_ID", &settings["client id"])
            .env("TALKDESK_KEY_ID", &settings["key id"])
            .env("TALKDESK_PRIVATE_KEY_FILE", &settings["private key file"]);
    };
    let mut paginate = td_oauth();
    paginate.args(["api", "--paginate", "/users"]);
    connect(&mut paginate);
    let listed = run(&mut paginate);
    let mut whoami = td_oauth();
    whoami.args(["api", "/users/me", "--refresh-token-file", &settings["user refresh token"]]);
    connect(&mut whoami);
    let me = run(&mut whoami);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_exit(&listed, 0);
    assert_eq!(stdout(&listed).lines().count(), 120);
    assert_exit(&me, 0);
    assert!(stdout(&me).contains("\"email\":\"testkit-user@example.com\""), "{}", stdout(&me));
}
