//! The harness of the process tests: replicas of the built `td-oauth-partner-app` run as child processes
//! (each on ephemeral ports it reports on standard output), deliveries through the testkit's
//! `EventDelivery`, the operator endpoint read over HTTP, and the testkit's records of the Apps API calls.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use td_oauth_testkit::{ClientCredentials, DeliveryAttempt, EventDelivery, TestServer};

/// The callback secret every replica of a test is given.
pub const CALLBACK_SECRET: &str = "cb-secret-6a1f0c2e9b7d4a53";
/// The sealing key every replica of a test is given (32 bytes, Base64).
pub const STORE_KEY: &str = "q83vASNFZ4mrze8BI0VniavN7wEjRWeJq83vASNFZ4k=";

/// The binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_td-oauth-partner-app")
}

/// One running replica.
pub struct Replica {
    child: Child,
    /// `http://127.0.0.1:PORT` of `POST /events`.
    pub events: String,
    /// `http://127.0.0.1:PORT` of the operator endpoint.
    pub admin: String,
    stderr: Arc<Mutex<String>>,
}

/// How to start replicas: the store, the gateway to allow, the environment.
#[derive(Clone)]
pub struct Launch {
    pub store: String,
    /// Give the store's URL in TD_OAUTH_STORE rather than `--store` (where a password is refused).
    pub store_in_env: bool,
    pub cluster: bool,
    pub gateway: String,
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// Replicas over `store` accepting events rooted at `server`, with the test's key and callback secret.
    pub fn new(store: impl Into<String>, server: &TestServer) -> Launch {
        Launch {
            store: store.into(),
            store_in_env: false,
            cluster: false,
            gateway: server.base_url().to_owned(),
            env: vec![
                ("TD_OAUTH_STORE_KEY".into(), STORE_KEY.into()),
                ("TD_OAUTH_CALLBACK_SECRET".into(), CALLBACK_SECRET.into()),
                ("TD_OAUTH_LOG".into(), "debug".into()),
            ],
        }
    }

    /// `--redis-cluster`.
    pub fn cluster(mut self) -> Launch {
        self.cluster = true;
        self
    }

    /// Sets (or replaces) an environment variable.
    pub fn env(mut self, name: &str, value: &str) -> Launch {
        self.env.retain(|(n, _)| n != name);
        self.env.push((name.into(), value.into()));
        self
    }

    /// The command, not started.
    pub fn command(&self) -> Command {
        let mut command = Command::new(binary());
        command
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .args(["--allow-gateway", &self.gateway])
            .env_remove("TD_OAUTH_STORE_KEY")
            .env_remove("TD_OAUTH_STORE_KEY_PREVIOUS")
            .env_remove("TD_OAUTH_CALLBACK_SECRET")
            .env_remove("TD_OAUTH_STORE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.store_in_env {
            command.env("TD_OAUTH_STORE", &self.store);
        } else {
            command.args(["--store", &self.store]);
        }
        if self.cluster {
            command.arg("--redis-cluster");
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

    /// Starts one replica and waits for its `ready` line.
    pub fn start(&self) -> Replica {
        let mut child = self.command().spawn().expect("the binary starts");
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err_pipe = child.stderr.take().expect("stderr piped");
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = err_pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap_or_else(PoisonError::into_inner).push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut events, mut admin) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line == "ready" => break,
                Ok(line) => {
                    if let Some(url) = line.strip_prefix("events ") {
                        events = Some(url.to_owned());
                    } else if let Some(url) = line.strip_prefix("admin ") {
                        admin = Some(url.to_owned());
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    std::thread::sleep(Duration::from_millis(100));
                    panic!("the replica did not get ready: {}", stderr.lock().unwrap_or_else(PoisonError::into_inner));
                }
            }
        }
        Replica { child, events: events.expect("an events line"), admin: admin.expect("an admin line"), stderr }
    }

    /// Runs the binary expecting it to fail at start-up: its exit status and standard error.
    pub fn fail(&self) -> (ExitStatus, String) {
        let output = self.command().output().expect("the binary runs");
        assert!(!output.status.success(), "expected a start-up failure: {}", String::from_utf8_lossy(&output.stdout));
        (output.status, String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

impl Replica {
    /// The callback URL as registered with AppConnect.
    pub fn callback(&self) -> String {
        format!("{}/events?secret={CALLBACK_SECRET}", self.events)
    }

    /// Delivers `body` once (no redelivery).
    pub fn deliver(&self, body: &[u8]) -> DeliveryAttempt {
        let delivery = EventDelivery::new(&self.callback()).expect("callback URL").with_delays([]);
        delivery.deliver(body).expect("delivery runs").pop().expect("one attempt")
    }

    /// Delivers `body` once without the callback secret.
    pub fn deliver_unsigned(&self, body: &[u8]) -> DeliveryAttempt {
        self.deliver_to("/events", body)
    }

    /// Delivers `body` once to `path_and_query` on the events listener.
    pub fn deliver_to(&self, path_and_query: &str, body: &[u8]) -> DeliveryAttempt {
        let url = format!("{}{path_and_query}", self.events);
        let delivery = EventDelivery::new(&url).expect("callback URL").with_delays([]);
        delivery.deliver(body).expect("delivery runs").pop().expect("one attempt")
    }

    /// `GET` on the operator endpoint: status and body.
    pub fn admin_get(&self, path: &str) -> (u16, String) {
        http_get(&format!("{}{path}", self.admin))
    }

    /// `GET /installations`, parsed.
    pub fn installations(&self) -> serde_json::Value {
        let (status, body) = self.admin_get("/installations");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// What the replica wrote on standard error so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (at most 30 s) for the exit status.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.stop_with(rustix::process::Signal::TERM)
    }

    /// SIGINT (Ctrl-C), then waits (at most 30 s) for the exit status.
    pub fn interrupt(self) -> (ExitStatus, String) {
        self.stop_with(rustix::process::Signal::INT)
    }

    /// Sends `signal` without waiting.
    pub fn signal(&self, signal: rustix::process::Signal) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, signal).expect("signal sent");
    }

    fn stop_with(self, signal: rustix::process::Signal) -> (ExitStatus, String) {
        self.signal(signal);
        self.wait()
    }

    /// Waits (at most 30 s) for the exit status, after a signal.
    pub fn wait(mut self) -> (ExitStatus, String) {
        let status = wait_for(&mut self.child, Duration::from_secs(30));
        std::thread::sleep(Duration::from_millis(50));
        (status, self.stderr())
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the replica did not stop within {limit:?} of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain HTTP GET (loopback): status and body.
pub fn http_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent.get(url).call().expect("the operator endpoint answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a text body");
    (status, body)
}

/// Every secret a client's events carry: the private key (each form), the client secret.
pub fn secrets_of(client: &ClientCredentials) -> Vec<String> {
    let mut secrets = vec![client.client_secret.clone(), client.private_key.clone()];
    // A window of the key's Base64, in case only part of it leaked.
    if let Some(part) = client.private_key.get(40..80) {
        secrets.push(part.to_owned());
    }
    secrets
}

/// Panics naming the first of `secrets` found in `text`.
pub fn assert_no_secret(what: &str, text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "{what} holds a secret: {text}");
    }
    // An access token is a JWT: its header starts `eyJ`.
    assert!(!text.contains("eyJ"), "{what} holds what looks like a token: {text}");
}

/// How many rotation acknowledgements (`POST …/credentials/{client}/state`) the testkit received for
/// `client_id`, answered or not.
pub fn rotation_acks(server: &TestServer, client_id: &str) -> usize {
    let path_end = format!("/credentials/{client_id}/state");
    server.count(|r| r.method == "POST" && r.path.ends_with(&path_end))
}

/// A plain HTTP POST with no body (loopback): status and body.
pub fn http_post(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut response = agent.post(url).send_empty().expect("the operator endpoint answers");
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().expect("a text body");
    (status, body)
}
