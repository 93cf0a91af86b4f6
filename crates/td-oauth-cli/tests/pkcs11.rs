//! `--private-key-uri`: the binary gets tokens and signs assertions with a key that lives in a SoftHSM2
//! token the test makes, the module and PIN from flags or the environment; `--dry-run` names the key and
//! never the PIN; a wrong PIN or a PIN in the URI is refused without being shown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod common;

use std::process::Command;

use td_oauth_testkit::{Algorithm, AuthMethod, ClientCredentials, SoftHsm, TOKEN_PATH, TestServer};

use common::{Scratch, assert_exit, run, stderr, stdout, td_oauth};

const PIN: &str = "2718-cli-test-pin";

/// A SoftHSM2 store with the token `td` holding `client`'s key as `app-key`, imported from the PKCS#8 PEM
/// Talkdesk hands out; `None` (after saying why) when SoftHSM2 is not installed.
fn token_holding(server: &TestServer, algorithm: Algorithm) -> Option<(SoftHsm, ClientCredentials)> {
    let hsm = match SoftHsm::create() {
        Ok(hsm) => hsm,
        Err(why) => {
            eprintln!("skipping: {why}");
            return None;
        }
    };
    let client = server.register_client(algorithm).unwrap();
    hsm.init_token("td", PIN).unwrap();
    hsm.import_pkcs8_pem("td", PIN, "app-key", &[1], &client.private_key_pem).unwrap();
    Some((hsm, client))
}

/// `td-oauth SUBCOMMAND` for `client` with its key on the token, the module and PIN from flags.
fn with_token_key(
    subcommand: &str,
    server: &TestServer,
    client: &ClientCredentials,
    hsm: &SoftHsm,
    pin: &std::path::Path,
) -> Command {
    let mut command = td_oauth();
    command
        .arg(subcommand)
        .args(["--token-url", server.token_url()])
        .args(["--client-id", &client.client_id])
        .args(["--key-id", &client.key_id])
        .args(["--private-key-uri", "pkcs11:token=td;object=app-key"])
        .arg("--pkcs11-module")
        .arg(hsm.module_path())
        .arg("--pin-file")
        .arg(pin)
        .args(["--timeout", "5", "--retries", "0"])
        .env("SOFTHSM2_CONF", hsm.conf());
    command
}

#[test]
fn token_with_a_key_on_a_softhsm_token() {
    let server = TestServer::start().unwrap();
    let Some((hsm, client)) = token_holding(&server, Algorithm::Es256) else { return };
    let scratch = Scratch::new("pkcs11-token");
    let pin = scratch.file("pin", &format!("{PIN}\n"));

    let output = run(&mut with_token_key("token", &server, &client, &hsm, &pin));
    assert_exit(&output, 0);
    assert!(!stdout(&output).trim().is_empty());
    assert!(!stderr(&output).contains(PIN));
    let request = server.requests().into_iter().find(|r| r.path == TOKEN_PATH).unwrap();
    assert_eq!(request.status, Some(200), "{request:?}");
    assert_eq!(request.auth_method, Some(AuthMethod::ClientAssertion));
    let header = request.assertion_header.unwrap();
    assert_eq!((header["alg"].as_str(), header["kid"].as_str()), (Some("ES256"), Some(client.key_id.as_str())));
}

#[test]
fn the_environment_names_the_key_module_and_pin() {
    let server = TestServer::start().unwrap();
    let Some((hsm, client)) = token_holding(&server, Algorithm::Ps256) else { return };
    let output = run(td_oauth()
        .arg("assertion")
        .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
        .env("TALKDESK_PRIVATE_KEY_URI", "pkcs11:token=td;id=%01")
        .env("TALKDESK_PKCS11_MODULE", hsm.module_path())
        .env("TALKDESK_PKCS11_PIN", PIN)
        .env("SOFTHSM2_CONF", hsm.conf()));
    assert_exit(&output, 0);
    let assertion = stdout(&output);
    let header = assertion.split('.').next().unwrap();
    use base64::Engine as _;
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(header).unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    assert_eq!(header["alg"], "PS256");
    // The assertion is accepted by the server: a token for it through the same environment.
    let output = run(td_oauth()
        .arg("token")
        .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
        .env("TALKDESK_PRIVATE_KEY_URI", "pkcs11:token=td;id=%01")
        .env("TALKDESK_PKCS11_MODULE", hsm.module_path())
        .env("TALKDESK_PKCS11_PIN", PIN)
        .env("SOFTHSM2_CONF", hsm.conf()));
    assert_exit(&output, 0);
}

#[test]
fn dry_run_names_the_key_and_never_the_pin() {
    let server = TestServer::start().unwrap();
    let Some((hsm, client)) = token_holding(&server, Algorithm::Es256) else { return };
    let scratch = Scratch::new("pkcs11-dry-run");
    let pin = scratch.file("pin", PIN);
    let output = run(with_token_key("token", &server, &client, &hsm, &pin).arg("--dry-run"));
    assert_exit(&output, 0);
    let text = stdout(&output);
    assert!(text.contains(r#"client key: the key "app-key" on the token "td""#), "{text}");
    assert!(!text.contains(PIN) && !stderr(&output).contains(PIN));
    assert_eq!(server.count_path(TOKEN_PATH), 0, "a dry run sends nothing");
}

#[test]
fn a_wrong_pin_or_a_pin_in_the_uri_is_refused_without_being_shown() {
    let server = TestServer::start().unwrap();
    let Some((hsm, client)) = token_holding(&server, Algorithm::Es256) else { return };
    let scratch = Scratch::new("pkcs11-wrong-pin");
    let wrong = scratch.file("pin", "0000-wrong");
    let output = run(&mut with_token_key("token", &server, &client, &hsm, &wrong));
    assert_exit(&output, 2);
    let text = stderr(&output);
    assert!(text.contains("refused the PIN") && !text.contains("0000-wrong"), "{text}");
    assert_eq!(server.count_path(TOKEN_PATH), 0);

    let output = run(td_oauth()
        .arg("token")
        .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
        .args(["--private-key-uri", &format!("pkcs11:token=td;object=app-key?pin-value={PIN}")])
        .arg("--pkcs11-module")
        .arg(hsm.module_path())
        .env("SOFTHSM2_CONF", hsm.conf()));
    assert_exit(&output, 2);
    let text = stderr(&output);
    assert!(text.contains("pin-value") && !text.contains(PIN), "{text}");

    // No module: said, with where to give one.
    let output = run(td_oauth()
        .arg("token")
        .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
        .args(["--private-key-uri", "pkcs11:token=td;object=app-key"]));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("--pkcs11-module"), "{}", stderr(&output));
}
