//! What the CLI writes: a closed pipe stops it quietly (no panic), any JWT can be inspected, and a dry run
//! prints no working credential.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use td_oauth_testkit::{Algorithm, TestServer};

mod common;

use common::{Scratch, assert_exit, assert_no_panic, closed_pipe, connected, run, stderr, stdout, td_oauth};

/// Runs `command` with its standard output (or, with `stderr`, its standard error) into a pipe nobody reads.
fn into_closed_pipe(command: &mut Command, stderr: bool) -> Output {
    command.stdin(Stdio::null());
    if stderr {
        command.stderr(closed_pipe()).stdout(Stdio::null());
    } else {
        command.stdout(closed_pipe()).stderr(Stdio::piped());
    }
    command.output().unwrap()
}

fn jwt(claims: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"ES256"}"#),
        URL_SAFE_NO_PAD.encode(claims),
        URL_SAFE_NO_PAD.encode("sig")
    )
}

#[test]
fn a_closed_standard_output_stops_every_subcommand_quietly() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("closed-pipe");
    let key = scratch.file("client.key", &client.private_key);
    let token = jwt(r#"{"exp":1800000000,"iss":"x"}"#);
    let mut commands: Vec<(&str, Command)> = vec![
        ("token", connected("token", &server, &client, &key)),
        ("token --json", {
            let mut c = connected("token", &server, &client, &key);
            c.arg("--json");
            c
        }),
        ("token --dry-run", {
            let mut c = connected("token", &server, &client, &key);
            c.arg("--dry-run");
            c
        }),
        ("assertion", connected("assertion", &server, &client, &key)),
        ("inspect", {
            let mut c = td_oauth();
            c.args(["inspect", &token]);
            c
        }),
        ("authorize-url", {
            let mut c = td_oauth();
            c.args(["authorize-url", "--token-url", server.token_url(), "--client-id", "c"]).args([
                "--redirect-uri",
                "https://app.example/cb",
                "--pkce",
                "--json",
            ]);
            c
        }),
        ("--help", {
            let mut c = td_oauth();
            c.arg("--help");
            c
        }),
    ];
    if cfg!(feature = "local-server") {
        let mut demo = td_oauth();
        demo.arg("demo");
        commands.push(("demo", demo));
    }
    for (what, mut command) in commands {
        let output = into_closed_pipe(&mut command, false);
        assert_no_panic(&output, what);
        assert_exit(&output, 0);
        assert!(stderr(&output).is_empty(), "{what}: quietly: {}", stderr(&output));
    }
    // Diagnostics into a closed standard error do not stop the command either.
    let output = into_closed_pipe(connected("token", &server, &client, &key).env("TD_OAUTH_LOG", "trace"), true);
    assert_no_panic(&output, "TD_OAUTH_LOG=trace");
    assert_exit(&output, 0);
    // Nor does an error message.
    let output = into_closed_pipe(td_oauth().args(["inspect", "not-a-jwt"]), true);
    assert_no_panic(&output, "an error into a closed standard error");
    assert_exit(&output, 2);
}

#[test]
fn inspect_shows_any_expiry_a_token_may_claim() {
    for (exp, says) in [
        ("1800000000", "expires: Fri, 15 Jan 2027"),
        ("1000", "expired: Thu, 01 Jan 1970"),
        ("300000000000", "after the year 9999"),
        ("253402300799", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("999999999999.5", "after the year 9999"),
    ] {
        let output = run(td_oauth().args(["inspect", &jwt(&format!(r#"{{"exp":{exp}}}"#))]));
        assert_no_panic(&output, exp);
        assert_exit(&output, 0);
        assert!(stdout(&output).contains(says), "{exp}: {}", stdout(&output));
    }
}

#[test]
fn a_dry_run_prints_no_working_credential() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("dry-run");
    let key = scratch.file("client.key", &client.private_key);

    let output = run(connected("token", &server, &client, &key).args(["--dry-run", "--scope", "users:read"]));
    assert_exit(&output, 0);
    let text = stdout(&output);
    let body = text.lines().find(|l| l.starts_with("grant_type=")).unwrap();
    assert!(body.contains("scope=users%3Aread"), "{body}");
    assert!(body.ends_with(".<signature redacted>"), "{body}");
    assert!(text.contains(&format!("\"iss\": \"{}\"", client.client_id)), "the claims stay: {text}");
    assert!(text.contains("\"alg\": \"ES256\""), "the header stays: {text}");
    // Posted by hand within its lifetime, what the dry run printed is refused.
    let agent: td_oauth_ureq::ureq::Agent =
        td_oauth_ureq::ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let answer =
        agent.post(server.token_url()).header("content-type", "application/x-www-form-urlencoded").send(body).unwrap();
    assert_eq!(answer.status(), 401, "the printed request is no credential");
    assert_eq!(server.count(|r| r.status == Some(200)), 0);

    let secret = scratch.file("secret", &client.client_secret);
    let output = run(td_oauth()
        .args(["token", "--dry-run", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .arg("--client-secret-file")
        .arg(&secret));
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains("authorization: Basic <redacted>"), "{text}");
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.client_id, client.client_secret));
    assert!(!text.contains(&client.client_secret) && !text.contains(&basic[8..]), "{text}");
    assert_eq!(server.request_count(), 1, "only the hand-posted request reached the server");
}
