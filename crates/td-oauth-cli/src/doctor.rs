//! `doctor`: checks, in order, what a token request needs, and says for each what was checked, what was
//! found and what to do: where the configuration came from, the hosts, DNS, the connection (proxy, TLS
//! roots), the token endpoint's clock, the key, a token request and its scopes, the token cache and the
//! login store. The exit status is the first failure's (the table in `td-oauth --help`). Nothing secret is
//! printed: sources are named, never their contents, and the token is decoded for its scopes only.

use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use td_oauth_core::clock::offset::{self, OFFSET_THRESHOLD};
use td_oauth_core::jwt::UnverifiedJwt;
use td_oauth_core::text::display_url;
use td_oauth_core::transport::proxy::ProxyRule;
use td_oauth_core::{Endpoints, Grant, TokenClient};
use td_oauth_ureq::ureq;

use crate::args::Connection;
use crate::connection::{CLIENT_SECRET_VAR, PRIVATE_KEY_VAR};
use crate::error::CliError;
use crate::output::{clean, out};

/// What `doctor` was asked.
pub(crate) struct Options<'a> {
    pub(crate) scope: Option<&'a str>,
    pub(crate) cache: Option<&'a str>,
    pub(crate) offline: bool,
    pub(crate) json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// One line of the report.
struct Check {
    name: &'static str,
    status: Status,
    found: String,
    action: Option<String>,
    /// The failure's exit status.
    exit: Option<u8>,
    /// Extra fields for `--json` (the clock offset in seconds, the scopes).
    extra: Option<(&'static str, Value)>,
}

impl Check {
    fn ok(name: &'static str, found: impl Into<String>) -> Self {
        Check { name, status: Status::Ok, found: found.into(), action: None, exit: None, extra: None }
    }

    fn warn(name: &'static str, found: impl Into<String>, action: impl Into<String>) -> Self {
        Check { status: Status::Warn, action: Some(action.into()), ..Check::ok(name, found) }
    }

    fn skipped(name: &'static str, why: impl Into<String>) -> Self {
        Check { status: Status::Skipped, ..Check::ok(name, why) }
    }

    fn fail(name: &'static str, err: CliError) -> Self {
        let exit = match &err {
            CliError::Failed(_) => 1,
            CliError::Input(_) => 2,
            CliError::Refused(_) => 3,
            CliError::ProxyRefused(_) => 4,
            CliError::Closed => 0,
        };
        let (found, action) = match err.to_string().split_once("\nhint: ") {
            Some((found, hint)) => (found.to_owned(), Some(hint.to_owned())),
            None => (err.to_string(), None),
        };
        Check { name, status: Status::Fail, found, action, exit: Some(exit), extra: None }
    }

    fn with(mut self, key: &'static str, value: Value) -> Self {
        self.extra = Some((key, value));
        self
    }
}

pub(crate) fn doctor(connection: &Connection, options: &Options<'_>) -> Result<(), CliError> {
    let checks = run_checks(connection, options);
    let exit = checks.iter().find_map(|c| c.exit).unwrap_or(0);
    if options.json {
        let lines: Vec<Value> = checks
            .iter()
            .map(|c| {
                let mut line = json!({"check": c.name, "status": c.status.as_str(), "found": c.found});
                if let (Some(action), Some(object)) = (&c.action, line.as_object_mut()) {
                    object.insert("action".into(), json!(action));
                }
                if let (Some((key, value)), Some(object)) = (&c.extra, line.as_object_mut()) {
                    object.insert((*key).into(), value.clone());
                }
                line
            })
            .collect();
        out!("{}", json!({"ok": exit == 0, "exit_status": exit, "checks": lines}))?;
    } else {
        for check in &checks {
            out!("{:<7} {:<13} {}", check.status.as_str(), check.name, clean(&check.found))?;
            if let Some(action) = &check.action {
                out!("{:<21} -> {}", "", clean(action))?;
            }
        }
    }
    match exit {
        0 => Ok(()),
        1 => Err(CliError::Failed("doctor: a check failed (see above)".into())),
        2 => Err(CliError::Input("doctor: a check failed (see above)".into())),
        3 => Err(CliError::Refused("doctor: a check failed (see above)".into())),
        _ => Err(CliError::ProxyRefused("doctor: a check failed (see above)".into())),
    }
}

fn run_checks(connection: &Connection, options: &Options<'_>) -> Vec<Check> {
    let mut checks = vec![configuration(connection)];
    let endpoints = match connection.endpoints() {
        Ok(endpoints) => endpoints,
        Err(err) => {
            checks.push(Check::fail("hosts", err));
            return checks;
        }
    };
    checks.push(hosts(&endpoints));
    let proxies = ProxyRule::from_env();
    if options.offline {
        for name in ["dns", "connection", "clock"] {
            checks.push(Check::skipped(name, "--offline: nothing sent"));
        }
    } else {
        checks.push(dns(&endpoints, proxies.as_ref().ok()));
        let (connection_check, clock_check) = probe(connection, &endpoints, proxies);
        checks.push(connection_check);
        checks.push(clock_check);
    }
    let client = match connection.token_client() {
        Ok(client) => {
            checks.push(key(connection, &client));
            Some(client)
        }
        Err(err) => {
            checks.push(Check::fail("key", err));
            None
        }
    };
    if options.offline {
        checks.push(Check::skipped("token", "--offline: no token requested"));
    } else if client.is_some() {
        checks.push(token(connection, options.scope));
    } else {
        checks.push(Check::skipped("token", "no usable credentials (see the key line)"));
    }
    checks.push(cache(options.cache, options.offline));
    checks.push(login_store(connection));
    checks
}

/// Where each setting came from: a flag, the environment, or a file; never the values of secrets.
fn configuration(connection: &Connection) -> Check {
    let source = |value: Option<&str>, flag: &str, var: &str| -> Option<String> {
        let value = value?;
        Some(match std::env::var(var) {
            Ok(env) if env == value => var.to_owned(),
            _ => flag.to_owned(),
        })
    };
    let mut parts = Vec::new();
    let mut add = |what: &str, from: Option<String>| {
        if let Some(from) = from {
            parts.push(format!("{what} from {from}"));
        }
    };
    add("token URL", source(connection.token_url.as_deref(), "--token-url", "TALKDESK_TOKEN_URL"));
    add("account", source(connection.account.as_deref(), "--account", "TALKDESK_ACCOUNT"));
    add("region", connection.region.map(|_| source_of_flag("--region", "TALKDESK_REGION")));
    add("client id", source(connection.client_id.as_deref(), "--client-id", "TALKDESK_CLIENT_ID"));
    add("key id", source(connection.key_id.as_deref(), "--key-id", "TALKDESK_KEY_ID"));
    add("algorithm", source(connection.algorithm.as_deref(), "--algorithm", "TALKDESK_KEY_ALGORITHM"));
    let key_file = connection.private_key_file.as_ref().map(|path| path.display().to_string());
    add(
        "private key",
        key_file
            .as_deref()
            .map(|path| {
                format!("the file {path} ({})", source_of_flag("--private-key-file", "TALKDESK_PRIVATE_KEY_FILE"))
            })
            .or_else(|| crate::secrets::env_is_set(PRIVATE_KEY_VAR).then(|| PRIVATE_KEY_VAR.to_owned())),
    );
    add(
        "private key on a token",
        connection.token_key.uri().map(|_| {
            let key = connection.token_key.describe().unwrap_or_else(|| "a PKCS#11 URI".into());
            format!("{key} ({})", source_of_flag("--private-key-uri", "TALKDESK_PRIVATE_KEY_URI"))
        }),
    );
    add(
        "client secret",
        connection
            .client_secret_file
            .as_ref()
            .map(|path| format!("the file {} (--client-secret-file)", path.display()))
            .or_else(|| crate::secrets::env_is_set(CLIENT_SECRET_VAR).then(|| CLIENT_SECRET_VAR.to_owned())),
    );
    add("CA file", connection.ca_file.as_ref().map(|path| format!("the file {}", path.display())));
    if parts.is_empty() {
        return Check::fail(
            "configuration",
            CliError::Input("nothing configured".into()).with_hint(
                "give --account (or --token-url), --client-id, and a key (--private-key-file, --key-id) or a \
                 client secret, as flags or TALKDESK_* variables",
            ),
        );
    }
    Check::ok("configuration", parts.join("; "))
}

/// A flag's or its variable's name, whichever gave the value (the variable when it is set).
fn source_of_flag(flag: &str, var: &str) -> String {
    if std::env::var_os(var).is_some() { var.to_owned() } else { flag.to_owned() }
}

fn hosts(endpoints: &Endpoints) -> Check {
    let mut found = format!("token endpoint {}", display_url(endpoints.token_url().url()));
    if let Some(authorize) = endpoints.authorize_url() {
        found.push_str(&format!(", authorize endpoint {}", display_url(authorize.url())));
    }
    if let Some(api) = endpoints.api_base() {
        found.push_str(&format!(", API gateway {}", display_url(api.url())));
    }
    Check::ok("hosts", found)
}

fn host_port(url: &url::Url) -> Option<(String, u16)> {
    Some((url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned(), url.port_or_known_default()?))
}

fn dns(endpoints: &Endpoints, proxies: Option<&ProxyRule>) -> Check {
    let url = endpoints.token_url().url();
    let proxy = proxies.and_then(|rule| rule.route(url));
    let target = proxy.map_or(url, |p| p.url());
    let Some((host, port)) = host_port(target) else {
        return Check::fail("dns", CliError::Input(format!("{} has no host", display_url(target))));
    };
    match (host.as_str(), port).to_socket_addrs() {
        Ok(addresses) => {
            let addresses: Vec<String> = addresses.map(|a| a.ip().to_string()).collect();
            let via =
                proxy.map(|p| format!(" (the proxy {}; it resolves the endpoint)", p.shown())).unwrap_or_default();
            Check::ok("dns", format!("{host} is {}{via}", addresses.join(", ")))
        }
        Err(err) => Check::fail(
            "dns",
            CliError::Failed(format!("{host} does not resolve: {err}"))
                .with_hint("check the account name and region (or the token URL), and this machine's DNS"),
        ),
    }
}

/// One request to the token endpoint, without credentials: whether TCP and TLS work (through which proxy,
/// trusting which roots), and its `Date` against this machine's clock.
fn probe(
    connection: &Connection,
    endpoints: &Endpoints,
    proxies: Result<ProxyRule, td_oauth_core::Error>,
) -> (Check, Check) {
    let skipped = || Check::skipped("clock", "no answer to read the clock from (see the connection line)");
    let proxies = match proxies {
        Ok(rule) => rule,
        Err(err) => return (Check::fail("connection", err.into()), skipped()),
    };
    let url = endpoints.token_url().url();
    let route = proxies.route(url).cloned();
    let roots = match &connection.ca_file {
        Some(path) => format!("trusting only the certificates in {}", path.display()),
        None => "trusting the system's roots".to_owned(),
    };
    let via = route.as_ref().map_or_else(|| "directly".to_owned(), |p| format!("through the proxy {}", p.shown()));
    let timeout = Duration::from_secs(connection.timeout);
    // The CLI's own transport settings, so that its TLS roots (--ca-file) are the ones checked.
    let agent = match connection.ureq_agent() {
        Ok(agent) => agent,
        Err(err) => return (Check::fail("connection", err), skipped()),
    };
    let request = td_oauth_core::http::Request::post(url.as_str())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(&b"grant_type=client_credentials"[..]);
    let request = match request {
        Ok(request) => request,
        Err(err) => return (Check::fail("connection", CliError::Input(err.to_string())), skipped()),
    };
    let mut configured =
        agent.configure_request(request).max_redirects(0).http_status_as_error(false).timeout_global(Some(timeout));
    if let Some(proxy) = &route {
        match ureq::Proxy::new(proxy.url().as_str()) {
            Ok(proxy) => configured = configured.proxy(Some(proxy)),
            Err(err) => return (Check::fail("connection", CliError::Input(format!("the proxy: {err}"))), skipped()),
        }
    } else {
        configured = configured.proxy(None);
    }
    let sent = SystemTime::now();
    let answer = agent.run(configured.build());
    let received = SystemTime::now();
    let response = match answer {
        Ok(response) => response,
        Err(err) => {
            let shown = display_url(url);
            let err = match err {
                ureq::Error::Tls(_) | ureq::Error::Rustls(_) => {
                    CliError::Failed(format!("TLS with {shown} failed: {err}"))
                        .with_hint("if the endpoint uses a private CA, give its certificate with --ca-file")
                }
                ureq::Error::ConnectProxyFailed(_) => {
                    CliError::ProxyRefused(format!("the proxy refused the tunnel: {err}"))
                }
                ureq::Error::Io(io)
                    if io.get_ref().is_some_and(|e| {
                        e.is::<td_oauth_ureq::ureq::Error>() || e.to_string().contains("certificate")
                    }) =>
                {
                    CliError::Failed(format!("TLS with {shown} failed: {io}"))
                        .with_hint("if the endpoint uses a private CA, give its certificate with --ca-file")
                }
                other => CliError::Failed(format!("could not reach {shown} {via}: {other}"))
                    .with_hint("check the network, the proxy variables (HTTPS_PROXY, NO_PROXY) and the URL"),
            };
            return (Check::fail("connection", err), skipped());
        }
    };
    let tls = if url.scheme() == "https" { format!("TLS, {roots}") } else { "plain HTTP (loopback)".to_owned() };
    let connection_check = Check::ok(
        "connection",
        format!("{} answered {} {via}, over {tls}", display_url(url), response.status().as_u16()),
    );
    let clock = match offset::sample(response.headers(), sent, received) {
        None => Check::warn(
            "clock",
            "the token endpoint's answer has no Date header",
            "nothing to compare this machine's clock with; keep it synchronised (NTP)",
        ),
        Some(offset) => {
            let secs = offset.as_secs();
            let found = match secs {
                0 => "within a second of the token endpoint's clock".to_owned(),
                s if s > 0 => format!("{s} s behind the token endpoint's clock"),
                s => format!("{} s ahead of the token endpoint's clock", s.unsigned_abs()),
            };
            let check = if offset.magnitude() > OFFSET_THRESHOLD {
                Check::warn(
                    "clock",
                    format!("this machine's clock is {found}"),
                    "td-oauth signs assertions on the endpoint's time (up to an hour off), but other tools will not: \
                     synchronise this machine's clock (NTP)",
                )
            } else {
                Check::ok("clock", format!("this machine's clock is {found}"))
            };
            check.with("offset_seconds", json!(secs))
        }
    };
    (connection_check, clock)
}

fn key(connection: &Connection, client: &TokenClient) -> Check {
    match client.assertion_signer() {
        Some(signer) => {
            let algorithm = signer.algorithm();
            let asked = match &connection.algorithm {
                Some(asked) => format!(", as --algorithm asked ({asked})"),
                None => ", taken from the key".to_owned(),
            };
            Check::ok(
                "key",
                format!("a private key for {}{asked}; key id {}", algorithm.as_str(), signer.key_id().as_str()),
            )
        }
        None => Check::ok("key", format!("no private key: HTTP Basic with client id {}", client.client_id().as_str())),
    }
}

fn token(connection: &Connection, scope: Option<&str>) -> Check {
    let scopes = match crate::token::scopes(scope) {
        Ok(scopes) => scopes,
        Err(err) => return Check::fail("token", err),
    };
    let token = match connection.fetch(&Grant::client_credentials(scopes.clone())) {
        Ok(token) => token,
        Err(err) => return Check::fail("token", err),
    };
    // Decoded for display only: Talkdesk publishes no key to verify it with.
    let granted: Vec<String> = match UnverifiedJwt::decode(token.access_token().secret()) {
        Ok(jwt) => match jwt.claims().get("scp") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            Some(Value::String(text)) => text.split_whitespace().map(str::to_owned).collect(),
            _ => token.scope().unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
        },
        Err(_) => token.scope().unwrap_or_default().split_whitespace().map(str::to_owned).collect(),
    };
    let missing: Vec<&str> = scopes.as_str().split_whitespace().filter(|s| !granted.iter().any(|g| g == s)).collect();
    let found = format!("a token for {} s with scopes [{}]", token.expires_in().as_secs(), granted.join(" "));
    let check = if missing.is_empty() {
        Check::ok("token", found)
    } else {
        Check::warn(
            "token",
            format!("{found}; not granted: {}", missing.join(" ")),
            "ask the account's administrator to grant them to the app (new scopes take a few minutes)",
        )
    };
    check.with("scopes", json!(granted))
}

fn cache(cache: Option<&str>, offline: bool) -> Check {
    let Some(cache) = cache else {
        return Check::skipped("cache", "not configured (--cache or TD_OAUTH_CACHE)");
    };
    if cache.starts_with("redis://") || cache.starts_with("rediss://") {
        let Ok(url) = url::Url::parse(cache) else {
            return Check::fail("cache", CliError::Input("the cache URL does not parse".into()));
        };
        let shown = display_url(&url);
        if offline {
            return Check::skipped("cache", format!("{shown}: --offline, not contacted"));
        }
        let Some((host, port)) = host_port(&url) else {
            return Check::fail("cache", CliError::Input(format!("{shown} has no host")));
        };
        let reachable = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addresses| addresses.next())
            .map(|address| TcpStream::connect_timeout(&address, Duration::from_secs(3)));
        return match reachable {
            Some(Ok(_)) => Check::ok("cache", format!("Redis at {shown} accepts connections")),
            _ => Check::warn(
                "cache",
                format!("Redis at {shown} cannot be reached"),
                "tokens will be fetched directly (with a warning) until it can",
            ),
        };
    }
    match crate::file_cache::FileCache::open(cache) {
        Ok(_) => Check::ok("cache", format!("the token cache {cache} can be used")),
        Err(err) => Check::fail("cache", err),
    }
}

fn login_store(connection: &Connection) -> Check {
    let store = match crate::login_store::LoginStore::for_connection(connection) {
        Ok(store) => store,
        Err(_) => return Check::skipped("login", "no client to look a login up for"),
    };
    if !store.path().exists() {
        return Check::skipped("login", format!("no login kept for {}", store.describe()));
    }
    match store.load() {
        Ok(_) => Check::ok("login", format!("a login is kept for {} ({})", store.describe(), store.path().display())),
        Err(err) => Check::fail("login", err),
    }
}
