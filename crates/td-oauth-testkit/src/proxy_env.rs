//! The proxy checks every transport runs, against its users' environment: `HTTPS_PROXY` and `NO_PROXY`.
//!
//! Environment variables are process-wide (and setting them is `unsafe` in edition 2024), so the checks
//! never set them in the test process: a transport's test binary (with `harness = false`) calls [`main`]
//! with its way of fetching one token, and [`main`] runs that binary again as a child for each case, with the
//! proxy variables set on the child only. The parent owns the HTTPS [`TestServer`] and the
//! [`ConnectProxy`], injects the faults, and checks where each child's request went.
//!
//! The cases: the token request goes through the proxy (with the client the transport builds, trusting
//! only the server's certificate, and with a caller-supplied client); `NO_PROXY` sends it straight to the
//! server; through the proxy a redirect is still refused and the body cap still holds.

use std::process::Command;

use crate::{Algorithm, ClientCredentials, ConnectProxy, Fault, FaultTarget, TOKEN_PATH, TestServer};

/// Set on the child, holding the case's name.
const CHILD: &str = "TD_OAUTH_PROXY_CASE";
/// The proxy variables the checks control; all are cleared on the child before the case's are set.
const PROXY_VARIABLES: [&str; 8] =
    ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"];
/// The body cap the child is to set, and the size of the oversized answer.
pub const BODY_CAP: usize = 4096;

/// What a child is handed: where to fetch a token, with which credentials, trusting which certificate.
#[derive(Debug, Clone)]
pub struct Case {
    /// The HTTPS token URL.
    pub token_url: String,
    /// The client's id.
    pub client_id: String,
    /// The client's key id.
    pub key_id: String,
    /// The client's private key (Talkdesk's one-line Base64).
    pub private_key: String,
    /// The server's self-signed certificate, DER: the one root to trust.
    pub certificate_der: Vec<u8>,
    /// Whether to send through a client the caller built (instead of one the transport builds).
    pub caller_supplied_client: bool,
}

/// How a child's fetch ended, as the transport's error says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A token.
    Token,
    /// Refused as a redirect.
    Redirected,
    /// Refused as larger than the body cap.
    TooLarge,
    /// Anything else, described.
    Other(String),
}

impl Outcome {
    fn encode(&self) -> String {
        match self {
            Outcome::Token => "token".into(),
            Outcome::Redirected => "redirected".into(),
            Outcome::TooLarge => "too_large".into(),
            Outcome::Other(what) => format!("other: {}", what.replace('\n', " ")),
        }
    }

    fn decode(line: &str) -> Outcome {
        match line {
            "token" => Outcome::Token,
            "redirected" => Outcome::Redirected,
            "too_large" => Outcome::TooLarge,
            other => Outcome::Other(other.to_owned()),
        }
    }
}

/// The test binary's `main`: as the parent, runs every case in a child and checks it (panicking with what
/// went wrong); as a child, fetches one token with `fetch` (which must cap bodies at [`BODY_CAP`]) and
/// prints the outcome.
pub fn main(fetch: impl Fn(&Case) -> Outcome) {
    match std::env::var(CHILD) {
        Ok(_) => child(fetch),
        Err(_) => parent(),
    }
}

fn child(fetch: impl Fn(&Case) -> Outcome) {
    let var = |name: &str| std::env::var(format!("TD_OAUTH_PROXY_{name}")).unwrap_or_default();
    let hex = var("CERT");
    let certificate_der = (0..hex.len())
        .step_by(2)
        .filter_map(|i| hex.get(i..i + 2).and_then(|byte| u8::from_str_radix(byte, 16).ok()))
        .collect();
    let case = Case {
        token_url: var("TOKEN_URL"),
        client_id: var("CLIENT_ID"),
        key_id: var("KEY_ID"),
        private_key: var("KEY"),
        certificate_der,
        caller_supplied_client: var("SUPPLIED") == "1",
    };
    let outcome = fetch(&case).encode();
    // The child's one line of output: what the parent reads.
    #[allow(clippy::print_stdout)]
    {
        println!("outcome={outcome}");
    }
}

struct Parent {
    server: TestServer,
    creds: ClientCredentials,
    proxy: ConnectProxy,
}

#[allow(clippy::panic)]
impl Parent {
    /// Runs the case `name` in a child with the proxy variables `env`; its outcome.
    fn run(&self, name: &str, env: &[(&str, String)], supplied: bool) -> Outcome {
        let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary's path: {err}"));
        let certificate = self.server.certificate().map(|c| c.der.clone()).unwrap_or_default();
        let mut command = Command::new(exe);
        for variable in PROXY_VARIABLES {
            command.env_remove(variable);
        }
        command
            .env(CHILD, name)
            .env("TD_OAUTH_PROXY_TOKEN_URL", self.server.token_url())
            .env("TD_OAUTH_PROXY_CLIENT_ID", &self.creds.client_id)
            .env("TD_OAUTH_PROXY_KEY_ID", &self.creds.key_id)
            .env("TD_OAUTH_PROXY_KEY", &self.creds.private_key)
            .env("TD_OAUTH_PROXY_CERT", certificate.iter().map(|b| format!("{b:02x}")).collect::<String>())
            .env("TD_OAUTH_PROXY_SUPPLIED", if supplied { "1" } else { "0" });
        for (variable, value) in env {
            command.env(variable, value);
        }
        let output = command.output().unwrap_or_else(|err| panic!("{name}: could not run the child: {err}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{name}: the child failed: {stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let line = stdout.lines().find_map(|l| l.strip_prefix("outcome=")).unwrap_or_default();
        Outcome::decode(line)
    }

    fn target(&self) -> String {
        self.server.local_addr().to_string()
    }
}

#[allow(clippy::panic, clippy::print_stdout)]
fn parent() {
    let server = TestServer::start_https().unwrap_or_else(|err| panic!("the HTTPS test server: {err}"));
    let creds = server.register_client(Algorithm::Es256).unwrap_or_else(|err| panic!("a client: {err}"));
    let proxy = ConnectProxy::start().unwrap_or_else(|err| panic!("the proxy: {err}"));
    let parent = Parent { server, creds, proxy };
    let through_proxy = [("HTTPS_PROXY", parent.proxy.url())];

    // The client the transport builds, trusting only the server's certificate, goes through the proxy.
    assert_eq!(parent.run("built client via HTTPS_PROXY", &through_proxy, false), Outcome::Token);
    assert_eq!(parent.proxy.connects(), [parent.target()], "one tunnel to the token endpoint");
    // So does a client the caller built from the transport's builder.
    assert_eq!(parent.run("caller-supplied client via HTTPS_PROXY", &through_proxy, true), Outcome::Token);
    assert_eq!(parent.proxy.connects().len(), 2);
    // The lowercase spelling works too.
    assert_eq!(parent.run("https_proxy", &[("https_proxy", parent.proxy.url())], false), Outcome::Token);
    assert_eq!(parent.proxy.connects().len(), 3);
    assert_eq!(parent.server.count_path(TOKEN_PATH), 3);

    // NO_PROXY naming the host: straight to the server.
    let bypass = [("HTTPS_PROXY", parent.proxy.url()), ("NO_PROXY", "127.0.0.1".to_owned())];
    assert_eq!(parent.run("NO_PROXY", &bypass, false), Outcome::Token);
    assert_eq!(parent.proxy.connects().len(), 3, "NO_PROXY bypasses the proxy");
    assert_eq!(parent.server.count_path(TOKEN_PATH), 4);

    // Through the tunnel the rules still hold: a redirect is refused, the body cap kept.
    let elsewhere = format!("{}/elsewhere", parent.server.base_url());
    parent.server.inject_on(FaultTarget::Token, Fault::status(307).with_header("location", elsewhere), 1);
    assert_eq!(parent.run("redirect through the proxy", &through_proxy, false), Outcome::Redirected);
    parent.server.inject_on(FaultTarget::Token, Fault::large_body(200, BODY_CAP * 4), 1);
    assert_eq!(parent.run("body cap through the proxy", &through_proxy, false), Outcome::TooLarge);
    assert_eq!(parent.proxy.connects().len(), 5);
    assert_eq!(parent.server.count_path("/elsewhere"), 0, "the redirect was not followed");
    assert!(parent.proxy.refused().is_empty(), "every request was tunnelled: {:?}", parent.proxy.refused());
    println!("proxy checks: 7 cases passed");
}
