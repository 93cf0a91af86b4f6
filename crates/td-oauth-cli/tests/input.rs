//! What the CLI accepts and refuses before it sends anything: values that begin with `-`, bounded timeouts
//! and retries, regions in any case, contradictory endpoints, secrets from standard input, files and the
//! environment, key files (capped, permission-checked, binary DER), redirect URIs and PKCE verifiers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::Value;
use td_oauth_core::authorize::pkce_challenge;
use td_oauth_core::retry::RetryPolicy;
use td_oauth_testkit::{Algorithm, Fault, TOKEN_PATH, TestServer};

mod common;

use common::{Scratch, assert_exit, assert_no_panic, connected, run, run_with_stdin, stderr, stdout, td_oauth};

const REDIRECT: &str = "http://127.0.0.1:9/callback";

/// The code of an authorization that carried `verifier`'s S256 challenge (as a browser would bring it back).
fn code_for(server: &TestServer, client_id: &str, verifier: &str) -> String {
    let challenge = pkce_challenge(&td_oauth_core::PkceVerifier::new(verifier));
    let url = format!(
        "{}?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid&state=s&code_challenge={challenge}\
         &code_challenge_method=S256",
        server.authorize_url(),
        url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
    );
    common::param(&common::authorize(&url), "code").to_owned()
}

#[test]
fn values_beginning_with_a_hyphen_are_values() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("hyphen");
    let key_file = scratch.file("client.key", &client.private_key);

    // About 1 in 60 verifiers `authorize-url --pkce` prints starts with `-`.
    let verifier = format!("-FJ{}", "x".repeat(40));
    let code = code_for(&server, &client.client_id, &verifier);
    let output = run(connected("exchange", &server, &client, &key_file).args([
        "--code",
        &code,
        "--redirect-uri",
        REDIRECT,
        "--code-verifier",
        &verifier,
        "--json",
    ]));
    assert_exit(&output, 0);
    let refresh_token =
        serde_json::from_str::<Value>(&stdout(&output)).unwrap()["refresh_token"].as_str().unwrap().to_owned();

    // Unknown values that begin with `-` reach the server, which refuses them (3), not the parser (2).
    let output = run(connected("exchange", &server, &client, &key_file).args([
        "--code",
        "-5_VUabc",
        "--redirect-uri",
        REDIRECT,
    ]));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("invalid_grant"), "{}", stderr(&output));
    let output = run(connected("refresh", &server, &client, &key_file).args(["--refresh-token", "-Xq3"]));
    assert_exit(&output, 3);
    assert!(stderr(&output).contains("invalid_grant"), "{}", stderr(&output));
    let output = run(connected("refresh", &server, &client, &key_file).args(["--refresh-token", &refresh_token]));
    assert_exit(&output, 0);

    let output = run(td_oauth()
        .args(["authorize-url", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .args(["--redirect-uri", REDIRECT, "--state", "-state-", "--nonce", "--nonce", "--json"]));
    assert_exit(&output, 0);
    let json: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!((json["state"].as_str(), json["nonce"].as_str()), (Some("-state-"), Some("--nonce")));
    assert!(json["url"].as_str().unwrap().contains("state=-state-"), "{json}");

    let output = run(td_oauth().args(["inspect", "-eyJ"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("invalid JWT"), "{}", stderr(&output));
}

#[test]
fn timeouts_retries_and_the_deadline_are_bounded() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("bounds");
    let key_file = scratch.file("client.key", &client.private_key);
    let refused = [
        (["--timeout", "18446744073709551615"], "--timeout"),
        (["--timeout", "99999999999999999999999"], "--timeout"),
        (["--timeout", "3601"], "1..=3600"),
        (["--timeout", "0"], "1..=3600"),
        (["--timeout", "-1"], "'-1'"),
        (["--retries", "4294967295"], "0..=10"),
        (["--retries", "11"], "0..=10"),
        (["--deadline", "0"], "1..=3600"),
        (["--deadline", "18446744073709551615"], "--deadline"),
        (["--timeout", "60"], "raise --deadline"),
    ];
    for (flags, says) in refused {
        let output = run(td_oauth()
            .args(["token", "--token-url", server.token_url(), "--client-id", &client.client_id])
            .args(["--key-id", &client.key_id])
            .arg("--private-key-file")
            .arg(&key_file)
            .args(flags));
        assert_no_panic(&output, &format!("{flags:?}"));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains(says), "{flags:?}: {}", stderr(&output));
    }
    assert_eq!(server.count_path(TOKEN_PATH), 0, "nothing was sent");

    // The largest values are accepted and do not overflow.
    let output = run(td_oauth()
        .args(["token", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .args(["--key-id", &client.key_id, "--timeout", "3600", "--deadline", "3600", "--retries", "10"])
        .arg("--private-key-file")
        .arg(&key_file));
    assert_exit(&output, 0);
}

#[test]
fn the_deadline_is_the_library_s_and_bounds_every_attempt() {
    let output = run(td_oauth().args(["token", "--help"]));
    let default = RetryPolicy::default().deadline().as_secs();
    assert!(stdout(&output).contains(&format!("[default: {default}]")), "{}", stdout(&output));

    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("deadline");
    let key_file = scratch.file("client.key", &client.private_key);
    server.inject_n(Fault::Delay(Duration::from_secs(3)), 10);
    let started = Instant::now();
    let output = run(td_oauth()
        .args(["token", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .args(["--key-id", &client.key_id, "--timeout", "2", "--retries", "5", "--deadline", "3"])
        .arg("--private-key-file")
        .arg(&key_file));
    let elapsed = started.elapsed();
    assert_exit(&output, 1);
    assert!(elapsed < Duration::from_secs(6), "all attempts within the 3 s deadline, not 6 × 2 s: {elapsed:?}");
    assert!(server.count_path(TOKEN_PATH) <= 3, "{} attempts", server.count_path(TOKEN_PATH));
}

#[test]
fn regions_in_any_case_and_no_contradictory_endpoints() {
    let scratch = Scratch::new("region");
    let key_file = scratch.file("client.key", include_str!("../../td-oauth-core/tests/keys/es256.pkcs8.b64"));
    let dry_run = |extra: &[&str]| {
        let mut command = td_oauth();
        command
            .args(["token", "--dry-run", "--client-id", "c", "--key-id", "k"])
            .arg("--private-key-file")
            .arg(&key_file);
        command.args(extra);
        command
    };
    for (region, host) in
        [("US", "talkdeskid.com"), ("Eu", "talkdeskid.eu"), ("ca", "talkdeskidca.com"), ("AU", "talkdeskid.au")]
    {
        let output = run(&mut dry_run(&["--account", "acme", "--region", region]));
        assert_exit(&output, 0);
        assert!(stdout(&output).starts_with(&format!("POST https://acme.{host}/oauth/token")), "{}", stdout(&output));
        let output = run(dry_run(&["--account", "acme"]).env("TALKDESK_REGION", region));
        assert_exit(&output, 0);
    }
    let output = run(&mut dry_run(&["--account", "acme", "--region", "mars"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("not one of us, eu, ca, au"), "{}", stderr(&output));

    let mut account_from_the_environment = dry_run(&["--token-url", "https://proxy.example/oauth/token"]);
    account_from_the_environment.env("TALKDESK_ACCOUNT", "acme");
    for (mut command, says) in [
        (dry_run(&["--account", "acme", "--token-url", "https://proxy.example/oauth/token"]), "give one of them"),
        (account_from_the_environment, "TALKDESK_ACCOUNT"),
        (dry_run(&["--region", "eu", "--token-url", "https://proxy.example/oauth/token"]), "--region"),
    ] {
        let output = run(&mut command);
        assert_exit(&output, 2);
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
    }
}

#[test]
fn secrets_come_from_standard_input_files_and_the_environment() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("secrets");
    let key_file = scratch.file("client.key", &client.private_key);
    let verifier = "v".repeat(43);

    // The code on standard input, the verifier from a file.
    let code = code_for(&server, &client.client_id, &verifier);
    let verifier_file = scratch.file("verifier", &format!("{verifier}\n"));
    let output = run_with_stdin(
        connected("exchange", &server, &client, &key_file)
            .args(["--redirect-uri", REDIRECT, "--code", "-", "--json", "--code-verifier-file"])
            .arg(&verifier_file),
        format!("{code}\n").as_bytes(),
    );
    assert_exit(&output, 0);
    let refresh_token =
        serde_json::from_str::<Value>(&stdout(&output)).unwrap()["refresh_token"].as_str().unwrap().to_owned();

    // Both from the environment.
    let code = code_for(&server, &client.client_id, &verifier);
    let output = run(connected("exchange", &server, &client, &key_file)
        .args(["--redirect-uri", REDIRECT, "--json"])
        .env("TALKDESK_CODE", &code)
        .env("TALKDESK_CODE_VERIFIER", &verifier));
    assert_exit(&output, 0);

    // A refresh token from the environment, then (rotated) from a file.
    let output = run(connected("refresh", &server, &client, &key_file)
        .arg("--json")
        .env("TALKDESK_REFRESH_TOKEN", &refresh_token));
    assert_exit(&output, 0);
    let rotated =
        serde_json::from_str::<Value>(&stdout(&output)).unwrap()["refresh_token"].as_str().unwrap().to_owned();
    let token_file = scratch.file("refresh-token", &rotated);
    let output = run(connected("refresh", &server, &client, &key_file).arg("--refresh-token-file").arg(&token_file));
    assert_exit(&output, 0);

    let before = server.count_path(TOKEN_PATH);
    let refusals = [
        (connected("refresh", &server, &client, &key_file), "TALKDESK_REFRESH_TOKEN"),
        (
            {
                let mut c = connected("refresh", &server, &client, &key_file);
                c.args(["--refresh-token", "x"]).arg("--refresh-token-file").arg(&token_file);
                c
            },
            "not both",
        ),
        (
            {
                let mut c = connected("exchange", &server, &client, &key_file);
                c.args(["--redirect-uri", REDIRECT, "--code", "-", "--code-verifier", "-"]);
                c
            },
            "cannot both read standard input",
        ),
        (
            {
                let mut c = connected("exchange", &server, &client, &key_file);
                c.args(["--redirect-uri", REDIRECT]);
                c
            },
            "TALKDESK_CODE",
        ),
        (
            {
                let mut c = connected("refresh", &server, &client, &key_file);
                c.arg("--refresh-token-file").arg(scratch.file("empty", "\n"));
                c
            },
            "is empty",
        ),
    ];
    for (mut command, says) in refusals {
        let output = run(&mut command);
        assert_exit(&output, 2);
        assert!(stderr(&output).contains(says), "{says}: {}", stderr(&output));
    }
    // Standard input is capped too.
    let output = run_with_stdin(
        connected("refresh", &server, &client, &key_file).args(["--refresh-token", "-"]),
        &vec![b'a'; 70_000],
    );
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("more than 64 KiB"), "{}", stderr(&output));
    assert_eq!(server.count_path(TOKEN_PATH), before, "nothing was sent");

    // The help shows only those forms, and says why.
    for subcommand in ["exchange", "refresh"] {
        let help = stdout(&run(td_oauth().args([subcommand, "--help"])));
        let examples = help.split("Example").nth(1).unwrap();
        assert!(!examples.contains("--refresh-token \"$") && !examples.contains("--code CODE"), "{examples}");
        assert!(help.contains("visible to other users"), "{help}");
    }
    let help = stdout(&run(td_oauth().arg("--help")));
    for says in ["TALKDESK_REFRESH_TOKEN", "--code-file", "standard input", "never the command line", "(ps, /proc)"] {
        assert!(help.contains(says), "{says}: {help}");
    }
}

#[test]
fn key_files_are_capped_checked_and_may_be_binary_der() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es384).unwrap();
    let scratch = Scratch::new("key-files");

    let started = Instant::now();
    let output = run(&mut connected("token", &server, &client, std::path::Path::new("/dev/zero")));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("larger than 64 KiB"), "{}", stderr(&output));
    assert!(started.elapsed() < Duration::from_secs(5), "it stops reading: {:?}", started.elapsed());
    let output = run(&mut connected("token", &server, &client, scratch.path()));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("cannot read the private key file"), "{}", stderr(&output));

    // Readable by others: it works, with a warning as ssh gives.
    let shared = scratch.file_with_mode("shared.key", client.private_key.as_bytes(), 0o644);
    let output = run(&mut connected("token", &server, &client, &shared));
    assert_exit(&output, 0);
    assert!(stderr(&output).contains("can be read by other users (mode 0644)"), "{}", stderr(&output));
    assert!(stderr(&output).contains(&format!("chmod 600 {}", shared.display())), "{}", stderr(&output));
    let private = scratch.file("private.key", &client.private_key);
    let output = run(&mut connected("token", &server, &client, &private));
    assert_exit(&output, 0);
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
    // The same for a client secret file.
    let secret = scratch.file_with_mode("secret", client.client_secret.as_bytes(), 0o640);
    let output = run(td_oauth()
        .args(["token", "--token-url", server.token_url(), "--client-id", &client.client_id])
        .arg("--client-secret-file")
        .arg(&secret));
    assert_exit(&output, 0);
    assert!(
        stderr(&output).contains("client secret file") && stderr(&output).contains("mode 0640"),
        "{}",
        stderr(&output)
    );

    // Binary DER, as `openssl pkcs8 -outform DER` writes it.
    let der = scratch.file_with_mode("client.der", &client.private_key_der, 0o600);
    let output = run(&mut connected("token", &server, &client, &der));
    assert_exit(&output, 0);
    let garbage = scratch.file_with_mode("garbage.der", &[0x30, 0x82, 0xff, 0xfe, 0x00, 0x01], 0o600);
    let output = run(&mut connected("token", &server, &client, &garbage));
    assert_exit(&output, 2);
    assert!(!stderr(&output).contains("UTF-8"), "{}", stderr(&output));
    assert!(stderr(&output).contains("private key"), "{}", stderr(&output));
}

#[test]
fn redirect_uris_and_verifiers_are_checked_before_sending() {
    let server = TestServer::start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("redirects");
    let key_file = scratch.file("client.key", &client.private_key);
    for (redirect, says) in [
        ("javascript:alert(1)", "scheme `javascript`"),
        ("not a url", "whitespace"),
        ("/callback", "not an absolute URI"),
        ("https://app.example/cb#x", "fragment"),
        ("http://app.example/cb", "loopback"),
    ] {
        let output = run(td_oauth()
            .args(["authorize-url", "--token-url", server.token_url(), "--client-id", &client.client_id])
            .args(["--redirect-uri", redirect]));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains(says), "{redirect}: {}", stderr(&output));
        let output =
            run(connected("exchange", &server, &client, &key_file).args(["--code", "c", "--redirect-uri", redirect]));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains(says), "{redirect}: {}", stderr(&output));
    }
    for verifier in
        ["v".repeat(42), "v".repeat(129), format!("{}+/", "v".repeat(41)), format!("{}\u{e9}", "v".repeat(42))]
    {
        let verifier_file = scratch.file("verifier", &verifier);
        let output = run(connected("exchange", &server, &client, &key_file)
            .args(["--code", "c", "--redirect-uri", REDIRECT])
            .arg("--code-verifier-file")
            .arg(&verifier_file));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("RFC 7636"), "{}", stderr(&output));
        assert!(!stderr(&output).contains(&verifier[..20]), "the verifier is never echoed: {}", stderr(&output));
    }
    // Whitespace around the verifier in a file is trimmed: the server sees a code it does not know.
    let verifier_file = scratch.file("verifier", &format!("{}\n", "v".repeat(43)));
    let output = run(connected("exchange", &server, &client, &key_file)
        .args(["--code", "c", "--redirect-uri", REDIRECT])
        .arg("--code-verifier-file")
        .arg(&verifier_file));
    assert_exit(&output, 3);
    assert_eq!(server.count_path(TOKEN_PATH), 1, "only the well-formed exchange was sent");
}
