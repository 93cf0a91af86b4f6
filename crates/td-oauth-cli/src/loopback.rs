//! The loopback redirect of a native app's browser login (RFC 8252 §7.3): a listener on `127.0.0.1` at a
//! port the system picks, which waits for the one request that brings the browser back to `/callback`.
//!
//! Only a request to `/callback` whose `state` is the one sent ends the wait: anything else gets a small
//! page and is otherwise ignored, so that another page open in the browser cannot end the login by
//! guessing the port. No page echoes anything from the request.

use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use td_oauth_core::authorize::RedirectError;
use td_oauth_core::{Grant, PendingAuthorization};

use crate::error::CliError;
use crate::output::report;

/// The path the browser comes back to.
const CALLBACK_PATH: &str = "/callback";
/// How long one connection may take to send its request: a browser sends it at once.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a request that is read: the redirect's URL is a few hundred bytes.
const MAX_REQUEST_BYTES: usize = 16 * 1024;
/// How often the listener checks for a connection while it waits.
const POLL: Duration = Duration::from_millis(50);

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
    /// browser's connection. A redirect carrying an error (the user said no) is answered and returned as one.
    pub(crate) fn wait(&self, pending: &PendingAuthorization, timeout: Duration) -> Result<(Grant, Browser), CliError> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Some(done) = handle(stream, pending) {
                        return done;
                    }
                }
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                        return Err(CliError::Failed(format!(
                            "no browser came back to {} within {} s: run `td-oauth login` again (--wait SECS \
                             gives more time)",
                            self.redirect_uri,
                            timeout.as_secs()
                        )));
                    }
                    std::thread::sleep(POLL);
                }
                Err(err) => return Err(CliError::Failed(format!("the loopback listener failed: {err}"))),
            }
        }
    }
}

/// One connection: `None` to keep waiting, `Some` when the login's redirect has come.
fn handle(mut stream: TcpStream, pending: &PendingAuthorization) -> Option<Result<(Grant, Browser), CliError>> {
    let target = match read_request(&mut stream) {
        Ok(Some(target)) => target,
        Ok(None) => {
            respond(&mut stream, "405 Method Not Allowed", "td-oauth is waiting for your browser to sign in.");
            return None;
        }
        Err(_) => return None,
    };
    let (path, query) = target.split_once('?').unwrap_or((target.as_str(), ""));
    if path != CALLBACK_PATH {
        respond(&mut stream, "404 Not Found", "td-oauth is waiting for your browser to sign in.");
        return None;
    }
    match pending.finish(query) {
        Ok(grant) => Some(Ok((grant, Browser(stream)))),
        Err(RedirectError::StateMismatch) => {
            respond(
                &mut stream,
                "400 Bad Request",
                "This sign-in response is not the one td-oauth is waiting for, and was ignored.",
            );
            report(format_args!("warning: ignored a request to the login listener whose state did not match"));
            None
        }
        Err(err) => {
            respond(&mut stream, "400 Bad Request", "The sign-in did not succeed. The terminal says why.");
            Some(Err(err.into()))
        }
    }
}

/// The request target of a `GET`, or `None` for another method.
fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk)?;
        if read == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..read]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(_)) => {
                return Ok((request.method == Some("GET")).then(|| request.path.unwrap_or_default().to_owned()));
            }
            Ok(httparse::Status::Partial) if buffer.len() < MAX_REQUEST_BYTES => {}
            _ => return Err(std::io::ErrorKind::InvalidData.into()),
        }
    }
}

impl Browser {
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
