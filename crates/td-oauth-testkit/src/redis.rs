//! A real Redis server for tests: `redis-server` on a free loopback port, in a fresh temporary directory,
//! with persistence off; stopped and cleaned up on drop. Spoken to with raw RESP, so this crate needs no
//! Redis client.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::Error;

/// How long `redis-server` may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process of this test's own.
///
/// ```no_run
/// use td_oauth_testkit::RedisServer;
///
/// let redis = RedisServer::start()?;
/// println!("{}", redis.url()); // redis://127.0.0.1:<port>/
/// # Ok::<(), td_oauth_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct RedisServer {
    /// Behind a lock so that a test can stop the server while other threads use it.
    child: Mutex<Option<Child>>,
    port: u16,
    dir: PathBuf,
    /// The extra options it was started with, to start it again the same way.
    options: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` and waits until it answers PING.
    pub fn start() -> Result<RedisServer, Error> {
        RedisServer::start_with(&[])
    }

    /// [`start`](Self::start) with more `redis-server` options (`--cluster-enabled yes`, …); paths in them
    /// are relative to the server's own directory.
    pub fn start_with(options: &[&str]) -> Result<RedisServer, Error> {
        let port = free_port()?;
        let dir = temp_dir(port)?;
        let options: Vec<String> = options.iter().map(|option| (*option).to_owned()).collect();
        let child = spawn(port, &dir, &options).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&dir);
        })?;
        let server = RedisServer { child: Mutex::new(Some(child)), port, dir, options };
        server.wait_until_ready()?;
        Ok(server)
    }

    /// Stops the server (SIGKILL) and starts it again on the same port with the same options, as a crash
    /// and a restart would. With persistence off, it comes back empty.
    pub fn restart(&self) -> Result<(), Error> {
        self.stop();
        let child = spawn(self.port, &self.dir, &self.options)?;
        *self.child.lock().unwrap_or_else(PoisonError::into_inner) = Some(child);
        self.wait_until_ready()
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's working directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server (SIGKILL) and waits for it to exit. Its directory stays until drop.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap_or_else(PoisonError::into_inner).take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends one command (its arguments as RESP bulk strings) and returns the raw reply, for tests that
    /// look at or alter what is stored without a Redis client.
    pub fn command(&self, args: &[&[u8]]) -> Result<Vec<u8>, Error> {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg);
            request.extend_from_slice(b"\r\n");
        }
        let io = |err: std::io::Error| Error::Redis(format!("talking to redis-server failed: {err}"));
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).map_err(io)?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(io)?;
        stream.write_all(&request).map_err(io)?;
        read_reply(&mut stream).map_err(io)
    }

    fn wait_until_ready(&self) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            if let Ok(reply) = self.command(&[b"PING"])
                && reply.starts_with(b"+PONG")
            {
                return Ok(());
            }
            if let Some(child) = self.child.lock().unwrap_or_else(PoisonError::into_inner).as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(Error::Redis(format!("redis-server exited at start-up ({status})")));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(Error::Redis(format!("redis-server did not answer PING within {START_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spawn(port: u16, dir: &Path, options: &[String]) -> Result<Child, Error> {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(options)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|err| {
            let reason = if err.kind() == std::io::ErrorKind::NotFound {
                "redis-server is not installed: install the redis-server package; .ci/run does".to_owned()
            } else {
                format!("could not run redis-server: {err}")
            };
            Error::Redis(reason)
        })
}

/// A port nobody listened on a moment ago (bind port 0, read it, let it go).
pub(crate) fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::Bind)?;
    listener.local_addr().map(|addr| addr.port()).map_err(Error::Bind)
}

fn temp_dir(port: u16) -> Result<PathBuf, Error> {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let name = format!("td-oauth-redis-{}-{}-{}", std::process::id(), port, COUNTER.fetch_add(1, Ordering::Relaxed));
    let dir = std::env::temp_dir().join(name);
    std::fs::create_dir_all(&dir).map_err(|err| Error::Redis(format!("could not create {}: {err}", dir.display())))?;
    Ok(dir)
}

/// Reads one complete RESP reply (simple, error, integer, bulk or array), returned raw.
fn read_reply(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if resp_complete(&reply).is_some() {
            return Ok(reply);
        }
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "redis-server closed the connection"));
        }
        reply.extend_from_slice(&chunk[..read]);
    }
}

/// Where the RESP value starting at the beginning of `data` ends, if it is complete.
fn resp_complete(data: &[u8]) -> Option<usize> {
    let line_end = data.windows(2).position(|w| w == b"\r\n")?;
    let header = std::str::from_utf8(&data[1..line_end]).ok()?;
    let after = line_end + 2;
    match data.first()? {
        b'+' | b'-' | b':' => Some(after),
        b'$' => {
            let len: i64 = header.parse().ok()?;
            if len < 0 {
                return Some(after);
            }
            let end = after + usize::try_from(len).ok()? + 2;
            (data.len() >= end).then_some(end)
        }
        b'*' => {
            let count: i64 = header.parse().ok()?;
            let mut at = after;
            for _ in 0..count.max(0) {
                at += resp_complete(&data[at..])?;
            }
            Some(at)
        }
        _ => Some(data.len()),
    }
}

/// The payload of a bulk-string reply (`$n\r\n…\r\n`), `None` for a nil or any other reply.
pub fn bulk_payload(reply: &[u8]) -> Option<&[u8]> {
    let line_end = reply.windows(2).position(|w| w == b"\r\n")?;
    if reply.first()? != &b'$' {
        return None;
    }
    let len: usize = std::str::from_utf8(&reply[1..line_end]).ok()?.parse().ok()?;
    reply.get(line_end + 2..line_end + 2 + len)
}
