//! A `tracing` subscriber that keeps the text of every event and span field, for tests that check what
//! reaches logs (above all, that no secret does).
//!
//! Capturing goes through one process-wide subscriber that hands each event to the capture installed on its
//! thread, if any. A scoped subscriber per test would race: `tracing` caches whether a callsite is of
//! interest when it is first hit, and a test in the same binary hitting it on a thread with no subscriber
//! can leave it cached as uninteresting, so that another test's capture misses its events.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, Once, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Keeps every field of every event and span as `name=value ` text, one line per event (which starts with
/// the event's `level=`). Clones share the
/// text. [`install`](Self::install) it for the current thread (a blocking test, or a current-thread tokio
/// runtime); everything logged on that thread while the guard lives is kept.
///
/// ```
/// use td_oauth_testkit::LogCapture;
///
/// let capture = LogCapture::default();
/// let guard = capture.install();
/// tracing::warn!(account = "acme", "fell back");
/// drop(guard);
/// assert!(capture.text().contains("account=\"acme\""));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture(Arc<Mutex<String>>);

thread_local! {
    /// The capture of this thread, if one is installed.
    static CAPTURE: RefCell<Option<LogCapture>> = const { RefCell::new(None) };
}

/// Uninstalls a [`LogCapture`] from its thread when dropped.
#[must_use = "the capture stops when this guard is dropped"]
#[derive(Debug)]
pub struct CaptureGuard(());

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// The process-wide subscriber: interested in everything, it hands each event to its thread's capture.
struct Router;

impl Router {
    fn with_capture(f: impl FnOnce(&LogCapture)) {
        CAPTURE.with(|capture| {
            if let Some(capture) = capture.borrow().as_ref() {
                f(capture);
            }
        });
    }
}

impl Subscriber for Router {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        Router::with_capture(|capture| span.record(&mut capture.clone()));
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, values: &Record<'_>) {
        Router::with_capture(|capture| values.record(&mut capture.clone()));
    }
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        Router::with_capture(|capture| {
            capture.push(&format!("level={} ", event.metadata().level()));
            event.record(&mut capture.clone());
            capture.push("\n");
        });
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

impl LogCapture {
    /// Captures what is logged on this thread until the guard is dropped. The first call in a process
    /// installs the routing subscriber as the global default; in a process that already has another global
    /// subscriber, nothing is captured (a test binary that captures must not install its own).
    pub fn install(&self) -> CaptureGuard {
        static ROUTER: Once = Once::new();
        ROUTER.call_once(|| {
            let _ = tracing::subscriber::set_global_default(Router);
        });
        CAPTURE.with(|capture| *capture.borrow_mut() = Some(self.clone()));
        CaptureGuard(())
    }

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
