//! `td-oauth agent` under load, over its Unix socket, against td-oauth-testkit:
//! - 50 concurrent clients × 200 requests each (one keep-alive connection per client): the token requests
//!   the testkit counted (the goal is one per token lifetime), and the median and 99th-percentile latency of
//!   a request ÷ those of a bare answer of the same size from the same stack (hyper's HTTP/1 server on a
//!   tokio multi-thread runtime, the same connection settings, a Unix socket), served by this bench binary
//!   run again as a child process, as the agent is one. Rounds alternate between the two servers; each
//!   figure is the median over rounds of that round's median or 99th percentile;
//! - the agent's resident memory (VmRSS in /proc/PID/status) after 100,000 requests ÷ after 1,000.
//!
//! Not a criterion bench: `cargo xtask bench` runs it and reads `agent.json` from `target/td-oauth-bench/`
//! (or `$TD_OAUTH_BENCH_OUT`); `TD_OAUTH_BENCH_QUICK=1` shortens it. Without `--bench` (as under
//! `cargo test --benches`) it runs one small round as a smoke test and writes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::panic)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use td_oauth_testkit::{Algorithm, TOKEN_PATH, TestServer};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixStream;

/// Set in the child that serves the bare answers: its socket path.
const BARE_SOCKET_VAR: &str = "TD_OAUTH_AGENT_BENCH_BARE_SOCKET";
/// Set in that child: the size of the body to answer.
const BARE_BODY_VAR: &str = "TD_OAUTH_AGENT_BENCH_BARE_BODY";

const REQUEST: &[u8] = b"GET /v1/token HTTP/1.1\r\nHost: localhost\r\nTD-OAuth-Agent: 1\r\n\r\n";

struct Plan {
    clients: usize,
    requests_per_client: usize,
    rounds: usize,
    memory_requests: usize,
    write: bool,
}

fn plan() -> Plan {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let quick = std::env::var("TD_OAUTH_BENCH_QUICK").is_ok_and(|v| v == "1");
    match (benching, quick) {
        (false, _) => Plan { clients: 5, requests_per_client: 20, rounds: 1, memory_requests: 2_000, write: false },
        (true, true) => {
            Plan { clients: 50, requests_per_client: 200, rounds: 3, memory_requests: 100_000, write: true }
        }
        (true, false) => {
            Plan { clients: 50, requests_per_client: 200, rounds: 11, memory_requests: 100_000, write: true }
        }
    }
}

fn main() {
    if let Some(socket) = std::env::var_os(BARE_SOCKET_VAR) {
        let size = std::env::var(BARE_BODY_VAR).unwrap().parse().unwrap();
        bare::serve(Path::new(&socket), size);
        return;
    }
    let plan = plan();
    let server = TestServer::builder().token_lifetime(Duration::from_secs(3600)).start().unwrap();
    let client = server.register_client(Algorithm::Es256).unwrap();
    let dir = std::env::temp_dir().join(format!("td-oauth-agent-bench-{}", std::process::id()));
    // Private, as the agent requires of its socket's directory and warns about for a key file.
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir.join("run")).unwrap();
    let _cleanup = Cleanup(dir.clone());
    let key = dir.join("client.key");
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key)
        .and_then(|mut file| file.write_all(client.private_key.as_bytes()))
        .unwrap();
    let agent_socket = dir.join("run").join("agent.sock");
    let agent = Server::start(
        Command::new(env!("CARGO_BIN_EXE_td-oauth"))
            .arg("agent")
            .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
            .arg("--private-key-file")
            .arg(&key)
            .arg("--socket")
            .arg(&agent_socket)
            .env_remove("TD_OAUTH_LOG")
            .env_remove("TD_OAUTH_CACHE"),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    // The agent's answer, to size the bare one like it.
    let first = runtime.block_on(one_request(&agent_socket));
    assert!(first.contains("\"access_token\""), "{first}");
    let body_size = first.len();
    let bare_socket = dir.join("run").join("bare.sock");
    let bare = Server::start(
        Command::new(std::env::current_exe().unwrap())
            .env(BARE_SOCKET_VAR, &bare_socket)
            .env(BARE_BODY_VAR, body_size.to_string()),
    );
    let bare_body = runtime.block_on(one_request(&bare_socket));
    assert_eq!(bare_body.len(), body_size);

    let mut agent_rounds = Vec::new();
    let mut bare_rounds = Vec::new();
    for _ in 0..plan.rounds {
        agent_rounds.push(Stats::of(&mut runtime.block_on(round(
            &agent_socket,
            plan.clients,
            plan.requests_per_client,
        ))));
        bare_rounds.push(Stats::of(&mut runtime.block_on(round(&bare_socket, plan.clients, plan.requests_per_client))));
    }
    drop(bare);
    drop(agent);
    // One token lifetime (an hour) is far longer than the rounds: the goal is one token request.
    let token_requests = server.count_path(TOKEN_PATH);

    // Memory, in a fresh agent: after 1,000 requests, then after 100,000 in all, from its /proc entry.
    let agent_for_memory = Server::start(
        Command::new(env!("CARGO_BIN_EXE_td-oauth"))
            .arg("agent")
            .args(["--token-url", server.token_url(), "--client-id", &client.client_id, "--key-id", &client.key_id])
            .arg("--private-key-file")
            .arg(&key)
            .arg("--socket")
            .arg(dir.join("run").join("memory.sock"))
            .env_remove("TD_OAUTH_LOG")
            .env_remove("TD_OAUTH_CACHE"),
    );
    let memory_socket = dir.join("run").join("memory.sock");
    let per_client = 1_000 / plan.clients.max(1);
    runtime.block_on(round(&memory_socket, plan.clients, per_client));
    let rss_1k = vm_rss(agent_for_memory.pid());
    let rest = plan.memory_requests.saturating_sub(1_000) / plan.clients.max(1);
    runtime.block_on(round(&memory_socket, plan.clients, rest));
    let rss_100k = vm_rss(agent_for_memory.pid());
    drop(agent_for_memory);

    let agent_stats = Stats::median_of(&agent_rounds);
    let bare_stats = Stats::median_of(&bare_rounds);
    println!(
        "agent over its socket, {} clients × {} requests, {} rounds: median {:.1} µs, p99 {:.1} µs; bare answer of \
         {body_size} bytes: median {:.1} µs, p99 {:.1} µs; token requests: {token_requests}; VmRSS {rss_1k} kB after 1,000 requests, {rss_100k} kB after {}",
        plan.clients,
        plan.requests_per_client,
        plan.rounds,
        agent_stats.median_ns / 1e3,
        agent_stats.p99_ns / 1e3,
        bare_stats.median_ns / 1e3,
        bare_stats.p99_ns / 1e3,
        plan.memory_requests,
    );
    if plan.write {
        let out = std::env::var_os("TD_OAUTH_BENCH_OUT")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/td-oauth-bench"));
        std::fs::create_dir_all(&out).unwrap();
        let json = serde_json::json!({
            "load": {
                "clients": plan.clients,
                "requests_per_client": plan.requests_per_client,
                "rounds": plan.rounds,
                "token_requests": token_requests,
                "median_ns": agent_stats.median_ns,
                "p99_ns": agent_stats.p99_ns,
                "bare_median_ns": bare_stats.median_ns,
                "bare_p99_ns": bare_stats.p99_ns,
                "body_bytes": body_size,
            },
            "memory": {
                "rss_kb_after_1000": rss_1k,
                "rss_kb_after_100000": rss_100k,
                "requests": plan.memory_requests,
            },
        });
        std::fs::write(out.join("agent.json"), serde_json::to_vec_pretty(&json).unwrap()).unwrap();
    }
}

/// The median and 99th percentile of a set of latencies.
struct Stats {
    median_ns: f64,
    p99_ns: f64,
}

impl Stats {
    fn of(latencies: &mut [Duration]) -> Stats {
        latencies.sort_unstable();
        let at = |q: f64| {
            let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
            latencies[index].as_nanos() as f64
        };
        Stats { median_ns: at(0.5), p99_ns: at(0.99) }
    }

    /// The median over rounds of each figure: a burst of other work on the machine spoils one round of one
    /// server, not the comparison.
    fn median_of(rounds: &[Stats]) -> Stats {
        let median = |mut values: Vec<f64>| {
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        Stats {
            median_ns: median(rounds.iter().map(|s| s.median_ns).collect()),
            p99_ns: median(rounds.iter().map(|s| s.p99_ns).collect()),
        }
    }
}

/// `clients` connections at once, each sending `requests` requests one after the other: every latency.
async fn round(socket: &Path, clients: usize, requests: usize) -> Vec<Duration> {
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let socket = socket.to_path_buf();
            tokio::spawn(async move {
                let mut stream = UnixStream::connect(&socket).await.unwrap();
                let mut buffer = Vec::with_capacity(4096);
                let mut latencies = Vec::with_capacity(requests);
                for _ in 0..requests {
                    let started = Instant::now();
                    stream.write_all(REQUEST).await.unwrap();
                    read_answer(&mut stream, &mut buffer).await;
                    latencies.push(started.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::with_capacity(clients * requests);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

/// One request on a new connection: the answer's body.
async fn one_request(socket: &Path) -> String {
    let mut stream = UnixStream::connect(socket).await.unwrap();
    stream.write_all(REQUEST).await.unwrap();
    let mut buffer = Vec::new();
    let body = read_answer(&mut stream, &mut buffer).await;
    String::from_utf8(body).unwrap()
}

/// Reads one 200 answer (head, then `Content-Length` bytes of body); its body.
async fn read_answer(stream: &mut UnixStream, buffer: &mut Vec<u8>) -> Vec<u8> {
    buffer.clear();
    let mut chunk = [0u8; 4096];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(head) = response.parse(buffer).unwrap() {
            assert_eq!(response.code, Some(200), "{}", String::from_utf8_lossy(buffer));
            let length: usize = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
                .unwrap();
            while buffer.len() < head + length {
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the server closed the connection mid-answer");
                buffer.extend_from_slice(&chunk[..n]);
            }
            return buffer[head..head + length].to_vec();
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed the connection before answering");
        buffer.extend_from_slice(&chunk[..n]);
    }
}

/// VmRSS of process `pid`, in kB.
fn vm_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A server child process, ready once it printed `ready`; killed on drop.
struct Server(Child);

impl Server {
    fn start(command: &mut Command) -> Server {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ready" => break,
                Some(Ok(_)) => {}
                _ => {
                    let _ = child.kill();
                    panic!("the server did not get ready");
                }
            }
        }
        Server(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The baseline: the same server stack as the agent's (hyper's HTTP/1 server with the same settings on a
/// tokio multi-thread runtime, a Unix socket), answering every request with a fixed body of the given size
/// and the agent's headers, with nothing in between.
mod bare {
    use std::convert::Infallible;
    use std::path::Path;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper::header::{self, HeaderValue};
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper::{Request, Response};
    use hyper_util::rt::{TokioIo, TokioTimer};

    pub(super) fn serve(socket: &Path, size: usize) {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let listener = tokio::net::UnixListener::bind(socket).unwrap();
            // `{"x":"aaa…"}`, `size` bytes in all.
            let body = Bytes::from(format!("{{\"x\":\"{}\"}}", "a".repeat(size.saturating_sub(8))));
            println!("ready");
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let body = body.clone();
                let service = service_fn(move |_request: Request<hyper::body::Incoming>| {
                    let mut answer = Response::new(Full::new(body.clone()));
                    let headers = answer.headers_mut();
                    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
                    async move { Ok::<_, Infallible>(answer) }
                });
                let connection = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .max_buf_size(16 * 1024)
                    .max_headers(64)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::spawn(connection);
            }
        });
    }
}
