//! The response body hyper sends: whole, trickled, or cut short. Cutting short works by
//! returning an error from the body after the headers promised more bytes, which makes hyper
//! close the connection mid-body.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::Sleep;

/// Why a body stopped early (only ever produced by an injected fault).
#[derive(Debug)]
pub(crate) struct BodyCut;

impl std::fmt::Display for BodyCut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("body cut short by an injected fault")
    }
}

impl std::error::Error for BodyCut {}

/// A response body with optional trickling and truncation.
#[derive(Debug)]
pub(crate) struct ResponseBody {
    data: Bytes,
    pos: usize,
    /// Bytes to send before ending (or failing).
    end: usize,
    chunk: usize,
    interval: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// Fail after `end` bytes instead of ending cleanly.
    cut: bool,
    /// Whether the pause before the cut has happened.
    cut_flushed: bool,
}

impl ResponseBody {
    /// The whole body in one frame.
    pub(crate) fn full(data: Bytes) -> Self {
        let end = data.len();
        ResponseBody {
            data,
            pos: 0,
            end,
            chunk: usize::MAX,
            interval: None,
            sleep: None,
            cut: false,
            cut_flushed: false,
        }
    }

    /// The body in `chunk`-byte frames with `interval` between them.
    pub(crate) fn trickle(data: Bytes, chunk: usize, interval: Duration) -> Self {
        ResponseBody { chunk: chunk.max(1), interval: Some(interval), ..Self::full(data) }
    }

    /// The first `sent` bytes (at most all but one), then an error.
    pub(crate) fn truncated(data: Bytes, sent: usize) -> Self {
        let end = sent.min(data.len().saturating_sub(1));
        ResponseBody { end, cut: true, ..Self::full(data) }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BodyCut;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyCut>>> {
        let this = self.get_mut();
        if let Some(sleep) = this.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        if this.pos >= this.end {
            if this.cut && !this.cut_flushed {
                // Pause before cutting so hyper flushes the headers and the bytes sent so far;
                // cutting at once would discard its write buffer and look like a dropped connection.
                this.cut_flushed = true;
                let mut sleep = Box::pin(tokio::time::sleep(Duration::from_millis(20)));
                if sleep.as_mut().poll(cx).is_pending() {
                    this.sleep = Some(sleep);
                    return Poll::Pending;
                }
            }
            if this.cut {
                // Yield the error once; hyper then aborts the connection.
                this.cut = false;
                this.pos = usize::MAX;
                return Poll::Ready(Some(Err(BodyCut)));
            }
            return Poll::Ready(None);
        }
        let n = this.chunk.min(this.end - this.pos);
        let frame = this.data.slice(this.pos..this.pos + n);
        this.pos += n;
        if let Some(interval) = this.interval
            && this.pos < this.end
        {
            this.sleep = Some(Box::pin(tokio::time::sleep(interval)));
        }
        Poll::Ready(Some(Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        !self.cut && self.pos >= self.end
    }

    fn size_hint(&self) -> SizeHint {
        if self.cut || self.pos > self.end {
            SizeHint::default()
        } else {
            SizeHint::with_exact((self.end - self.pos) as u64)
        }
    }
}
