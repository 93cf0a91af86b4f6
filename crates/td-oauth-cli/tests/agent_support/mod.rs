//! What the agent's tests share: a `td-oauth agent` child process started against the testkit, waited for
//! until it says `ready`, signalled with kill(1), and plain HTTP/1.1 requests over its Unix socket or TCP
//! port, written by hand so that a test can send exactly the bytes it means to.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use td_oauth_testkit::{ClientCredentials, TestServer};

use crate::common::{Scratch, td_oauth};

/// A running `td-oauth agent`, killed if the test ends without stopping it.
pub(crate) struct Agent {
    child: Option<Child>,
    pub(crate) socket: PathBuf,
    /// `127.0.0.1:PORT` when started with `--listen`.
    pub(crate) tcp: Option<String>,
    pub(crate) log: PathBuf,
}

impl Agent {
    /// Starts `command` (an `agent` command line) with its socket at `socket`, and waits until it is ready.
    pub(crate) fn start(mut command: Command, socket: &Path, log: &Path) -> Agent {
        let mut child = command
            .arg("--socket")
            .arg(socket)
            .env("TD_OAUTH_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let mut tcp = None;
        loop {
            match received.recv_timeout(Duration::from_secs(60)) {
                Ok(line) if line == "ready" => break,
                Ok(line) => {
                    if let Some(addr) = line.strip_prefix("listening on http://") {
                        tcp = Some(addr.to_owned());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("the agent did not get ready: {}", std::fs::read_to_string(log).unwrap_or_default());
                }
            }
        }
        Agent { child: Some(child), socket: socket.to_path_buf(), tcp, log: log.to_path_buf() }
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends `signal` (`HUP`, `TERM`, `INT`) with kill(1).
    pub(crate) fn signal(&self, signal: &str) {
        let status = Command::new("kill").args(["-s", signal, &self.pid().to_string()]).status().unwrap();
        assert!(status.success(), "kill -s {signal} failed");
    }

    /// Waits for the agent to exit, at most `limit`.
    pub(crate) fn wait(&mut self, limit: Duration) -> ExitStatus {
        let started = Instant::now();
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(started.elapsed() < limit, "the agent did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What the agent logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` over the socket with the agent header and a loopback Host.
    pub(crate) fn get(&self, path: &str) -> Reply {
        request_unix(&self.socket, &get(path, &[("Host", "localhost"), ("TD-OAuth-Agent", "1")]))
    }

    /// The access token `/v1/token` (or `/v1/token/NAME`) answers, checked to be a token answer.
    pub(crate) fn token(&self, path: &str) -> String {
        let reply = self.get(path);
        assert_eq!(reply.status, 200, "{path}: {}", reply.body);
        reply.json()["access_token"].as_str().unwrap().to_owned()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `td-oauth agent` with the default client connected to `server` as `client` (signed JWT, key file).
pub(crate) fn agent_command(server: &TestServer, client: &ClientCredentials, key_file: &Path) -> Command {
    crate::common::connected("agent", server, client, key_file)
}

/// `td-oauth agent` with no default client: named clients only.
pub(crate) fn bare_agent_command() -> Command {
    let mut command = td_oauth();
    command.arg("agent");
    command
}

/// A `[clients.NAME]` table for `client` at `server`, its key in `key_file`.
pub(crate) fn client_table(name: &str, server: &TestServer, client: &ClientCredentials, key_file: &Path) -> String {
    format!(
        "[clients.{name}]\ntoken_url = \"{}\"\nclient_id = \"{}\"\nkey_id = \"{}\"\nprivate_key_file = \"{}\"\n\
         timeout = 2\nretries = 1\n",
        server.token_url(),
        client.client_id,
        client.key_id,
        key_file.display()
    )
}

/// A socket path in a fresh private directory of `scratch`.
pub(crate) fn socket_in(scratch: &Scratch) -> PathBuf {
    scratch.path().join("run").join("agent.sock")
}

/// One parsed answer.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// The `error` field of an error answer.
    pub(crate) fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// A GET request's bytes with `headers`, closing the connection after the answer.
pub(crate) fn get(path: &str, headers: &[(&str, &str)]) -> String {
    let mut text = format!("GET {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("Connection: close\r\n\r\n");
    text
}

/// Sends `raw` over the Unix socket at `socket` and reads the whole answer.
pub(crate) fn request_unix(socket: &Path, raw: &str) -> Reply {
    let stream = UnixStream::connect(socket).unwrap();
    exchange(stream, raw)
}

/// Sends `raw` over TCP to `addr` and reads the whole answer.
pub(crate) fn request_tcp(addr: &str, raw: &str) -> Reply {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    exchange(stream, raw)
}

fn exchange(mut stream: impl std::io::Read + std::io::Write, raw: &str) -> Reply {
    stream.write_all(raw.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    parse(&bytes)
}

/// [`request_unix`] for a request the server stops reading part-way (headers past its bound): it answers
/// and closes with the rest unread, which the kernel may turn into a reset that loses the answer. `None`
/// for a connection reset before any answer arrived.
pub(crate) fn request_unix_cut_short(socket: &Path, raw: &str) -> Option<Reply> {
    let mut stream = UnixStream::connect(socket).unwrap();
    match stream.write_all(raw.as_bytes()) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => return None,
        Err(err) => panic!("write: {err}"),
    }
    let mut bytes = Vec::new();
    match stream.read_to_end(&mut bytes) {
        Ok(_) => Some(parse(&bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset && bytes.is_empty() => None,
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => Some(parse(&bytes)),
        Err(err) => panic!("read: {err}"),
    }
}

/// Parses one HTTP/1.1 answer (status, headers, the rest as the body).
pub(crate) fn parse(bytes: &[u8]) -> Reply {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => head,
        other => panic!("not an HTTP answer ({other:?}): {}", String::from_utf8_lossy(bytes)),
    };
    Reply {
        status: response.code.unwrap(),
        headers: response
            .headers
            .iter()
            .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&bytes[head..]).into_owned(),
    }
}
