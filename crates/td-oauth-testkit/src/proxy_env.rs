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
//! server; through the proxy a redirect is still refused and the body cap still holds; every row of
//! [`NO_PROXY_TABLE`] (names, suffixes, addresses, ranges, `*`, ports) is decided as it says; a proxy that
//! is down is named in the error; a proxy's 407 or 403 is reported as such and not retried; a proxy URL
//! with a bare `@` in its password is refused before anything is sent.

use std::process::Command;

use crate::{Algorithm, ClientCredentials, ConnectProxy, Fault, FaultTarget, TOKEN_PATH, TestServer};

/// Set on the child, holding the case's name.
const CHILD: &str = "TD_OAUTH_PROXY_CASE";
/// The proxy variables the checks control; all are cleared on the child before the case's are set.
const PROXY_VARIABLES: [&str; 8] =
    ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"];
/// The body cap the child is to set, and the size of the oversized answer.
pub const BODY_CAP: usize = 4096;

/// The `NO_PROXY` table both transports run (and td-oauth-core's rule checks on its own): the value of
/// `NO_PROXY`, the host the token URL names (both reach the test server), and whether the request bypasses
/// the proxy. `{port}` stands for the server's port, `{other}` for another.
pub const NO_PROXY_TABLE: &[(&str, &str, bool)] = &[
    ("127.0.0.0/8", "127.0.0.1", true),
    ("10.0.0.0/8, 192.168.0.0/16", "127.0.0.1", false),
    ("127.0.0.1", "127.0.0.1", true),
    ("127.0.0.2", "127.0.0.1", false),
    ("*", "127.0.0.1", true),
    ("*", "localhost", true),
    ("localhost", "localhost", true),
    (".localhost", "localhost", true),
    ("*.localhost", "localhost", true),
    ("calhost", "localhost", false),
    ("example.com, LOCALHOST", "localhost", true),
    ("127.0.0.1:{port}", "127.0.0.1", true),
    ("127.0.0.1:{other}", "127.0.0.1", false),
    ("localhost:{port}", "localhost", true),
    ("localhost:{other}", "localhost", false),
    ("::1, [::1]:{port}", "127.0.0.1", false),
    ("", "127.0.0.1", false),
];

/// What a child is handed: where to fetch a token, with which credentials, trusting which certificate.
#[derive(Debug, Clone)]
pub struct Case {
    /// The HTTPS token URL.
    pub token_url: String,
    /// The assertion's audience: the server's own token URL (the token URL may name it another way).
    pub audience: String,
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
    /// The proxy refused the tunnel with this status, reported as a configuration error of its own.
    ProxyRefused(u16),
    /// The proxy failed (down, or no tunnel): the error's message, which names the proxy.
    ProxyFailed(String),
    /// The configuration was refused before anything was sent: the error's message.
    Config(String),
    /// Anything else, described.
    Other(String),
}

impl Outcome {
    fn encode(&self) -> String {
        match self {
            Outcome::Token => "token".into(),
            Outcome::Redirected => "redirected".into(),
            Outcome::TooLarge => "too_large".into(),
            Outcome::ProxyRefused(status) => format!("proxy_refused:{status}"),
            Outcome::ProxyFailed(what) => format!("proxy_failed:{}", what.replace('\n', " ")),
            Outcome::Config(what) => format!("config:{}", what.replace('\n', " ")),
            Outcome::Other(what) => format!("other: {}", what.replace('\n', " ")),
        }
    }

    fn decode(line: &str) -> Outcome {
        match line {
            "token" => Outcome::Token,
            "redirected" => Outcome::Redirected,
            "too_large" => Outcome::TooLarge,
            other => {
                if let Some(status) = other.strip_prefix("proxy_refused:").and_then(|s| s.parse().ok()) {
                    Outcome::ProxyRefused(status)
                } else if let Some(what) = other.strip_prefix("proxy_failed:") {
                    Outcome::ProxyFailed(what.to_owned())
                } else if let Some(what) = other.strip_prefix("config:") {
                    Outcome::Config(what.to_owned())
                } else {
                    Outcome::Other(other.to_owned())
                }
            }
        }
    }
}

/// The test binary's `main`: as the parent, runs every case in a child and checks it (panicking with what
/// went wrong); as a child, fetches one token with `fetch` (which must cap bodies at [`BODY_CAP`]) and
/// prints the outcome.
pub fn main(fetch: impl Fn(&Case) -> Outcome) {
    run_checks(fetch, TunnelRefusals::EveryStatus);
}

/// [`main`] for a transport whose HTTP client tells a proxy's 407 from other refusals of the tunnel but
/// not its 403 from a 502 (reqwest, through hyper-util): a 403 is then checked to be reported as the proxy
/// failing, naming it, instead of as [`Outcome::ProxyRefused`].
pub fn main_knowing_only_407(fetch: impl Fn(&Case) -> Outcome) {
    run_checks(fetch, TunnelRefusals::Only407);
}

/// Which refusals of a tunnel a transport's HTTP client reports with their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunnelRefusals {
    EveryStatus,
    Only407,
}

fn run_checks(fetch: impl Fn(&Case) -> Outcome, refusals: TunnelRefusals) {
    match std::env::var(CHILD) {
        Ok(_) => child(fetch),
        Err(_) => parent(refusals),
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
        audience: var("AUDIENCE"),
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
        self.run_at(name, self.server.token_url(), env, supplied)
    }

    /// [`run`](Self::run) with the token URL `token_url` (another name for the same server).
    fn run_at(&self, name: &str, token_url: &str, env: &[(&str, String)], supplied: bool) -> Outcome {
        let exe = std::env::current_exe().unwrap_or_else(|err| panic!("the test binary's path: {err}"));
        let certificate = self.server.certificate().map(|c| c.der.clone()).unwrap_or_default();
        let mut command = Command::new(exe);
        for variable in PROXY_VARIABLES {
            command.env_remove(variable);
        }
        command
            .env(CHILD, name)
            .env("TD_OAUTH_PROXY_TOKEN_URL", token_url)
            .env("TD_OAUTH_PROXY_AUDIENCE", self.server.token_url())
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
fn parent(refusals: TunnelRefusals) {
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

    let table = no_proxy_table(&parent);
    let failures = proxy_failures(&parent, refusals);
    println!("proxy checks: {} cases passed", 7 + table + failures);
}

/// [`NO_PROXY_TABLE`], each row in a child: through the proxy or straight to the server, as the row says.
#[allow(clippy::panic)]
fn no_proxy_table(parent: &Parent) -> usize {
    let port = parent.server.local_addr().port();
    let other = port.wrapping_add(1).max(1);
    for (no_proxy, host, bypass) in NO_PROXY_TABLE {
        let no_proxy = no_proxy.replace("{port}", &port.to_string()).replace("{other}", &other.to_string());
        let token_url = parent.server.token_url().replacen("127.0.0.1", host, 1);
        let env = [("HTTPS_PROXY", parent.proxy.url()), ("NO_PROXY", no_proxy.clone())];
        let (connects, tokens) = (parent.proxy.connects().len(), parent.server.count_path(TOKEN_PATH));
        let name = format!("NO_PROXY={no_proxy:?} to {host}");
        assert_eq!(parent.run_at(&name, &token_url, &env, false), Outcome::Token, "{name}");
        assert_eq!(parent.server.count_path(TOKEN_PATH), tokens + 1, "{name}: one token request");
        let tunnelled = parent.proxy.connects().len() - connects;
        assert_eq!(tunnelled, usize::from(!*bypass), "{name}: {}", if *bypass { "bypasses" } else { "goes through" });
    }
    NO_PROXY_TABLE.len()
}

/// A proxy that is down, one that refuses the tunnel (407, 403), and a proxy URL that cannot be used.
#[allow(clippy::panic)]
fn proxy_failures(parent: &Parent, refusals: TunnelRefusals) -> usize {
    // Down: a port nobody listens on. The error names the proxy, not the token endpoint.
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap_or_else(|err| panic!("a free port: {err}"));
    let down_url = format!("http://127.0.0.1:{}", down.port());
    match parent.run("proxy down", &[("HTTPS_PROXY", down_url.clone())], false) {
        Outcome::ProxyFailed(message) => assert!(message.contains(&down_url), "names the proxy: {message}"),
        other => panic!("proxy down: {other:?}"),
    }

    // 407 and 403 to CONNECT: a configuration error of its own, sent once (not retried).
    for status in [407, 403] {
        let refusing = ConnectProxy::start_refusing(status).unwrap_or_else(|err| panic!("the proxy: {err}"));
        let tokens = parent.server.count_path(TOKEN_PATH);
        let outcome = parent.run(&format!("proxy answering {status}"), &[("HTTPS_PROXY", refusing.url())], false);
        assert_eq!(parent.server.count_path(TOKEN_PATH), tokens);
        if status == 403 && refusals == TunnelRefusals::Only407 {
            match outcome {
                Outcome::ProxyFailed(message) => assert!(message.contains(&refusing.url()), "{message}"),
                other => panic!("proxy answering 403: {other:?}"),
            }
            continue;
        }
        assert_eq!(outcome, Outcome::ProxyRefused(status), "proxy answering {status}");
        assert_eq!(refusing.connects().len(), 1, "a refused tunnel is not asked for again");
    }

    // An unencoded `@` in the password: refused before any connection, with the fix, without the password.
    let watched = ConnectProxy::start().unwrap_or_else(|err| panic!("the proxy: {err}"));
    let url = watched.url().replacen("http://", "http://bob:pa@ss@", 1);
    match parent.run("unencoded @ in the proxy password", &[("HTTPS_PROXY", url)], false) {
        Outcome::Config(message) => {
            assert!(message.contains("%40") && !message.contains("pa@ss") && !message.contains("pa%40ss"), "{message}");
        }
        other => panic!("unencoded @: {other:?}"),
    }
    assert!(watched.connects().is_empty() && watched.refused().is_empty(), "nothing reached the proxy");
    4
}
