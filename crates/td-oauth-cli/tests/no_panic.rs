//! No input reaches a panic: every file flag of every subcommand fed what a confused user or a hostile
//! machine could hand it, and odd values for the other flags and variables. Each run ends with one of the
//! documented exit statuses (0 to 3), never 101.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

mod common;

use common::{Scratch, assert_no_panic, run, td_oauth};

/// The subcommand, and the flags that make it read a file at all.
const FILE_FLAGS: [(&str, &str, &[&str]); 6] = [
    ("token", "--private-key-file", &["--key-id", "k"]),
    ("token", "--client-secret-file", &[]),
    ("token", "--ca-file", &["--key-id", "k", "--private-key-file", "KEY"]),
    (
        "exchange",
        "--code-file",
        &["--redirect-uri", "https://app.example/cb", "--key-id", "k", "--private-key-file", "KEY"],
    ),
    (
        "exchange",
        "--code-verifier-file",
        &["--code", "c", "--redirect-uri", "https://app.example/cb", "--key-id", "k", "--private-key-file", "KEY"],
    ),
    ("refresh", "--refresh-token-file", &["--key-id", "k", "--private-key-file", "KEY"]),
];

#[test]
fn no_file_a_flag_can_name_reaches_a_panic() {
    let scratch = Scratch::new("no-panic-files");
    let key = scratch.file("key", include_str!("../../td-oauth-core/tests/keys/es256.pkcs8.b64"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let token_url = format!("http://127.0.0.1:{closed}/oauth/token");
    let files: Vec<(&str, PathBuf)> = vec![
        ("/dev/zero", PathBuf::from("/dev/zero")),
        ("/dev/null", PathBuf::from("/dev/null")),
        ("a directory", scratch.path().to_owned()),
        ("a missing file", scratch.path().join("missing")),
        ("binary", scratch.file_with_mode("binary", &[0xff, 0xfe, 0x00, 0x30, 0x82, 0x01], 0o600)),
        ("empty", scratch.file("empty", "")),
        ("huge text", scratch.file("huge", &"A".repeat(2 * 1024 * 1024))),
        ("control characters", scratch.file("control", "\u{1b}[31m\r\n\u{0}x")),
    ];
    for (subcommand, flag, extra) in FILE_FLAGS {
        for (what, path) in &files {
            let mut command = td_oauth();
            command.args([
                subcommand,
                "--token-url",
                &token_url,
                "--client-id",
                "c",
                "--timeout",
                "1",
                "--retries",
                "0",
            ]);
            for arg in extra {
                if *arg == "KEY" {
                    command.arg(&key)
                } else {
                    command.arg(arg)
                };
            }
            let output = run(command.arg(flag).arg(path));
            let context = format!("{subcommand} {flag} {what}");
            assert_no_panic(&output, &context);
            assert!(matches!(output.status.code(), Some(1..=3)), "{context}: {:?}", output.status);
        }
    }
}

#[test]
fn no_value_or_variable_reaches_a_panic() {
    let scratch = Scratch::new("no-panic-values");
    let key = scratch.file("key", include_str!("../../td-oauth-core/tests/keys/es256.pkcs8.b64"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let token_url = format!("http://127.0.0.1:{closed}/oauth/token");
    let huge = "9".repeat(400);
    let odd =
        ["", " ", "-", "--", "\u{1b}[2J", "é", huge.as_str(), "%00", "a\tb", "https://x/#", "javascript:alert(1)"];
    let flags = [
        "--account",
        "--region",
        "--token-url",
        "--client-id",
        "--key-id",
        "--algorithm",
        "--audience",
        "--timeout",
        "--retries",
        "--deadline",
        "--scope",
    ];
    for flag in flags {
        for value in odd {
            let mut command = td_oauth();
            command.args(["token", "--client-id", "c", "--key-id", "k", "--timeout", "1", "--retries", "0"]);
            command.arg("--private-key-file").arg(&key);
            if flag != "--account" && flag != "--region" {
                command.args(["--token-url", &token_url]);
            }
            let output = run(command.arg(format!("{flag}={value}")));
            assert_no_panic(&output, &format!("{flag}={value:?}"));
        }
    }
    for value in odd {
        for (subcommand, args) in [
            ("inspect", vec![value]),
            ("authorize-url", vec!["--token-url", token_url.as_str(), "--client-id", "c", "--redirect-uri", value]),
            (
                "authorize-url",
                vec![
                    "--token-url",
                    token_url.as_str(),
                    "--client-id",
                    "c",
                    "--redirect-uri",
                    "https://a/",
                    "--state",
                    value,
                ],
            ),
            (
                "exchange",
                vec!["--token-url", token_url.as_str(), "--client-id", "c", "--code", value, "--redirect-uri", value],
            ),
            ("refresh", vec!["--token-url", token_url.as_str(), "--client-id", "c", "--refresh-token", value]),
        ] {
            let output = run(td_oauth().arg(subcommand).args(&args).env("TALKDESK_CLIENT_SECRET", "s"));
            assert_no_panic(&output, &format!("{subcommand} {args:?}"));
        }
        for variable in
            ["TALKDESK_PRIVATE_KEY", "TALKDESK_CLIENT_SECRET", "TD_OAUTH_LOG", "TD_OAUTH_CACHE_KEY", "TALKDESK_REGION"]
        {
            let mut command = td_oauth();
            command.args(["token", "--token-url", &token_url, "--client-id", "c", "--key-id", "k", "--timeout", "1"]);
            command.args(["--retries", "0"]).env(variable, value);
            if variable == "TD_OAUTH_CACHE_KEY" {
                command.args(["--cache", "redis://127.0.0.1:1/0"]).arg("--private-key-file").arg(&key);
            }
            let output = run(&mut command);
            assert_no_panic(&output, &format!("{variable}={value:?}"));
        }
    }
}
