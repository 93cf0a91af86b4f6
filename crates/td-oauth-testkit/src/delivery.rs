//! Delivering AppConnect events to a partner's callback URL the way Talkdesk does: a POST of the event
//! body, and when it fails (no answer, or a status other than 2xx) a retry after 5 minutes and another
//! after 10. The delays are settable so tests run in milliseconds; every attempt is recorded.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::error::Error;

/// Talkdesk's redelivery delays after a failed delivery: 5 minutes, then 10.
pub const TALKDESK_REDELIVERY: [Duration; 2] = [Duration::from_secs(300), Duration::from_secs(600)];

/// One delivery attempt and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryAttempt {
    /// When it started, measured from the first attempt.
    pub after: Duration,
    /// The status answered, or `None` when there was no answer.
    pub status: Option<u16>,
    /// Why there was no answer.
    pub error: Option<String>,
}

impl DeliveryAttempt {
    /// Whether the callback accepted the event (2xx).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Posts events to a callback URL (`http://` on loopback) with Talkdesk's redelivery pattern.
#[derive(Debug, Clone)]
pub struct EventDelivery {
    callback: http::Uri,
    delays: Vec<Duration>,
    timeout: Duration,
}

impl EventDelivery {
    /// Delivers to `callback_url` (`http://127.0.0.1:PORT/path`), retrying after Talkdesk's 5 and 10
    /// minutes.
    pub fn new(callback_url: &str) -> Result<Self, Error> {
        let callback: http::Uri =
            callback_url.parse().map_err(|_| Error::Delivery(format!("{callback_url:?} is not a URL")))?;
        if callback.scheme_str() != Some("http") || callback.host().is_none() {
            return Err(Error::Delivery("the callback URL must be http://host:port/path".into()));
        }
        Ok(EventDelivery { callback, delays: TALKDESK_REDELIVERY.to_vec(), timeout: Duration::from_secs(10) })
    }

    /// Waits these delays between failed attempts instead (e.g. milliseconds in tests).
    pub fn with_delays(mut self, delays: impl IntoIterator<Item = Duration>) -> Self {
        self.delays = delays.into_iter().collect();
        self
    }

    /// Gives each attempt this long to be answered (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Delivers `body`, blocking: the first attempt, then one after each delay while attempts fail. Returns
    /// every attempt made.
    pub fn deliver(&self, body: &[u8]) -> Result<Vec<DeliveryAttempt>, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        Ok(runtime.block_on(self.deliver_async(Bytes::copy_from_slice(body))))
    }

    /// [`deliver`](Self::deliver) on a thread of its own; join the handle for the attempts.
    pub fn spawn(&self, body: &[u8]) -> std::thread::JoinHandle<Result<Vec<DeliveryAttempt>, Error>> {
        let delivery = self.clone();
        let body = body.to_vec();
        std::thread::spawn(move || delivery.deliver(&body))
    }

    async fn deliver_async(&self, body: Bytes) -> Vec<DeliveryAttempt> {
        let started = Instant::now();
        let mut attempts = Vec::new();
        let mut delays = self.delays.iter();
        loop {
            let after = started.elapsed();
            let attempt = match tokio::time::timeout(self.timeout, self.post(body.clone())).await {
                Ok(Ok(status)) => DeliveryAttempt { after, status: Some(status.as_u16()), error: None },
                Ok(Err(error)) => DeliveryAttempt { after, status: None, error: Some(error) },
                Err(_) => DeliveryAttempt { after, status: None, error: Some("no answer in time".into()) },
            };
            let delivered = attempt.delivered();
            attempts.push(attempt);
            match delays.next() {
                Some(delay) if !delivered => tokio::time::sleep(*delay).await,
                _ => return attempts,
            }
        }
    }

    async fn post(&self, body: Bytes) -> Result<StatusCode, String> {
        let host = self.callback.host().unwrap_or("127.0.0.1");
        let port = self.callback.port_u16().unwrap_or(80);
        let stream = TcpStream::connect((host, port)).await.map_err(|e| format!("connect: {e}"))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(connection);
        let path = self.callback.path_and_query().map_or("/", |p| p.as_str());
        let request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(http::header::HOST, format!("{host}:{port}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, "td-oauth-testkit event delivery")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = sender.send_request(request).await.map_err(|e| format!("request: {e}"))?;
        Ok(response.status())
    }
}
