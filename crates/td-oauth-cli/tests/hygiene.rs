//! Secret hygiene: the `td-oauth` binary at `TD_OAUTH_LOG=trace`, through success and every error path it
//! can meet. Nothing it writes to standard error (diagnostics and error messages), and nothing a failed run
//! writes anywhere, may hold a private key, client secret, assertion, access token or refresh token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use td_oauth_testkit::{Algorithm, Fault, TestServer};

mod common;

struct Run {
    what: &'static str,
    output: Output,
}

fn td_oauth() -> Command {
    let mut command = common::td_oauth();
    command.env("TD_OAUTH_LOG", "trace").stdin(Stdio::null());
    command
}

fn run(what: &'static str, command: &mut Command) -> Run {
    Run { what, output: command.output().unwrap() }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn no_secret_in_diagnostics_or_errors() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let other = server.register_client(Algorithm::Ps256).unwrap();
    let dir = std::env::temp_dir().join(format!("td-oauth-hygiene-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, content: &str| -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    let key = file("client.key", &client.private_key);
    let pem = file("client.pem", &client.private_key_pem);
    let wrong_key = file("other.key", &other.private_key);
    let secret = file("client.secret", &client.client_secret);
    let wrong_secret = file("wrong.secret", "not-the-secret");

    let jwt = |subcommand: &str, key: &PathBuf| {
        let mut command = td_oauth();
        command
            .arg(subcommand)
            .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
            .arg("--private-key-file")
            .arg(key)
            .args(["--timeout", "1", "--retries", "1"]);
        command
    };
    let basic = |secret: &PathBuf| {
        let mut command = td_oauth();
        command
            .args(["token", "--token-url", server.token_url(), "--client-id", &client.client_id])
            .arg("--client-secret-file")
            .arg(secret)
            .args(["--timeout", "1", "--retries", "1"]);
        command
    };

    let mut runs = vec![
        run("token", &mut jwt("token", &key)),
        run("token --json", jwt("token", &pem).arg("--json")),
        run("basic", &mut basic(&secret)),
        run("wrong key", &mut jwt("token", &wrong_key)),
        run("wrong secret", &mut basic(&wrong_secret)),
        run("bad scope", jwt("token", &key).args(["--scope", "nope:nope"])),
        run("assertion", &mut jwt("assertion", &key)),
    ];
    let faults: [(&'static str, Fault, usize); 7] = [
        ("503 twice", Fault::status(503), 2),
        ("429", Fault::retry_after(429, "0"), 2),
        ("malformed", Fault::malformed_json(), 1),
        ("html 502", Fault::html(502), 2),
        ("1 MiB body", Fault::large_body(200, 1024 * 1024), 1),
        ("dropped", Fault::DropConnection, 2),
        ("slow", Fault::Delay(Duration::from_secs(2)), 2),
    ];
    for (what, fault, times) in faults {
        server.inject_n(fault, times);
        runs.push(run(what, &mut jwt("token", &key)));
        server.clear_faults();
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    runs.push(run(
        "unreachable",
        td_oauth()
            .args(["token", "--token-url", &format!("http://127.0.0.1:{closed}/oauth/token")])
            .args(["--client-id", &client.client_id, "--key-id", &client.key_id, "--retries", "0"])
            .arg("--private-key-file")
            .arg(&key),
    ));
    runs.push(run(
        "bad code",
        jwt("exchange", &key).args(["--code", "bogus", "--redirect-uri", "http://127.0.0.1:9/cb"]),
    ));
    runs.push(run("bad refresh token", jwt("refresh", &key).args(["--refresh-token", "bogus-refresh"])));

    // A real code flow, so that refresh tokens exist to leak.
    let authorize =
        run(
            "authorize-url",
            td_oauth()
                .args(["authorize-url", "--token-url", server.token_url(), "--client-id", &client.client_id])
                .args(["--redirect-uri", "http://127.0.0.1:9/cb", "--scope", "openid users:read", "--pkce", "--json"]),
        );
    let authorize_json: Value = serde_json::from_slice(&authorize.output.stdout).unwrap();
    let back = common::authorize(authorize_json["url"].as_str().unwrap());
    let code = common::param(&back, "code").to_owned();
    let verifier = authorize_json["code_verifier"].as_str().unwrap().to_owned();
    runs.push(authorize);
    let exchange = run(
        "exchange",
        jwt("exchange", &key).args([
            "--code",
            &code,
            "--redirect-uri",
            "http://127.0.0.1:9/cb",
            "--code-verifier",
            &verifier,
            "--json",
        ]),
    );
    let tokens: Value = serde_json::from_slice(&exchange.output.stdout).unwrap();
    let refresh_token = tokens["refresh_token"].as_str().unwrap().to_owned();
    runs.push(exchange);
    let mut refresh = jwt("refresh", &key)
        .args(["--refresh-token", "-", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    refresh.stdin.take().unwrap().write_all(refresh_token.as_bytes()).unwrap();
    runs.push(Run { what: "refresh", output: refresh.wait_with_output().unwrap() });
    // The used refresh token again: refused (rotation), an error path that carries a secret in its input.
    runs.push(run("reused refresh token", jwt("refresh", &key).args(["--refresh-token", &refresh_token])));
    runs.push(run(
        "reused code",
        jwt("exchange", &key).args(["--code", &code, "--redirect-uri", "http://127.0.0.1:9/cb"]),
    ));

    // Every secret that exists by now: keys, client secret, and every token any run printed on purpose.
    let mut secrets = vec![client.private_key.clone(), other.private_key.clone(), client.client_secret.clone()];
    secrets.extend(client.private_key_pem.lines().filter(|l| l.len() >= 40).map(str::to_owned));
    secrets.push(refresh_token);
    for run in &runs {
        let stdout = text(&run.output.stdout);
        if let Ok(json) = serde_json::from_str::<Value>(&stdout) {
            for field in ["access_token", "refresh_token", "id_token"] {
                if let Some(value) = json[field].as_str() {
                    secrets.push(value.to_owned());
                }
            }
        } else if run.output.status.success() && stdout.trim().starts_with("eyJ") {
            secrets.push(stdout.trim().to_owned());
        }
    }
    // Parts of secrets leak too: check a 24-character window from each one's middle as well.
    let windows: Vec<String> =
        secrets.iter().filter(|s| s.len() >= 48).map(|s| s[s.len() / 2 - 12..s.len() / 2 + 12].to_owned()).collect();

    let mut diagnostics = 0;
    for run in &runs {
        let stderr = text(&run.output.stderr);
        diagnostics += stderr.lines().filter(|l| l.contains("td_oauth")).count();
        let mut checked = vec![("stderr", stderr)];
        if !run.output.status.success() {
            checked.push(("stdout", text(&run.output.stdout)));
        }
        for (stream, content) in checked {
            for needle in secrets.iter().chain(&windows) {
                assert!(!content.contains(needle.as_str()), "{}: a secret in {stream}:\n{content}", run.what);
            }
            // No JWT of any kind (assertion, access, refresh or ID token) ever reaches a diagnostic.
            assert!(!content.contains("eyJ"), "{}: a JWT in {stream}:\n{content}", run.what);
        }
    }
    let failures = runs.iter().filter(|r| !r.output.status.success()).count();
    assert!(failures >= 14, "the error paths ran ({failures} failed runs)");
    assert!(diagnostics >= 20, "TRACE diagnostics were captured ({diagnostics} lines)");
    let all: String = runs.iter().map(|r| text(&r.output.stderr)).collect();
    for event in ["token request", "retrying", "token request failed"] {
        assert!(all.contains(event), "no `{event}` event was logged:\n{all}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
