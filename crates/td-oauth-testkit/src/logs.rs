//! A `tracing` subscriber that keeps the text of every event and span field, for tests that check what
//! reaches logs (above all, that no secret does).

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps every field of every event and span as `name=value ` text, one line per event. Clones share the
/// text. Install it for the current thread with [`tracing::subscriber::set_default`] (or `with_default`).
///
/// ```
/// use td_oauth_testkit::LogCapture;
///
/// let capture = LogCapture::default();
/// tracing::subscriber::with_default(capture.clone(), || tracing::warn!(account = "acme", "fell back"));
/// assert!(capture.text().contains("account=\"acme\""));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<String>>);

impl LogCapture {
    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn push(&self, text: &str) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push_str(text);
    }
}

impl Visit for LogCapture {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{}={:?} ", field.name(), value);
        self.push(&text);
    }
}

impl Subscriber for LogCapture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        span.record(&mut self.clone());
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        values.record(&mut self.clone());
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        event.record(&mut self.clone());
        self.push("\n");
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}
