//! `td-oauth agent` as a child process against td-oauth-testkit, over its real Unix socket (and loopback
//! TCP): the default and named clients, every refused request, the socket's and its directory's modes,
//! a thousand concurrent callers costing one token request, SIGHUP under load, and a clean SIGTERM.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use td_oauth_testkit::{Algorithm, Fault, TOKEN_PATH, TestServer};

mod agent_support;
mod common;

use agent_support::{
    Agent, agent_command, bare_agent_command, client_table, get, parse, request_tcp, request_unix,
    request_unix_cut_short, socket_in,
};
use common::{Scratch, assert_exit, run, stderr};

const LIFETIME: Duration = Duration::from_secs(600);

fn server() -> TestServer {
    TestServer::builder().token_lifetime(LIFETIME).start().unwrap()
}

#[test]
fn serves_the_default_client_and_named_ones() {
    let server = server();
    let default = server.register_client(Algorithm::Es256).unwrap();
    let reports = server.register_client(Algorithm::Es384).unwrap();
    let billing = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-clients");
    let default_key = scratch.file("default.key", &default.private_key);
    scratch.file("reports.key", &reports.private_key);
    let billing_secret = scratch.file("billing.secret", &billing.client_secret);
    // A relative key path is read beside the configuration file; Basic authentication works too.
    let config = scratch.file(
        "agent.toml",
        &format!(
            "{}scope = \"users:read\"\n\n[clients.billing]\ntoken_url = \"{}\"\nclient_id = \"{}\"\n\
             client_secret_file = \"{}\"\n",
            client_table("reports", &server, &reports, std::path::Path::new("reports.key")),
            server.token_url(),
            billing.client_id,
            billing_secret.display()
        ),
    );
    let mut command = agent_command(&server, &default, &default_key);
    command.arg("--config").arg(&config);
    let agent = Agent::start(command, &socket_in(&scratch), &scratch.path().join("agent.log"));

    let reply = agent.get("/v1/token");
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let json = reply.json();
    let fields: Vec<&String> = json.as_object().unwrap().keys().collect();
    assert_eq!(fields, ["access_token", "expires_in", "token_type"]);
    assert_eq!(json["token_type"], "Bearer");
    let expires_in = json["expires_in"].as_u64().unwrap();
    assert!(expires_in > LIFETIME.as_secs() - 30 && expires_in <= LIFETIME.as_secs(), "{expires_in}");
    let token = json["access_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("eyJ"));

    let reports_token = agent.token("/v1/token/reports");
    let billing_token = agent.token("/v1/token/billing");
    assert!(reports_token != token && billing_token != token && billing_token != reports_token);
    // Each from its own client, once, however often asked.
    for _ in 0..20 {
        assert_eq!(agent.token("/v1/token"), token);
        assert_eq!(agent.token("/v1/token/reports"), reports_token);
    }
    assert_eq!(server.count_client(&default.client_id), 1);
    assert_eq!(server.count_client(&reports.client_id), 1);
    assert_eq!(server.count_client(&billing.client_id), 1);
    // The named client's scopes from the file.
    let reports_request = server.requests().into_iter().find(|r| r.client_id.as_deref() == Some(&reports.client_id));
    assert_eq!(reports_request.unwrap().scope.as_deref(), Some("users:read"), "the file's scope");

    let health = agent.get("/v1/health");
    assert_eq!((health.status, health.json()["status"].as_str()), (200, Some("ok")));
    let unknown = agent.get("/v1/token/nobody");
    assert_eq!((unknown.status, unknown.error().as_str()), (404, "unknown_client"));
    assert!(!agent.log().contains(&token) && !agent.log().contains(&reports_token), "no token in the log");
}

#[test]
fn the_default_client_comes_from_talkdesk_variables_as_for_token() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-env");
    let mut command = bare_agent_command();
    command
        .env("TALKDESK_TOKEN_URL", server.token_url())
        .env("TALKDESK_CLIENT_ID", &client.client_id)
        .env("TALKDESK_KEY_ID", &client.key_id)
        .env("TALKDESK_PRIVATE_KEY", &client.private_key)
        .args(["--scope", "users:read"]);
    let agent = Agent::start(command, &socket_in(&scratch), &scratch.path().join("agent.log"));
    assert!(agent.token("/v1/token").starts_with("eyJ"));
    assert_eq!(server.count_client(&client.client_id), 1);
    // With no configuration file, there is no named client.
    assert_eq!(agent.get("/v1/token/other").status, 404);
}

#[test]
fn a_configuration_default_serves_v1_token_and_an_agent_without_one_says_so() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-config-default");
    let key = scratch.file("a.key", &client.private_key);
    let with_default =
        scratch.file("with.toml", &format!("default = \"a\"\n{}", client_table("a", &server, &client, &key)));
    let without = scratch.file("without.toml", &client_table("a", &server, &client, &key));

    let mut command = bare_agent_command();
    command.arg("--config").arg(&with_default);
    let agent = Agent::start(command, &socket_in(&scratch), &scratch.path().join("a.log"));
    assert_eq!(agent.token("/v1/token"), agent.token("/v1/token/a"));
    drop(agent);

    let mut command = bare_agent_command();
    command.arg("--config").arg(&without);
    let agent = Agent::start(command, &scratch.path().join("run2").join("agent.sock"), &scratch.path().join("b.log"));
    let reply = agent.get("/v1/token");
    assert_eq!((reply.status, reply.error().as_str()), (404, "no_default_client"));
    assert!(reply.json()["error_description"].as_str().unwrap().contains("a"), "{}", reply.body);
}

#[test]
fn unsafe_requests_are_refused_and_cost_no_token_request() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-refusals");
    let key = scratch.file("client.key", &client.private_key);
    let mut command = agent_command(&server, &client, &key);
    command.args(["--listen", "127.0.0.1:0"]);
    let agent = Agent::start(command, &socket_in(&scratch), &scratch.path().join("agent.log"));
    let tcp = agent.tcp.clone().expect("the TCP address is printed");
    let ok = [("Host", "localhost"), ("TD-OAuth-Agent", "1")];

    let unix_cases: Vec<(&str, String, u16, &str)> = vec![
        ("no agent header", get("/v1/token", &[("Host", "localhost")]), 403, "missing_agent_header"),
        ("agent header 0", get("/v1/token", &[("Host", "localhost"), ("TD-OAuth-Agent", "0")]), 403, "missing_agent_header"),
        ("agent header true", get("/v1/token", &[("Host", "localhost"), ("TD-OAuth-Agent", "true")]), 403, "missing_agent_header"),
        (
            "agent header twice",
            get("/v1/token", &[("Host", "localhost"), ("TD-OAuth-Agent", "1"), ("TD-OAuth-Agent", "1")]),
            403,
            "missing_agent_header",
        ),
        ("Origin", get("/v1/token", &[ok[0], ok[1], ("Origin", "https://evil.example")]), 403, "relayed_request"),
        ("Origin null", get("/v1/token", &[ok[0], ok[1], ("Origin", "null")]), 403, "relayed_request"),
        ("Forwarded", get("/v1/token", &[ok[0], ok[1], ("Forwarded", "for=10.0.0.1")]), 403, "relayed_request"),
        ("X-Forwarded-For", get("/v1/token", &[ok[0], ok[1], ("X-Forwarded-For", "10.0.0.1")]), 403, "relayed_request"),
        ("foreign Host", get("/v1/token", &[("Host", "169.254.169.254"), ok[1]]), 403, "invalid_host"),
        ("two Hosts", get("/v1/token", &[ok[0], ("Host", "evil.example"), ok[1]]), 403, "invalid_host"),
        (
            "a body",
            "GET /v1/token HTTP/1.1\r\nHost: localhost\r\nTD-OAuth-Agent: 1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello".into(),
            413,
            "body_not_allowed",
        ),
        (
            "a chunked body",
            "GET /v1/token HTTP/1.1\r\nHost: localhost\r\nTD-OAuth-Agent: 1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n".into(),
            413,
            "body_not_allowed",
        ),
        ("a query", get("/v1/token?scope=admin", &ok), 400, "invalid_request"),
        ("POST", "POST /v1/token HTTP/1.1\r\nHost: localhost\r\nTD-OAuth-Agent: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(), 405, "method_not_allowed"),
        ("DELETE", get("/v1/token", &ok).replacen("GET", "DELETE", 1), 405, "method_not_allowed"),
        ("unknown path", get("/v1/tokens", &ok), 404, "not_found"),
        ("root", get("/", &ok), 404, "not_found"),
        ("unknown client", get("/v1/token/nobody", &ok), 404, "unknown_client"),
        ("a path beyond a client", get("/v1/token/a/b", &ok), 404, "unknown_client"),
    ];
    for (what, raw, status, error) in &unix_cases {
        let reply = request_unix(&agent.socket, raw);
        assert_eq!(reply.status, *status, "{what}: {}", reply.body);
        assert_eq!(reply.error(), *error, "{what}");
        assert!(!reply.json()["error_description"].as_str().unwrap().is_empty(), "{what}");
        assert_eq!(reply.header("cache-control"), Some("no-store"), "{what}");
    }
    let post = request_unix(&agent.socket, &unix_cases[13].1);
    assert_eq!(post.header("allow"), Some("GET"));

    // Headers past the bound: hyper's own 431 (no JSON), or a reset when the kernel drops that answer with
    // the bytes left unread; never a token. The agent carries on.
    let huge = get("/v1/token", &[ok[0], ok[1], ("X-Padding", &"a".repeat(20 * 1024))]);
    let many: Vec<(String, String)> = (0..100).map(|i| (format!("X-H{i}"), "1".to_owned())).collect();
    let many: Vec<(&str, &str)> =
        ok.iter().copied().chain(many.iter().map(|(n, v)| (n.as_str(), v.as_str()))).collect();
    for (what, raw) in [("20 KiB of headers", huge), ("100 headers", get("/v1/token", &many))] {
        if let Some(reply) = request_unix_cut_short(&agent.socket, &raw) {
            assert_eq!(reply.status, 431, "{what}: {}", reply.body);
        }
    }
    assert_eq!(agent.get("/v1/health").status, 200);

    // On TCP the Host must be loopback with the port listened on: a rebinding page sends its own name.
    let port = tcp.rsplit(':').next().unwrap();
    for (host, status) in [
        (format!("127.0.0.1:{port}"), 200),
        (format!("localhost:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        (format!("attacker.example:{port}"), 403),
        ("127.0.0.1".to_owned(), 403),
        ("127.0.0.1:1".to_owned(), 403),
    ] {
        if status == 200 {
            // No token request until the first answer that may carry one.
            continue;
        }
        let reply = request_tcp(&tcp, &get("/v1/token", &[("Host", &host), ("TD-OAuth-Agent", "1")]));
        assert_eq!((reply.status, reply.error().as_str()), (status, "invalid_host"), "Host: {host}");
    }
    let no_host = request_tcp(&tcp, "GET /v1/token HTTP/1.1\r\nTD-OAuth-Agent: 1\r\nConnection: close\r\n\r\n");
    assert_eq!(no_host.status, 403);
    let tcp_origin = request_tcp(
        &tcp,
        &get("/v1/token", &[("Host", &format!("127.0.0.1:{port}")), ("TD-OAuth-Agent", "1"), ("Origin", "http://x")]),
    );
    assert_eq!(tcp_origin.status, 403);

    // Nothing refused reached the token endpoint.
    assert_eq!(server.count_path(TOKEN_PATH), 0);

    // The same requests, made safe, are answered.
    let token = agent.token("/v1/token");
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")] {
        let reply = request_tcp(&tcp, &get("/v1/token", &[("Host", &host), ("TD-OAuth-Agent", "1")]));
        assert_eq!(reply.status, 200, "Host: {host}: {}", reply.body);
        assert_eq!(reply.json()["access_token"], token.as_str());
    }
    assert_eq!(server.count_path(TOKEN_PATH), 1);
}

#[test]
fn listening_beyond_loopback_is_refused() {
    let scratch = Scratch::new("agent-listen");
    for addr in ["0.0.0.0:8111", "[::]:8111", "192.168.1.10:8111", "localhost:8111"] {
        let output = run(bare_agent_command()
            .args(["--token-url", "http://127.0.0.1:1/oauth/token", "--client-id", "c"])
            .env("TALKDESK_CLIENT_SECRET", "s")
            .arg("--socket")
            .arg(socket_in(&scratch))
            .args(["--listen", addr]));
        assert_exit(&output, 2);
        assert!(stderr(&output).contains("loopback"), "{addr}: {}", stderr(&output));
    }
}

#[test]
fn the_socket_is_private_and_its_directory_checked() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-modes");
    let key = scratch.file("client.key", &client.private_key);

    // A missing directory is created 0700; the socket is 0600.
    let socket = scratch.path().join("new").join("deeper").join("agent.sock");
    let agent = Agent::start(agent_command(&server, &client, &key), &socket, &scratch.path().join("a.log"));
    let mode = |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    // A second agent on the same socket is refused while the first answers there.
    let output = run(agent_command(&server, &client, &key).arg("--socket").arg(&socket));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("another agent is listening"), "{}", stderr(&output));
    drop(agent);

    // A socket left behind by a killed agent is replaced.
    assert!(socket.exists(), "a killed agent leaves its socket");
    let agent = Agent::start(agent_command(&server, &client, &key), &socket, &scratch.path().join("b.log"));
    assert_eq!(agent.get("/v1/health").status, 200);
    drop(agent);

    // A directory others can enter is refused, with the fix.
    let open = scratch.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
    let output = run(agent_command(&server, &client, &key).arg("--socket").arg(open.join("agent.sock")));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains(&format!("chmod 700 {}", open.display())), "{}", stderr(&output));

    // Anything but a socket at the path is left alone.
    let file = scratch.file("not-a-socket", "precious");
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let output = run(agent_command(&server, &client, &key).arg("--socket").arg(&file));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("is not a socket of yours"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[test]
fn a_thousand_concurrent_callers_cost_one_token_request() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-herd");
    let key = scratch.file("client.key", &client.private_key);
    let agent =
        Agent::start(agent_command(&server, &client, &key), &socket_in(&scratch), &scratch.path().join("a.log"));
    // The token request takes a while, so the callers pile up on a cold provider.
    server.inject(Fault::Delay(Duration::from_millis(500)));

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tokens: Vec<String> = runtime.block_on(async {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let socket = agent.socket.clone();
                tokio::spawn(async move {
                    let reply = tokio_get(&socket, "/v1/token").await;
                    assert_eq!(reply.status, 200, "{}", reply.body);
                    reply.json()["access_token"].as_str().unwrap().to_owned()
                })
            })
            .collect();
        let mut tokens = Vec::new();
        for task in tasks {
            tokens.push(task.await.unwrap());
        }
        tokens
    });
    assert_eq!(tokens.len(), 1000);
    assert!(tokens.iter().all(|t| t == &tokens[0]));
    assert_eq!(server.count_path(TOKEN_PATH), 1, "one token request for a thousand callers");
}

/// A GET over the socket with tokio, retrying the connect while the listen queue is full.
async fn tokio_get(socket: &std::path::Path, path: &str) -> agent_support::Reply {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut stream = loop {
        match tokio::net::UnixStream::connect(socket).await {
            Ok(stream) => break stream,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(err) => panic!("connect: {err}"),
        }
    };
    stream.write_all(get(path, &[("Host", "localhost"), ("TD-OAuth-Agent", "1")]).as_bytes()).await.unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.unwrap();
    parse(&bytes)
}

#[test]
fn sighup_under_load_reloads_without_a_failed_request() {
    let server = server();
    let a = server.register_client(Algorithm::Es256).unwrap();
    let b = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-reload");
    let key_a = scratch.file("a.key", &a.private_key);
    let key_b = scratch.file("b.key", &b.private_key);
    let config = scratch.file("agent.toml", &client_table("a", &server, &a, &key_a));
    let mut command = bare_agent_command();
    command.arg("--config").arg(&config);
    let agent = Arc::new(Agent::start(command, &socket_in(&scratch), &scratch.path().join("agent.log")));
    let first = agent.token("/v1/token/a");

    // Callers on four threads, each request on a new connection, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (agent, stop, answered) = (Arc::clone(&agent), Arc::clone(&stop), Arc::clone(&answered));
            std::thread::spawn(move || {
                let mut failures = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let reply = agent.get("/v1/token/a");
                    if reply.status == 200 {
                        answered.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failures.push(format!("{}: {}", reply.status, reply.body));
                    }
                }
                failures
            })
        })
        .collect();

    let wait_for = |what: &str, done: &dyn Fn() -> bool| {
        let started = std::time::Instant::now();
        while !done() {
            assert!(started.elapsed() < Duration::from_secs(20), "{what}: {}", agent.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // A client added: served after the reload.
    std::fs::write(&config, client_table("a", &server, &a, &key_a) + &client_table("b", &server, &b, &key_b)).unwrap();
    agent.signal("HUP");
    wait_for("b after a reload", &|| agent.get("/v1/token/b").status == 200);
    // A broken file: the running configuration stays, and the log says why.
    std::fs::write(&config, "[clients.a]\nclient_id = \"x\"\nbogus = 1\n").unwrap();
    agent.signal("HUP");
    wait_for("the failed reload logged", &|| agent.log().contains("reload failed"));
    assert_eq!(agent.get("/v1/token/b").status, 200, "still serving b");
    // More reloads of the good file while the callers keep asking.
    std::fs::write(&config, client_table("a", &server, &a, &key_a) + &client_table("b", &server, &b, &key_b)).unwrap();
    for _ in 0..5 {
        agent.signal("HUP");
        std::thread::sleep(Duration::from_millis(100));
    }
    // b removed: no longer served.
    std::fs::write(&config, client_table("a", &server, &a, &key_a)).unwrap();
    agent.signal("HUP");
    wait_for("b gone after a reload", &|| agent.get("/v1/token/b").status == 404);

    stop.store(true, Ordering::Relaxed);
    let failures: Vec<String> = callers.into_iter().flat_map(|c| c.join().unwrap()).collect();
    assert!(failures.is_empty(), "failed requests during reloads: {failures:?}");
    assert!(answered.load(Ordering::Relaxed) > 100, "the callers kept asking");
    assert!(agent.log().contains("bogus"), "the log names the unknown key: {}", agent.log());
    // Client a's definition never changed: it kept its provider and its token through every reload.
    assert_eq!(agent.token("/v1/token/a"), first);
    assert_eq!(server.count_client(&a.client_id), 1);
}

#[test]
fn sigterm_lets_requests_finish_removes_the_socket_and_exits_0() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-stop");
    let key = scratch.file("client.key", &client.private_key);
    let socket = socket_in(&scratch);
    let mut agent = Agent::start(agent_command(&server, &client, &key), &socket, &scratch.path().join("a.log"));
    // A request in flight: its token request takes a second.
    server.inject(Fault::Delay(Duration::from_secs(1)));
    let in_flight = {
        let socket = socket.clone();
        std::thread::spawn(move || {
            request_unix(&socket, &get("/v1/token", &[("Host", "localhost"), ("TD-OAuth-Agent", "1")]))
        })
    };
    let started = std::time::Instant::now();
    while server.request_count() == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the token request never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    agent.signal("TERM");
    let reply = in_flight.join().unwrap();
    assert_eq!(reply.status, 200, "the request in flight finished: {}", reply.body);
    let status = agent.wait(Duration::from_secs(15));
    assert_eq!(status.code(), Some(0), "{}", agent.log());
    assert!(!socket.exists(), "the socket is removed");
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_err());
}

#[test]
fn sigint_stops_too() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-sigint");
    let key = scratch.file("client.key", &client.private_key);
    let socket = socket_in(&scratch);
    let mut agent = Agent::start(agent_command(&server, &client, &key), &socket, &scratch.path().join("a.log"));
    agent.signal("INT");
    assert_eq!(agent.wait(Duration::from_secs(15)).code(), Some(0));
    assert!(!socket.exists());
}

#[test]
fn token_endpoint_failures_answer_502_or_503_without_secrets() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let other = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-failures");
    let key = scratch.file("client.key", &client.private_key);
    // The right client id with another client's key: the server refuses the assertion.
    let wrong_key = scratch.file("wrong.key", &other.private_key);
    let config = scratch.file("agent.toml", &client_table("wrong", &server, &client, &wrong_key));
    let mut command = agent_command(&server, &client, &key);
    command.arg("--config").arg(&config);
    let agent = Agent::start(command, &socket_in(&scratch), &scratch.path().join("a.log"));

    server.inject_n(Fault::status(503), 10);
    let reply = agent.get("/v1/token");
    assert_eq!((reply.status, reply.error().as_str()), (503, "token_unavailable"), "{}", reply.body);
    assert!(reply.json()["error_description"].as_str().unwrap().contains("503"), "{}", reply.body);
    server.clear_faults();

    let reply = agent.get("/v1/token/wrong");
    assert_eq!((reply.status, reply.error().as_str()), (502, "token_refused"), "{}", reply.body);
    let description = reply.json()["error_description"].as_str().unwrap().to_owned();
    assert!(description.contains("invalid_client"), "{description}");
    for secret in [&client.private_key, &other.private_key, &client.client_secret] {
        assert!(!reply.body.contains(secret.as_str()) && !agent.log().contains(secret.as_str()));
    }
    // The default client recovers once the server does (after the provider's backoff).
    let started = std::time::Instant::now();
    loop {
        let reply = agent.get("/v1/token");
        if reply.status == 200 {
            break;
        }
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert!(started.elapsed() < Duration::from_secs(20), "no recovery: {}", reply.body);
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn configuration_errors_name_the_file_and_key_and_never_echo_a_secret() {
    let server = server();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let scratch = Scratch::new("agent-config-errors");
    let key = scratch.file("client.key", &client.private_key);
    let table = client_table("a", &server, &client, &key);
    let one_line_key = client.private_key.lines().collect::<String>();
    let cases = [
        ("typo.toml", format!("{table}scopes = \"x\"\n"), vec!["typo.toml", "line 8", "unknown field `scopes`"]),
        ("top.toml", format!("defualt = \"a\"\n{table}"), vec!["unknown field `defualt`"]),
        (
            "inline.toml",
            format!("[clients.a]\nclient_id = \"c\"\nprivate_key = \"{one_line_key}\"\n"),
            vec!["private_key", "private_key_file"],
        ),
        ("type.toml", format!("[clients.a]\nclient_id = \"c\"\ntimeout = \"{one_line_key}\"\n"), vec!["invalid type"]),
        (
            "nocreds.toml",
            "[clients.a]\nclient_id = \"c\"\ntoken_url = \"https://a.example\"\n".into(),
            vec!["no credentials"],
        ),
        ("name.toml", table.replace("[clients.a]", "[clients.\"a/b\"]"), vec!["client name"]),
        ("default.toml", format!("default = \"zz\"\n{table}"), vec!["names no [clients.zz]"]),
        ("cache.toml", format!("{table}cache = \"local\"\n"), vec!["redis://"]),
        ("syntax.toml", format!("{table}[clients.b\n"), vec!["syntax.toml", "line"]),
    ];
    for (name, text, expected) in cases {
        let path = scratch.file(name, &text);
        let output = run(bare_agent_command().arg("--config").arg(&path).arg("--socket").arg(socket_in(&scratch)));
        assert_exit(&output, 2);
        let message = stderr(&output);
        for part in expected {
            assert!(message.contains(part), "{name}: {part:?} not in {message}");
        }
        assert!(!message.contains(&one_line_key[10..40]), "{name}: the key is echoed: {message}");
        assert!(!message.contains("`client_secret`,"), "{name}: inline secrets are suggested: {message}");
    }
    // With neither flags nor a file there is nothing to serve.
    let output = run(bare_agent_command().arg("--socket").arg(socket_in(&scratch)));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("no client to serve"), "{}", stderr(&output));
    // Both the flags and the file naming a default client contradict each other.
    let both = scratch.file("both.toml", &format!("default = \"a\"\n{table}"));
    let output =
        run(agent_command(&server, &client, &key).arg("--config").arg(&both).arg("--socket").arg(socket_in(&scratch)));
    assert_exit(&output, 2);
    assert!(stderr(&output).contains("two default clients"), "{}", stderr(&output));
}
