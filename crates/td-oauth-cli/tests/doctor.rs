//! `td-oauth doctor` and `td-oauth token` against a testkit whose clock is off from this machine's: the
//! doctor's clock line within 2 s of the truth, its JSON and text forms, `--offline`, the exit status of the
//! first failure, no secret printed; `token` gets tokens with the endpoint's clock 10 minutes ahead or behind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;
use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer};

mod common;

use common::{Scratch, assert_exit, connected, run, stdout};

fn skewed(offset: i64) -> TestServer {
    TestServer::builder().clock_offset(offset).start().unwrap()
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("{name}: {report}"))
}

/// Each run is a new process: the offset the first run measured is kept (in the cache directory) for the
/// runs after it, which send one request each.
#[test]
fn token_gets_a_token_with_the_endpoints_clock_ten_minutes_ahead_or_behind() {
    let scratch = Scratch::new("skew-token");
    let cache_home = scratch.path().join("cache");
    for offset in [600, -600] {
        let server = skewed(offset);
        let client = server.register_client(Algorithm::Es256).unwrap();
        let key = scratch.file(&format!("{offset}.key"), &client.private_key);
        for (run_number, requests) in [(1, 2), (2, 3), (3, 4)] {
            let output = run(connected("token", &server, &client, &key).env("XDG_CACHE_HOME", &cache_home));
            assert_exit(&output, 0);
            assert!(stdout(&output).trim().starts_with("eyJ"));
            assert_eq!(
                server.count_path(TOKEN_PATH),
                requests,
                "offset {offset}, run {run_number}: one extra request the first time, none after"
            );
        }
        // A kept offset that is wrong by now (the endpoint's clock was set right) costs one corrected retry.
        server.set_clock_offset(0);
        let output = run(connected("token", &server, &client, &key).env("XDG_CACHE_HOME", &cache_home));
        assert_exit(&output, 0);
        assert_eq!(server.count_path(TOKEN_PATH), 6, "offset {offset}: a stale kept offset costs one retry");
        let output = run(connected("token", &server, &client, &key).env("XDG_CACHE_HOME", &cache_home));
        assert_exit(&output, 0);
        assert_eq!(server.count_path(TOKEN_PATH), 7, "offset {offset}: and is forgotten then");
    }
}

#[test]
fn doctor_reports_the_clock_offset_within_two_seconds_in_json_and_text() {
    let scratch = Scratch::new("doctor-clock");
    for offset in [600, -600] {
        let server = skewed(offset);
        let client = server.register_client(Algorithm::Es256).unwrap();
        let key = scratch.file(&format!("{offset}.key"), &client.private_key);

        let output = run(connected("doctor", &server, &client, &key)
            .arg("--json")
            .env("XDG_CACHE_HOME", scratch.path().join("cache")));
        assert_exit(&output, 0);
        let text = stdout(&output);
        let report: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(report["exit_status"], 0);
        let clock = check(&report, "clock");
        assert_eq!(clock["status"], "warn", "{clock}");
        let measured = clock["offset_seconds"].as_i64().unwrap();
        assert!((measured - offset).abs() <= 2, "measured {measured} s, truth {offset} s");
        assert_eq!(check(&report, "token")["status"], "ok", "{report}");
        let names: Vec<&str> =
            report["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
        assert_eq!(names, ["configuration", "hosts", "dns", "connection", "clock", "key", "token", "cache", "login"]);
        assert!(!text.contains(&client.private_key) && !text.contains("eyJ"), "nothing secret: {text}");

        let output =
            run(connected("doctor", &server, &client, &key).env("XDG_CACHE_HOME", scratch.path().join("cache")));
        assert_exit(&output, 0);
        let text = stdout(&output);
        let way = if offset > 0 { "behind" } else { "ahead of" };
        let line = text.lines().find(|l| l.split_whitespace().nth(1) == Some("clock")).unwrap();
        assert!(line.starts_with("warn"), "{text}");
        assert!(line.contains(way), "{line}");
        assert!(!text.contains("eyJ"), "no token printed: {text}");
    }
}

#[test]
fn doctor_offline_sends_nothing_and_a_failure_gives_its_exit_status() {
    let scratch = Scratch::new("doctor-offline");
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let key = scratch.file("key", &client.private_key);

    let output = run(connected("doctor", &server, &client, &key).args(["--offline", "--json"]));
    assert_exit(&output, 0);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for name in ["dns", "connection", "clock", "token"] {
        assert_eq!(check(&report, name)["status"], "skipped", "{name}");
    }
    assert_eq!(check(&report, "key")["status"], "ok");
    assert_eq!(server.request_count(), 0, "--offline sends nothing");

    // A client the server does not know: the token line fails with `token`'s refusal status, 3.
    let mut unknown = client.clone();
    unknown.client_id = "0123456789abcdef0123456789abcdef".into();
    let output = run(connected("doctor", &server, &unknown, &key).arg("--json"));
    assert_exit(&output, 3);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(report["exit_status"], 3);
    assert_eq!(check(&report, "token")["status"], "fail");
    assert_eq!(check(&report, "clock")["status"], "ok");

    // A token endpoint nobody listens on: the connection fails first, with status 1.
    drop(server);
    let server = TestServer::start().unwrap();
    let url = server.token_url().to_owned();
    drop(server);
    let output = run(common::td_oauth()
        .args(["doctor", "--token-url", &url, "--client-id", &client.client_id, "--key-id", &client.key_id])
        .arg("--private-key-file")
        .arg(&key)
        .args(["--timeout", "2", "--retries", "0"]));
    assert_exit(&output, 1);
    let text = stdout(&output);
    assert!(text.lines().any(|l| l.starts_with("fail") && l.contains("connection")), "{text}");
}
