//! The offset between this machine's wall clock and the token endpoint's, measured from the `Date` header
//! of the endpoint's own answers, and the time assertions are signed on.
//!
//! A client assertion's `iat` and `exp` are checked against the server's clock; a machine whose clock is a
//! few minutes off gets every assertion refused ("expired", "issued in the future"). [`OffsetEstimate`] is a
//! state machine, time passed in: each answer of the token endpoint gives one sample, and the estimate
//! follows them within bounds:
//!
//! - the first sample sets it (there is nothing to weigh it against);
//! - after that, a sample within [`MAX_OFFSET_STEP`] of the estimate moves it a quarter of the way
//!   (smoothing away the `Date` header's one-second steps and the time in flight);
//! - a sample farther away moves it by [`MAX_OFFSET_STEP`] at most, so one odd answer (a cached page, a
//!   node with a bad clock) cannot swing it; two such samples in a row that agree with each other (within
//!   [`AGREEMENT`]) are a real change (someone set a clock) and become the estimate.
//!
//! Under [`OFFSET_THRESHOLD`] the estimate changes nothing: assertions carry this machine's time. Over it,
//! they are signed on the endpoint's time (local time plus the offset) up to [`MAX_OFFSET_CORRECTION`];
//! beyond that, signing is refused with [`Error::ClockOffsetTooLarge`], which names the offset: a clock that
//! far off is a problem to fix, not to hide.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::DATE;

use crate::Error;

/// The offset under which assertions carry this machine's own time: servers allow some skew, and a
/// `Date` header has whole seconds only.
pub const OFFSET_THRESHOLD: Duration = Duration::from_secs(30);

/// The largest offset assertions are corrected for; beyond it, signing is refused.
pub const MAX_OFFSET_CORRECTION: Duration = Duration::from_secs(3600);

/// The most one answer can move an established estimate.
pub const MAX_OFFSET_STEP: Duration = Duration::from_secs(60);

/// How close two successive far samples must be to each other to replace the estimate.
pub const AGREEMENT: Duration = Duration::from_secs(5);

/// How far the token endpoint's clock is from this machine's: positive when the endpoint's is ahead (this
/// machine's clock is behind), in milliseconds.
///
/// Its `Display` says it as a person would: "this machine's clock is about 612 s behind the token
/// endpoint's".
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ClockOffset {
    millis: i64,
}

impl ClockOffset {
    /// No offset.
    pub const ZERO: ClockOffset = ClockOffset { millis: 0 };

    /// An offset of `millis` milliseconds, positive when the token endpoint's clock is ahead.
    pub const fn from_millis(millis: i64) -> Self {
        ClockOffset { millis }
    }

    /// The offset that makes `local` read as `remote`: `remote - local`, saturating.
    pub fn between(local: SystemTime, remote: SystemTime) -> Self {
        ClockOffset { millis: unix_millis(remote).saturating_sub(unix_millis(local)) }
    }

    /// Milliseconds, positive when the token endpoint's clock is ahead of this machine's.
    pub const fn as_millis(self) -> i64 {
        self.millis
    }

    /// Whole seconds, rounded to the nearest, positive when the token endpoint's clock is ahead.
    pub const fn as_secs(self) -> i64 {
        // Rounds half away from zero; saturating_add cannot overflow past i64 in either direction here.
        if self.millis >= 0 { self.millis.saturating_add(500) / 1000 } else { self.millis.saturating_sub(500) / 1000 }
    }

    /// How large the offset is, either way.
    pub const fn magnitude(self) -> Duration {
        Duration::from_millis(self.millis.unsigned_abs())
    }

    /// Whether the token endpoint's clock is ahead of this machine's.
    pub const fn endpoint_is_ahead(self) -> bool {
        self.millis > 0
    }

    /// `wall` moved by the offset: the token endpoint's time when this machine reads `wall`. `None` when
    /// that is not a time `SystemTime` can hold.
    pub fn apply(self, wall: SystemTime) -> Option<SystemTime> {
        let by = self.magnitude();
        if self.millis >= 0 { wall.checked_add(by) } else { wall.checked_sub(by) }
    }

    /// `self - other`, saturating: how far apart two offsets are, signed.
    pub const fn saturating_sub(self, other: ClockOffset) -> ClockOffset {
        ClockOffset { millis: self.millis.saturating_sub(other.millis) }
    }

    fn saturating_diff(self, other: ClockOffset) -> Duration {
        Duration::from_millis(self.millis.abs_diff(other.millis))
    }
}

impl fmt::Display for ClockOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.as_secs().unsigned_abs();
        match self.as_secs() {
            0 => f.write_str("this machine's clock agrees with the token endpoint's to the second"),
            s if s > 0 => write!(f, "this machine's clock is about {secs} s behind the token endpoint's"),
            _ => write!(f, "this machine's clock is about {secs} s ahead of the token endpoint's"),
        }
    }
}

/// Milliseconds since the Unix epoch, negative before it, saturating.
fn unix_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |m| -m),
    }
}

/// One sample of the offset from an answer's headers: its `Date` (whole seconds, so read as the middle of
/// its second) against the middle of the exchange on this machine's clock, from `sent` to `received`.
/// `None` without a `Date` header that parses as an HTTP date (RFC 9110 §5.6.7).
pub fn sample(headers: &HeaderMap, sent: SystemTime, received: SystemTime) -> Option<ClockOffset> {
    let date = headers.get(DATE)?.to_str().ok()?;
    let date = httpdate::parse_http_date(date).ok()?;
    let remote = unix_millis(date).saturating_add(500);
    // Either order: a local clock stepped back mid-exchange must not overflow.
    let (a, b) = (unix_millis(sent), unix_millis(received));
    let (early, late) = (a.min(b), a.max(b));
    let local = early.saturating_add(late.saturating_sub(early) / 2);
    Some(ClockOffset { millis: remote.saturating_sub(local) })
}

/// What one sample did to the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The estimate after the sample.
    pub offset: ClockOffset,
    /// Whether this sample took the estimate over [`OFFSET_THRESHOLD`] from under it (or from none): the
    /// moment to say so, once.
    pub crossed_threshold: bool,
}

/// The estimate of one token endpoint's clock offset: see the [module documentation](self) for its rules.
#[derive(Debug, Clone, Default)]
pub struct OffsetEstimate {
    estimate: Option<ClockOffset>,
    /// Whether the estimate is one measured earlier (another process's), which the first sample replaces.
    earlier: bool,
    /// The last sample that was farther than [`MAX_OFFSET_STEP`] from the estimate, until the next sample.
    far: Option<ClockOffset>,
}

impl OffsetEstimate {
    /// No estimate yet: assertions carry this machine's time.
    pub const fn new() -> Self {
        OffsetEstimate { estimate: None, earlier: false, far: None }
    }

    /// Starts from `offset`, measured earlier (by a previous process, kept by the caller): assertions are
    /// signed on it until the first sample, which replaces it whatever it says, as a first sample does.
    pub const fn from_earlier(offset: ClockOffset) -> Self {
        OffsetEstimate { estimate: Some(offset), earlier: true, far: None }
    }

    /// The estimate, once an answer gave one.
    pub fn offset(&self) -> Option<ClockOffset> {
        self.estimate
    }

    /// Takes one sample into the estimate.
    pub fn observe(&mut self, sample: ClockOffset) -> Observation {
        let before = self.estimate;
        let measured = if std::mem::replace(&mut self.earlier, false) { None } else { before };
        let after = match measured {
            None => sample,
            Some(estimate) if sample.saturating_diff(estimate) <= MAX_OFFSET_STEP => {
                self.far = None;
                // A quarter of the way: the Date header's one-second steps average out.
                ClockOffset {
                    millis: estimate.millis.saturating_add(sample.millis.saturating_sub(estimate.millis) / 4),
                }
            }
            Some(estimate) => match self.far.replace(sample) {
                Some(previous) if previous.saturating_diff(sample) <= AGREEMENT => {
                    self.far = None;
                    ClockOffset {
                        millis: previous.millis.saturating_add(sample.millis.saturating_sub(previous.millis) / 2),
                    }
                }
                _ => {
                    let step = i64::try_from(MAX_OFFSET_STEP.as_millis()).unwrap_or(i64::MAX);
                    let towards = sample.millis.saturating_sub(estimate.millis).clamp(-step, step);
                    ClockOffset { millis: estimate.millis.saturating_add(towards) }
                }
            },
        };
        self.estimate = Some(after);
        let over = |o: Option<ClockOffset>| o.is_some_and(|o| o.magnitude() > OFFSET_THRESHOLD);
        Observation { offset: after, crossed_threshold: over(Some(after)) && !over(before) }
    }

    /// What assertions are corrected by now: the estimate when it is over [`OFFSET_THRESHOLD`], else zero.
    pub fn correction(&self) -> ClockOffset {
        match self.estimate {
            Some(offset) if offset.magnitude() > OFFSET_THRESHOLD => offset,
            _ => ClockOffset::ZERO,
        }
    }

    /// The time to sign an assertion on when this machine reads `wall`, and the correction applied.
    /// [`Error::ClockOffsetTooLarge`] when the offset is beyond [`MAX_OFFSET_CORRECTION`].
    pub fn signing_time(&self, wall: SystemTime) -> Result<(SystemTime, ClockOffset), Error> {
        let correction = self.correction();
        if correction.magnitude() > MAX_OFFSET_CORRECTION {
            return Err(Error::ClockOffsetTooLarge { offset: correction, max: MAX_OFFSET_CORRECTION });
        }
        let time = correction
            .apply(wall)
            .ok_or(Error::ClockOffsetTooLarge { offset: correction, max: MAX_OFFSET_CORRECTION })?;
        Ok((time, correction))
    }
}
