//! One connection's life: the accept loop (plain TCP or rustls), hyper serving HTTP/1.1, and
//! the per-request path that takes a queued fault, routes, records, and shapes the response.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, DATE, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::body::ResponseBody;
use crate::faults::Fault;
use crate::paths::{AUTHORIZE_PATH, ME_PATH, TOKEN_PATH};
use crate::record::RecordedRequest;
use crate::reply::{OAuthError, Reply};
use crate::state::Shared;
use crate::{authorize, resource, talkdesk_api, token};

/// Request bodies larger than this are refused (a token request is a few kilobytes).
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Accepts connections until `stop` fires; each connection is served on a task of its own.
pub(crate) async fn accept_loop(
    listener: std::net::TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        return;
    };
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let reset = Arc::new(AtomicBool::new(false));
                let stream = Resettable { inner: stream, reset: Arc::clone(&reset) };
                let shared = Arc::clone(&shared);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    match acceptor {
                        Some(acceptor) => {
                            if let Ok(tls) = acceptor.accept(stream).await {
                                serve(tls, shared, reset).await;
                            }
                        }
                        None => serve(stream, shared, reset).await,
                    }
                });
            }
        }
    }
}

/// Serves HTTP/1.1 on one connection until the client or a fault closes it.
async fn serve<IO>(io: IO, shared: Arc<Shared>, reset: Arc<AtomicBool>)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| handle(Arc::clone(&shared), Arc::clone(&reset), request));
    // Errors here are the client going away or an injected fault cutting the connection.
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service).await;
}

/// Returned by the service to make hyper close the connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by an injected fault")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
    request: Request<Incoming>,
) -> Result<Response<ResponseBody>, Dropped> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_owned();
    let mut record = RecordedRequest::new(parts.method.as_str(), &path, parts.uri.query());
    let fault = {
        let mut state = shared.lock();
        let fault = state.faults.take(&path);
        record.fault = fault.as_ref().map(Fault::name);
        state.record_arrival(&mut record);
        fault
    };

    let body = read_body(body).await;

    if let Some(Fault::Delay(delay)) = &fault {
        tokio::time::sleep(*delay).await;
    }
    let reply = match (&fault, body) {
        (Some(Fault::DropConnection | Fault::ResetConnection), _) => {
            if fault == Some(Fault::ResetConnection) {
                reset.store(true, Ordering::Relaxed);
            }
            shared.lock().record_answer(record);
            return Err(Dropped);
        }
        (Some(Fault::Respond { status, headers, body }), _) => canned(*status, headers, body),
        (_, None) => OAuthError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            "the request body is too large or could not be read",
        )
        .reply(),
        (_, Some(body)) => route(&shared, &parts, &path, &body, &mut record),
    };
    let reply = match &fault {
        Some(Fault::ExpiresIn(value)) => override_field(reply, "expires_in", Some(value), true),
        Some(Fault::Field { name, value }) => override_field(reply, name, value.as_ref(), false),
        Some(Fault::BodyPrefix(prefix)) => {
            let mut reply = reply;
            reply.body = Bytes::from([prefix.as_slice(), &reply.body].concat());
            reply.headers.remove(CONTENT_LENGTH);
            reply
        }
        _ => reply,
    };

    record.status = Some(reply.status.as_u16());
    if record.error.is_none()
        && reply.status.as_u16() >= 400
        && let Ok(Value::Object(obj)) = serde_json::from_slice::<Value>(&reply.body)
    {
        record.error = obj.get("error").and_then(Value::as_str).map(str::to_owned);
        record.error_description = obj.get("error_description").and_then(Value::as_str).map(str::to_owned);
    }
    let server_time = {
        let mut state = shared.lock();
        state.record_answer(record);
        state.now()
    };

    let full_length = reply.body.len();
    let body = match fault {
        Some(Fault::SlowBody { chunk, interval }) => ResponseBody::trickle(reply.body, chunk, interval),
        Some(Fault::TruncateBody { sent }) => ResponseBody::truncated(reply.body, sent),
        Some(Fault::ResetMidBody { sent }) => {
            // The cut body ends the connection; the flag makes its close a reset.
            reset.store(true, Ordering::Relaxed);
            ResponseBody::truncated(reply.body, sent)
        }
        _ => ResponseBody::full(reply.body),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    if !response.headers().contains_key(DATE) {
        // On the server's own clock (which a test may shift), as hyper would write it on the machine's.
        if let Ok(date) = HeaderValue::from_str(&httpdate::fmt_http_date(server_time)) {
            response.headers_mut().insert(DATE, date);
        }
    }
    if !response.headers().contains_key(CONTENT_LENGTH) {
        // Explicit, so a truncated body is visibly short of what the headers promised.
        response.headers_mut().insert(CONTENT_LENGTH, HeaderValue::from(full_length));
    }
    Ok(response)
}

fn route(
    shared: &Shared,
    parts: &http::request::Parts,
    path: &str,
    body: &[u8],
    record: &mut RecordedRequest,
) -> Reply {
    match path {
        TOKEN_PATH => token::handle(shared, &parts.method, &parts.headers, body, record),
        AUTHORIZE_PATH => authorize::handle(shared, &parts.method, parts.uri.query(), record),
        ME_PATH => resource::handle(shared, &parts.method, &parts.headers),
        _ if talkdesk_api::serves(path) => {
            talkdesk_api::handle(shared, &parts.method, path, parts.uri.query(), &parts.headers, body)
        }
        _ => OAuthError::new(StatusCode::NOT_FOUND, "not_found", format!("no such path {path}")).reply(),
    }
}

/// Reads the request body, or `None` if it is larger than [`MAX_REQUEST_BODY`] or fails.
async fn read_body(mut body: Incoming) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await {
        if let Ok(data) = frame.ok()?.into_data() {
            out.extend_from_slice(&data);
            if out.len() > MAX_REQUEST_BODY {
                return None;
            }
        }
    }
    Some(out)
}

/// The response of a [`Fault::Respond`]; an invalid status becomes a 500 saying so.
fn canned(status: u16, headers: &[(String, String)], body: &[u8]) -> Reply {
    let Ok(status) = StatusCode::from_u16(status) else {
        return OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("the injected status {status} is not a valid HTTP status"),
        )
        .reply();
    };
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            map.append(name, value);
        }
    }
    Reply { status, headers: map, body: Bytes::copy_from_slice(body) }
}

/// Sets (or, with `None`, removes) a top-level field of a successful JSON answer; with
/// `only_if_present`, leaves answers without the field alone.
fn override_field(mut reply: Reply, name: &str, value: Option<&Value>, only_if_present: bool) -> Reply {
    if reply.status != StatusCode::OK {
        return reply;
    }
    if let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(&reply.body)
        && (obj.contains_key(name) || !only_if_present)
    {
        match value {
            Some(value) => obj.insert(name.to_owned(), value.clone()),
            None => obj.remove(name),
        };
        reply.body = Bytes::from(Value::Object(obj).to_string());
        reply.headers.remove(CONTENT_LENGTH);
        if !reply.headers.contains_key(CONTENT_TYPE) {
            reply.headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    reply
}

/// A TCP stream that ends with a reset (RST) instead of an orderly close once `reset` is set,
/// for [`Fault::ResetConnection`] and [`Fault::ResetMidBody`]. Everything else is passed through.
struct Resettable {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for Resettable {
    fn drop(&mut self) {
        if self.reset.load(Ordering::Relaxed) {
            // Zero linger makes close() send RST; failing to set it leaves an ordinary close.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for Resettable {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Resettable {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
