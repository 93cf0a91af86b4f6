//! Receiving AppConnect events, framework-agnostic: an [`http::Request`] with the raw body in, the typed
//! [`Event`] and the [`http::Response`] to answer with out. Redeliveries (Talkdesk retries after 5 and then
//! 10 minutes when a delivery fails) are recognised by event id in a bounded [`EventDedup`].
//!
//! **Signatures.** Talkdesk's own pages do not document how events are signed: one third-party description
//! names an `X-Hub-Ecdsa-Signature` header, an old Talkdesk sample checks an HMAC in `x-hub-signature`, and
//! neither is confirmed. So no scheme is built in. The receiver calls a [`VerifyEvent`] before anything
//! else; plug in your check (a shared secret on the callback URL, a scheme Talkdesk gave you, a proxy that
//! authenticates), or say explicitly that there is none with [`NoVerification`]. Either way, an event's
//! `_links.root` must be on the [`GatewayAllowList`] and its credentials pass every check in
//! [`InstallationCredentials`](crate::InstallationCredentials), so a forged event cannot send tokens to
//! another host.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use http::header::CONTENT_TYPE;
use http::{HeaderMap, Method, Request, Response, StatusCode};

use td_oauth_api::GatewayAllowList;

use crate::{Error, Event};

/// The application's check of an event's authenticity, called with the request's headers and raw body
/// before the body is parsed. Return `Err` with a reason (it is logged by the caller, not sent back).
pub trait VerifyEvent: Send + Sync {
    /// `Ok(())` when the delivery is authentic.
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), String>;
}

impl<F> VerifyEvent for F
where
    F: Fn(&HeaderMap, &[u8]) -> Result<(), String> + Send + Sync,
{
    fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<(), String> {
        self(headers, body)
    }
}

/// Accepts every delivery: for a callback that is authenticated some other way (a secret path, a proxy).
/// Naming it is the point: the choice is visible in the code.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoVerification;

impl VerifyEvent for NoVerification {
    fn verify(&self, _: &HeaderMap, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

/// Event ids seen recently, bounded in count and age, with time passed in.
///
/// Kept for [`DEFAULT_TTL`](Self::DEFAULT_TTL) (an hour: Talkdesk's last redelivery comes 15 minutes after
/// the first try) and at most [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) ids; the oldest go first.
#[derive(Debug, Clone)]
pub struct EventDedup {
    seen: HashMap<String, Instant>,
    order: VecDeque<(String, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl Default for EventDedup {
    fn default() -> Self {
        EventDedup::new(Self::DEFAULT_CAPACITY, Self::DEFAULT_TTL)
    }
}

impl EventDedup {
    /// Ids kept at most, by default.
    pub const DEFAULT_CAPACITY: usize = 10_000;
    /// How long an id is kept, by default.
    pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

    /// A set of at most `capacity` ids (at least 1), each kept for `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        EventDedup { seen: HashMap::new(), order: VecDeque::new(), capacity: capacity.max(1), ttl }
    }

    /// Records `id` at `now`: `true` the first time, `false` for a redelivery still remembered.
    pub fn first_delivery(&mut self, id: &str, now: Instant) -> bool {
        self.expire(now);
        if self.seen.contains_key(id) {
            return false;
        }
        while self.seen.len() >= self.capacity {
            match self.order.pop_front() {
                Some((old, _)) => {
                    self.seen.remove(&old);
                }
                None => break,
            }
        }
        self.seen.insert(id.to_owned(), now);
        self.order.push_back((id.to_owned(), now));
        true
    }

    /// Forgets `id`, so its redelivery is processed: for an event the application failed to handle.
    pub fn forget(&mut self, id: &str) {
        if self.seen.remove(id).is_some() {
            self.order.retain(|(seen, _)| seen != id);
        }
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        while let Some((id, at)) = self.order.front() {
            if now.saturating_duration_since(*at) < self.ttl {
                break;
            }
            self.seen.remove(id);
            self.order.pop_front();
        }
    }
}

/// What a delivery turned out to be.
#[derive(Debug)]
#[non_exhaustive]
pub enum Delivery {
    /// A new event: handle it. The response says 200; if handling fails, answer
    /// [`failed`](EventReceiver::failed)'s 5xx instead (it forgets the id), so that Talkdesk's redelivery is
    /// processed.
    Event(Box<Event>),
    /// A redelivery of an event already received: nothing to do (answered 200 so Talkdesk stops).
    Duplicate {
        /// The event's id.
        id: String,
    },
    /// Refused: not a POST, too large, failed verification, or not a usable event.
    Refused(ReceiveError),
}

/// Why a delivery was refused.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// Events are POSTs.
    #[error("events are delivered with POST, not {0}")]
    Method(String),
    /// The body is larger than the receiver's bound.
    #[error("the event body is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// The application's [`VerifyEvent`] refused it.
    #[error("the event failed verification: {0}")]
    Unverified(String),
    /// The body is not a usable event.
    #[error(transparent)]
    Invalid(Error),
}

/// Receives AppConnect deliveries: verifies, parses, deduplicates, and says what to answer. Sans-IO and
/// `&mut self`: share one behind a mutex. See the module documentation on signatures.
#[derive(Debug)]
pub struct EventReceiver<V> {
    verifier: V,
    gateways: GatewayAllowList,
    dedup: EventDedup,
    max_body: usize,
}

impl<V: VerifyEvent> EventReceiver<V> {
    /// The most body bytes accepted by default: install events carry a key and are a few kilobytes.
    pub const DEFAULT_MAX_BODY: usize = 256 * 1024;

    /// A receiver that checks deliveries with `verifier`, allows Talkdesk's documented gateways as
    /// `_links.root`, and remembers ids as [`EventDedup::default`] does.
    pub fn new(verifier: V) -> Self {
        EventReceiver {
            verifier,
            gateways: GatewayAllowList::default(),
            dedup: EventDedup::default(),
            max_body: Self::DEFAULT_MAX_BODY,
        }
    }

    /// Allows these origins as `_links.root` instead.
    pub fn with_gateways(mut self, gateways: GatewayAllowList) -> Self {
        self.gateways = gateways;
        self
    }

    /// Remembers ids in `dedup` instead.
    pub fn with_dedup(mut self, dedup: EventDedup) -> Self {
        self.dedup = dedup;
        self
    }

    /// Refuses bodies larger than `bytes`.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The allowed `_links.root` origins.
    pub fn gateways(&self) -> &GatewayAllowList {
        &self.gateways
    }

    /// Reads one delivery received at `now`: what it is, and the response to send back (200 for an event or
    /// a duplicate; 405, 413, 401 or 400 for a refusal, with a JSON body that says why in general terms).
    pub fn receive<B: AsRef<[u8]>>(&mut self, request: &Request<B>, now: Instant) -> (Delivery, Response<Vec<u8>>) {
        let delivery = self.classify(request, now);
        let (status, text) = match &delivery {
            Delivery::Event(_) => (StatusCode::OK, "received"),
            Delivery::Duplicate { .. } => (StatusCode::OK, "already received"),
            Delivery::Refused(ReceiveError::Method(_)) => (StatusCode::METHOD_NOT_ALLOWED, "events are POSTs"),
            Delivery::Refused(ReceiveError::TooLarge { .. }) => (StatusCode::PAYLOAD_TOO_LARGE, "too large"),
            Delivery::Refused(ReceiveError::Unverified(_)) => (StatusCode::UNAUTHORIZED, "not verified"),
            Delivery::Refused(ReceiveError::Invalid(_)) => (StatusCode::BAD_REQUEST, "not a usable event"),
        };
        let body = serde_json::json!({ "status": text }).to_string().into_bytes();
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        if status == StatusCode::METHOD_NOT_ALLOWED {
            response.headers_mut().insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        }
        (delivery, response)
    }

    /// Forgets `id`, so its redelivery is processed (after the application failed to handle it).
    pub fn forget(&mut self, id: &str) {
        self.dedup.forget(id);
    }

    /// The answer to a delivery whose handling failed with `error`: forgets `event_id` (so that the
    /// redelivery is handled) and answers a 5xx, which makes AppConnect deliver the event again: 503 when
    /// the same handling may succeed later ([`Error::is_retryable`]: the installation store down, another
    /// replica handling the event now, the network), 500 otherwise. The body says which in general terms;
    /// the error itself is for the application's log.
    pub fn failed(&mut self, event_id: &str, error: &Error) -> Response<Vec<u8>> {
        self.forget(event_id);
        let (status, text) = if error.is_retryable() {
            (StatusCode::SERVICE_UNAVAILABLE, "not handled now; deliver again later")
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, "not handled")
        };
        let body = serde_json::json!({ "status": text }).to_string().into_bytes();
        let mut response = Response::new(body);
        *response.status_mut() = status;
        response.headers_mut().insert(CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
        response
    }

    fn classify<B: AsRef<[u8]>>(&mut self, request: &Request<B>, now: Instant) -> Delivery {
        if request.method() != Method::POST {
            return Delivery::Refused(ReceiveError::Method(request.method().to_string()));
        }
        let body = request.body().as_ref();
        if body.len() > self.max_body {
            return Delivery::Refused(ReceiveError::TooLarge { size: body.len(), limit: self.max_body });
        }
        if let Err(reason) = self.verifier.verify(request.headers(), body) {
            return Delivery::Refused(ReceiveError::Unverified(td_oauth_core::text::description(&reason)));
        }
        let event = match Event::parse(body, &self.gateways) {
            Ok(event) => event,
            Err(err) => return Delivery::Refused(ReceiveError::Invalid(err)),
        };
        if self.dedup.first_delivery(event.id(), now) {
            Delivery::Event(Box::new(event))
        } else {
            Delivery::Duplicate { id: event.id().to_owned() }
        }
    }
}
