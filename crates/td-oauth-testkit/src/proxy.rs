//! A forward proxy for tests: HTTP `CONNECT` tunnels (RFC 9110 §9.3.6) on a loopback port, each one
//! recorded, so that a test can tell whether a client went through the proxy or straight to the server.
//! Anything but `CONNECT` is refused with 405: a client that sends its request in the clear to the proxy
//! is not tunnelling.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use crate::Error;

/// The longest request head the proxy reads.
const MAX_HEAD: usize = 8 * 1024;

/// A `CONNECT` proxy on `127.0.0.1`, stopped on drop.
///
/// ```
/// let proxy = td_oauth_testkit::ConnectProxy::start()?;
/// println!("HTTPS_PROXY={}", proxy.url()); // http://127.0.0.1:<port>
/// assert!(proxy.connects().is_empty());
/// # Ok::<(), td_oauth_testkit::Error>(())
/// ```
#[derive(Debug)]
pub struct ConnectProxy {
    port: u16,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    connects: Mutex<Vec<String>>,
    refused: Mutex<Vec<String>>,
    stopped: AtomicBool,
    /// The status every `CONNECT` is answered with instead of a tunnel (407, 403, …), if any.
    refusal: Option<u16>,
}

impl ConnectProxy {
    /// Starts the proxy on a free loopback port.
    pub fn start() -> Result<ConnectProxy, Error> {
        ConnectProxy::spawn(None)
    }

    /// A proxy that answers every `CONNECT` with `status` (407: credentials wanted; 403: refused by its
    /// rules; 502: the destination unreachable) instead of a tunnel, recording it as [`start`](Self::start)'s
    /// does. A 407 comes with `Proxy-Authenticate: Basic`.
    pub fn start_refusing(status: u16) -> Result<ConnectProxy, Error> {
        ConnectProxy::spawn(Some(status))
    }

    fn spawn(refusal: Option<u16>) -> Result<ConnectProxy, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(Error::Bind)?;
        let port = listener.local_addr().map_err(Error::Bind)?.port();
        let shared = Arc::new(Shared { refusal, ..Shared::default() });
        let accepting = Arc::clone(&shared);
        thread::Builder::new()
            .name("td-oauth-testkit-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if accepting.stopped.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&accepting);
                    let _ = thread::Builder::new().name("td-oauth-testkit-tunnel".into()).spawn(move || {
                        let _ = tunnel(stream, &shared);
                    });
                }
            })
            .map_err(Error::Runtime)?;
        Ok(ConnectProxy { port, shared })
    }

    /// `http://127.0.0.1:<port>`: what `HTTPS_PROXY` is set to.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The targets (`host:port`) of the `CONNECT`s received so far, in order.
    pub fn connects(&self) -> Vec<String> {
        self.shared.connects.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The request lines of requests refused because they were not `CONNECT`.
    pub fn refused(&self) -> Vec<String> {
        self.shared.refused.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

/// One client connection: read the head, open the tunnel, copy both ways until either side closes.
fn tunnel(mut client: TcpStream, shared: &Shared) -> std::io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let head = read_head(&mut client)?;
    let line = head.lines().next().unwrap_or_default().to_owned();
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or_default(), words.next().unwrap_or_default().to_owned());
    if !method.eq_ignore_ascii_case("CONNECT") || target.is_empty() {
        shared.refused.lock().unwrap_or_else(PoisonError::into_inner).push(line);
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    }
    shared.connects.lock().unwrap_or_else(PoisonError::into_inner).push(target.clone());
    if let Some(status) = shared.refusal {
        let challenge = if status == 407 { "Proxy-Authenticate: Basic realm=\"testkit\"\r\n" } else { "" };
        let answer = format!("HTTP/1.1 {status} Refused\r\n{challenge}Content-Length: 0\r\nConnection: close\r\n\r\n");
        client.write_all(answer.as_bytes())?;
        return Ok(());
    }
    let Ok(upstream) = TcpStream::connect(&target) else {
        client.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")?;
        return Ok(());
    };
    client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")?;
    client.set_read_timeout(None)?;
    let (mut client_read, mut upstream_write) = (client.try_clone()?, upstream.try_clone()?);
    let upload = thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut upstream_write);
        let _ = upstream_write.shutdown(Shutdown::Write);
    });
    let (mut upstream_read, mut client_write) = (upstream, client);
    let _ = std::io::copy(&mut upstream_read, &mut client_write);
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = upload.join();
    Ok(())
}

/// The request head up to the blank line (nothing of the tunnelled bytes: a client waits for the 200).
fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HEAD || stream.read(&mut byte)? == 0 {
            break;
        }
        head.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}
