//! The loopback redirect of a native app's browser login (RFC 8252 §7.3): a listener on `127.0.0.1` at a
//! port the system picks, which waits for the one request that brings the browser back to `/callback`.
//!
//! Only a request to `/callback` whose `state` is the one sent ends the wait: anything else (another path,
//! another method, a wrong or missing `state`, whatever else it carries) gets a small page and is otherwise
//! ignored, so that another page open in the browser cannot end the login by guessing the port. No page
//! echoes anything from the request.
//!
//! Every connection is served at once by one non-blocking loop: none waits behind another, each has a
//! deadline for its whole request and a size limit, the number read at a time is bounded (the oldest is
//! dropped to make room), and the wait ends at `--wait` whatever clients do. A browser sends its request the
//! moment it connects, so an idle or trickling connection only ever costs itself.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use td_oauth_core::authorize::RedirectError;
use td_oauth_core::{Grant, PendingAuthorization};

use crate::error::CliError;
use crate::output::report;

/// The path the browser comes back to.
const CALLBACK_PATH: &str = "/callback";
/// How long one connection may take to send its whole request: a browser sends it at once.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The most of a request that is read: the redirect's URL is a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How many connections are read at a time; past this the oldest is dropped.
const MAX_CONNECTIONS: usize = 256;
/// How many ignored requests are reported one by one; the rest are counted.
const MAX_WARNINGS: usize = 3;
/// How often the loop looks for new connections and bytes.
const POLL: Duration = Duration::from_millis(10);
/// How long the page that ends the login may take to be written.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// A bound loopback listener.
pub(crate) struct Loopback {
    listener: TcpListener,
    redirect_uri: String,
}

/// The browser's connection, kept open so that the page can say how the login ended.
pub(crate) struct Browser(TcpStream);

impl Loopback {
    /// Binds `127.0.0.1` (the IP literal, not `localhost`, which may resolve elsewhere) on an ephemeral port.
    pub(crate) fn bind() -> Result<Loopback, CliError> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|err| CliError::Failed(format!("cannot listen on 127.0.0.1 for the browser's redirect: {err}")))?;
        let port =
            listener.local_addr().map_err(|err| CliError::Failed(format!("cannot listen on 127.0.0.1: {err}")))?.port();
        Ok(Loopback { listener, redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}") })
    }

    /// `http://127.0.0.1:{port}/callback`.
    pub(crate) fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Waits up to `timeout` for the redirect that answers `pending`, and returns its grant with the
    /// browser's connection. A redirect with the right `state` carrying an error (the user said no) is
    /// answered and returned as one.
    pub(crate) fn wait(&self, pending: &PendingAuthorization, timeout: Duration) -> Result<(Grant, Browser), CliError> {
        let deadline = Instant::now().checked_add(timeout);
        let mut connections: Vec<Connection> = Vec::new();
        let mut ignored = Ignored::default();
        let outcome = 'wait: loop {
            let now = Instant::now();
            self.accept(&mut connections, now);
            let mut at = 0;
            while at < connections.len() {
                match connections[at].read(now) {
                    Read::Waiting => at += 1,
                    Read::Dropped => drop(connections.swap_remove(at)),
                    Read::Request(target) => {
                        let connection = connections.swap_remove(at);
                        if let Some(done) = handle(connection.stream, target.as_deref(), pending, &mut ignored) {
                            break 'wait done;
                        }
                    }
                }
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                break Err(CliError::Failed(format!(
                    "no browser came back to {} within {} s: run `td-oauth login` again (--wait SECS gives more \
                     time)",
                    self.redirect_uri,
                    timeout.as_secs()
                )));
            }
            std::thread::sleep(POLL);
        };
        ignored.summarise();
        outcome
    }

    /// Takes every connection waiting to be accepted, dropping the oldest ones past the limit.
    fn accept(&self, connections: &mut Vec<Connection>, now: Instant) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    if connections.len() >= MAX_CONNECTIONS {
                        // Oldest first: a browser's request comes at once, so the oldest is the least likely one.
                        connections.remove(0);
                    }
                    connections.push(Connection::new(stream, now));
                }
                // Nothing waiting, or a failure (a connection reset before it was accepted, too many open
                // files): either way, the next round tries again, and --wait bounds the whole.
                Err(_) => return,
            }
        }
    }
}

/// One accepted connection whose request is still coming.
struct Connection {
    stream: TcpStream,
    buffer: Vec<u8>,
    deadline: Instant,
}

/// Where a connection's request stands.
enum Read {
    /// Not all there yet.
    Waiting,
    /// Gone, too slow, too large or not HTTP: dropped without an answer.
    Dropped,
    /// The request target of a `GET`, or `None` for another method.
    Request(Option<String>),
}

impl Connection {
    fn new(stream: TcpStream, now: Instant) -> Connection {
        Connection { stream, buffer: Vec::new(), deadline: now.checked_add(REQUEST_DEADLINE).unwrap_or(now) }
    }

    /// Reads whatever has arrived, without waiting.
    fn read(&mut self, now: Instant) -> Read {
        let mut chunk = [0u8; 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Read::Dropped,
                Ok(read) => {
                    self.buffer.extend_from_slice(&chunk[..read]);
                    let mut headers = [httparse::EMPTY_HEADER; 64];
                    let mut request = httparse::Request::new(&mut headers);
                    match request.parse(&self.buffer) {
                        Ok(httparse::Status::Complete(_)) => {
                            let target = request.path.unwrap_or_default().to_owned();
                            return Read::Request((request.method == Some("GET")).then_some(target));
                        }
                        Ok(httparse::Status::Partial) if self.buffer.len() < MAX_REQUEST_BYTES => {}
                        _ => return Read::Dropped,
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    return if now >= self.deadline { Read::Dropped } else { Read::Waiting };
                }
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Read::Dropped,
            }
        }
    }
}

/// The requests ignored because their `state` did not match: the first few reported, the rest counted.
#[derive(Default)]
struct Ignored(usize);

impl Ignored {
    fn add(&mut self) {
        self.0 = self.0.saturating_add(1);
        if self.0 < MAX_WARNINGS {
            report(format_args!("warning: ignored a request to the login listener whose state did not match"));
        } else if self.0 == MAX_WARNINGS {
            report(format_args!(
                "warning: ignored a request to the login listener whose state did not match (further ones are \
                 counted, not shown)"
            ));
        }
    }

    /// Says how many there were in all, when not every one was reported.
    fn summarise(&self) {
        if self.0 > MAX_WARNINGS {
            report(format_args!(
                "warning: the login listener ignored {} requests in all whose state did not match: another \
                 program on this machine may be probing it",
                self.0
            ));
        }
    }
}

/// One request: `None` to keep waiting, `Some` when the login's redirect has come.
fn handle(
    mut stream: TcpStream,
    target: Option<&str>,
    pending: &PendingAuthorization,
    ignored: &mut Ignored,
) -> Option<Result<(Grant, Browser), CliError>> {
    let Some(target) = target else {
        respond(&mut stream, "405 Method Not Allowed", "td-oauth is waiting for your browser to sign in.");
        return None;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        respond(&mut stream, "404 Not Found", "td-oauth is waiting for your browser to sign in.");
        return None;
    }
    match pending.finish(query) {
        Ok(grant) => Some(Ok((grant, Browser::new(stream)))),
        Err(RedirectError::StateMismatch) => {
            respond(
                &mut stream,
                "400 Bad Request",
                "This sign-in response is not the one td-oauth is waiting for, and was ignored.",
            );
            ignored.add();
            None
        }
        // The right state: this is the login's own redirect, and it failed.
        Err(err) => {
            let mut browser = Browser::new(stream);
            respond(&mut browser.0, "400 Bad Request", "The sign-in did not succeed. The terminal says why.");
            Some(Err(err.into()))
        }
    }
}

impl Browser {
    /// The connection, blocking again with a bound on each write: the page that ends the login is written
    /// whole, after the code exchange.
    fn new(stream: TcpStream) -> Browser {
        let _ = stream.set_nonblocking(false).and_then(|()| stream.set_write_timeout(Some(WRITE_TIMEOUT)));
        Browser(stream)
    }

    /// Tells the browser the login worked.
    pub(crate) fn succeeded(mut self) {
        respond(
            &mut self.0,
            "200 OK",
            "You are logged in to td-oauth. You can close this tab and go back to the terminal.",
        );
    }

    /// Tells the browser the login failed, without saying why (the terminal does).
    pub(crate) fn failed(mut self) {
        respond(&mut self.0, "500 Internal Server Error", "The sign-in did not succeed. The terminal says why.");
    }
}

/// A small page; a browser that has gone away is no error worth reporting.
fn respond(stream: &mut TcpStream, status: &str, message: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>td-oauth</title></head>\
         <body style=\"font-family: sans-serif; margin: 3em\"><h1>td-oauth</h1><p>{message}</p></body></html>"
    );
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).and_then(|()| stream.flush());
}
