//! The HTTP server: HTTP/1.1 over hyper on each listener, every connection watched so that a stop lets the
//! requests in flight finish, and the current set of clients read once per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http_body_util::BodyExt as _;
use hyper::Request;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use super::clients::Clients;
use super::guard::{self, Listener, Refusal};
use super::routes::{self, Answer};

/// The most a request's head may take (request line and headers): hyper answers 431 past it.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most headers a request may have.
const MAX_HEADERS: usize = 64;
/// The most of a refused body read before answering.
const MAX_DRAINED_BYTES: usize = 64 * 1024;
/// How long a client may take to send a request's head.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// What every connection shares: the clients, swapped whole on a reload.
pub(crate) struct Shared {
    pub(crate) clients: ArcSwap<Clients>,
}

/// Accepts connections on `listener` until `stop` says so.
pub(crate) async fn serve_unix(
    listener: UnixListener,
    shared: Arc<Shared>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(stream, Listener::Unix, &shared, &graceful),
                Err(err) => accept_failed(&err).await,
            },
            _ = stop.changed() => return,
        }
    }
}

/// [`serve_unix`] for the loopback TCP listener.
pub(crate) async fn serve_tcp(
    listener: TcpListener,
    shared: Arc<Shared>,
    graceful: Arc<GracefulShutdown>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(addr) = listener.local_addr() else { return };
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => spawn_connection(stream, Listener::Tcp(addr), &shared, &graceful),
                Err(err) => accept_failed(&err).await,
            },
            _ = stop.changed() => return,
        }
    }
}

/// Reads and drops a refused body, up to a bound and a time limit, so that the client reads the refusal
/// (closing on unread bytes would reset the connection under it).
async fn drain(body: Incoming) {
    let limited = http_body_util::Limited::new(body, MAX_DRAINED_BYTES);
    let _ = tokio::time::timeout(HEAD_TIMEOUT, limited.collect()).await;
}

/// Out of file descriptors, say: wait a little rather than spin.
async fn accept_failed(err: &std::io::Error) {
    tracing::warn!("cannot accept a connection: {err}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn spawn_connection<S>(stream: S, listener: Listener, shared: &Arc<Shared>, graceful: &GracefulShutdown)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let shared = Arc::clone(shared);
    let service = service_fn(move |request| handle(Arc::clone(&shared), listener, request));
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .serve_connection(TokioIo::new(stream), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!("connection ended: {err}");
        }
    });
}

async fn handle(shared: Arc<Shared>, listener: Listener, request: Request<Incoming>) -> Result<Answer, Infallible> {
    let answer = match guard::check(&request, listener) {
        Err(Refusal::Body) => {
            let (head, body) = request.into_parts();
            drain(body).await;
            let answer = routes::refused(&Refusal::Body);
            tracing::debug!(method = %head.method, path = head.uri.path(), status = answer.status().as_u16());
            return Ok(answer);
        }
        Err(refusal) => routes::refused(&refusal),
        Ok(()) => {
            // This request's clients: a reload meanwhile swaps in new ones for later requests only.
            let clients = shared.clients.load_full();
            routes::route(&clients, request.method(), request.uri().path()).await
        }
    };
    tracing::debug!(method = %request.method(), path = request.uri().path(), status = answer.status().as_u16());
    Ok(answer)
}
