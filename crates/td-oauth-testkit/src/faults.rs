//! Injected faults: what a test can make the server do wrong, and the queue that hands them
//! out to the next matching requests in order.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{Value, json};

/// Something the server does instead of (or on top of) answering correctly.
///
/// Build one with the constructors (`Fault::status(503)`, `Fault::retry_after(429, "2")`, …) or
/// the variants, and queue it with [`TestServer::inject`](crate::TestServer::inject).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Answer with this response instead of handling the request.
    Respond {
        /// HTTP status code (any value from 100 to 999 that `http` accepts).
        status: u16,
        /// Extra headers, sent as given (e.g. `Retry-After`).
        headers: Vec<(String, String)>,
        /// The body, sent as given.
        body: Vec<u8>,
    },
    /// Wait this long before handling the request, so before the response headers are sent.
    Delay(Duration),
    /// Close the connection without answering.
    DropConnection,
    /// Reset the connection (TCP RST) without answering.
    ResetConnection,
    /// Handle the request, send the headers with the full `Content-Length`, then only the first
    /// `sent` bytes of the body (at most all but one), then close the connection.
    TruncateBody {
        /// How many body bytes to send before closing.
        sent: usize,
    },
    /// Like [`Fault::TruncateBody`], but the connection ends with a reset (TCP RST) after the first
    /// `sent` body bytes instead of an orderly close.
    ResetMidBody {
        /// How many body bytes to send before resetting.
        sent: usize,
    },
    /// Handle the request but trickle the body, `chunk` bytes every `interval`.
    SlowBody {
        /// Bytes per write (at least 1).
        chunk: usize,
        /// Pause between writes.
        interval: Duration,
    },
    /// Handle the request and, if it succeeds with a JSON body that has `expires_in`,
    /// replace that value with this one (0, negative, huge, a string, …).
    ExpiresIn(Value),
    /// Handle the request and, if it succeeds with a JSON object body, set the field `name` to
    /// `value`, or remove it when `value` is `None`: an `access_token` holding control characters,
    /// no `expires_in`, an `error` next to the token, …
    Field {
        /// The top-level field.
        name: String,
        /// Its new value; `None` removes it.
        value: Option<Value>,
    },
    /// Handle the request and send these bytes before the body (e.g. a UTF-8 byte-order mark).
    BodyPrefix(Vec<u8>),
}

impl Fault {
    /// A response with this status and a small OAuth-style JSON body.
    pub fn status(status: u16) -> Fault {
        let body = json!({
            "error": if status >= 500 { "server_error" } else { "invalid_request" },
            "error_description": format!("injected fault: HTTP {status}"),
        });
        Fault::Respond {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    /// [`Fault::status`] with a `Retry-After` header, sent exactly as given
    /// (delay seconds like `"2"` or an HTTP-date).
    pub fn retry_after(status: u16, retry_after: impl Into<String>) -> Fault {
        Fault::status(status).with_header("retry-after", retry_after)
    }

    /// A response with any status, content type and body.
    pub fn body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Fault {
        Fault::Respond { status, headers: vec![("content-type".into(), content_type.into())], body: body.into() }
    }

    /// A JSON response of exactly `size` bytes (`{"padding":"xxx…"}`), to test body limits.
    pub fn large_body(status: u16, size: usize) -> Fault {
        let overhead = r#"{"padding":""}"#.len();
        let padding = "x".repeat(size.saturating_sub(overhead));
        let body = if size < overhead { "x".repeat(size) } else { format!(r#"{{"padding":"{padding}"}}"#) };
        Fault::body(status, "application/json", body)
    }

    /// A 200 whose JSON body is cut off in the middle.
    pub fn malformed_json() -> Fault {
        Fault::body(
            200,
            "application/json",
            r#"{"access_token":"eyJhbGciOiJFUzI1NiJ9.e30.c2ln","token_type":"Bearer","expires_in":"#,
        )
    }

    /// An HTML error page, as a proxy or load balancer in front of the service would send.
    pub fn html(status: u16) -> Fault {
        Fault::body(
            status,
            "text/html; charset=utf-8",
            format!("<html><head><title>{status}</title></head><body><h1>Error {status}</h1></body></html>"),
        )
    }

    /// A successful answer with the field `name` set to `value` (see [`Fault::Field`]).
    pub fn field(name: impl Into<String>, value: impl Into<Value>) -> Fault {
        Fault::Field { name: name.into(), value: Some(value.into()) }
    }

    /// A successful answer without the field `name` (see [`Fault::Field`]).
    pub fn without_field(name: impl Into<String>) -> Fault {
        Fault::Field { name: name.into(), value: None }
    }

    /// The correct answer, its body preceded by a UTF-8 byte-order mark, as some JSON writers emit.
    pub fn byte_order_mark() -> Fault {
        Fault::BodyPrefix(vec![0xEF, 0xBB, 0xBF])
    }

    /// Adds a header to a [`Fault::Respond`]; other faults are returned unchanged.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Fault {
        if let Fault::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// A short name for the request record.
    pub(crate) fn name(&self) -> String {
        match self {
            Fault::Respond { status, .. } => format!("respond {status}"),
            Fault::Delay(d) => format!("delay {}ms", d.as_millis()),
            Fault::DropConnection => "drop connection".into(),
            Fault::ResetConnection => "reset connection".into(),
            Fault::TruncateBody { sent } => format!("truncate body after {sent} bytes"),
            Fault::ResetMidBody { sent } => format!("reset after {sent} body bytes"),
            Fault::SlowBody { chunk, interval } => {
                format!("slow body {chunk} bytes every {}ms", interval.as_millis())
            }
            Fault::ExpiresIn(v) => format!("expires_in {v}"),
            // The value may be a token a test made up; the record names only the field.
            Fault::Field { name, value: Some(_) } => format!("field {name} replaced"),
            Fault::Field { name, value: None } => format!("field {name} removed"),
            Fault::BodyPrefix(prefix) => format!("{} bytes before the body", prefix.len()),
        }
    }
}

/// Which requests a queued fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultTarget {
    /// `/oauth/token` (the default).
    Token,
    /// `/oauth/authorize`.
    Authorize,
    /// `/api/me`.
    Api,
    /// Every path.
    Any,
    /// This exact path (e.g. `/users`).
    Path(&'static str),
}

impl FaultTarget {
    fn matches(self, path: &str) -> bool {
        match self {
            FaultTarget::Token => path == crate::paths::TOKEN_PATH,
            FaultTarget::Authorize => path == crate::paths::AUTHORIZE_PATH,
            FaultTarget::Api => path == crate::paths::ME_PATH,
            FaultTarget::Any => true,
            FaultTarget::Path(wanted) => path == wanted,
        }
    }
}

/// Faults waiting for requests, oldest first; each entry serves `remaining` requests.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    entries: VecDeque<(FaultTarget, Fault, usize)>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, target: FaultTarget, fault: Fault, times: usize) {
        if times > 0 {
            self.entries.push_back((target, fault, times));
        }
    }

    /// The fault for a request to `path`: the oldest entry whose target matches.
    pub(crate) fn take(&mut self, path: &str) -> Option<Fault> {
        let index = self.entries.iter().position(|(t, _, _)| t.matches(path))?;
        let entry = self.entries.get_mut(index)?;
        entry.2 -= 1;
        let fault = entry.1.clone();
        if entry.2 == 0 {
            self.entries.remove(index);
        }
        Some(fault)
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.iter().map(|(_, _, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_serves_in_order_and_counts_down() {
        let mut q = FaultQueue::default();
        q.push(FaultTarget::Token, Fault::status(500), 2);
        q.push(FaultTarget::Api, Fault::DropConnection, 1);
        q.push(FaultTarget::Token, Fault::status(503), 1);
        assert_eq!(q.take("/api/me"), Some(Fault::DropConnection));
        assert_eq!(q.take("/oauth/token"), Some(Fault::status(500)));
        assert_eq!(q.take("/oauth/token"), Some(Fault::status(500)));
        assert_eq!(q.take("/oauth/token"), Some(Fault::status(503)));
        assert_eq!(q.take("/oauth/token"), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn large_body_has_exact_size() {
        let Fault::Respond { body, .. } = Fault::large_body(200, 10 * 1024 * 1024) else {
            panic!("not a response");
        };
        assert_eq!(body.len(), 10 * 1024 * 1024);
        assert!(serde_json::from_slice::<Value>(&body).is_ok());
    }
}
