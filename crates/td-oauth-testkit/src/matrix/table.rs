//! The matrix as data: every fault and what it must end in with each cache state. Timeouts: [`ATTEMPT`] is
//! 400 ms, so three timed-out attempts take at least 1.2 s.

use std::time::{Duration, SystemTime};

use super::Kind::{self, *};
use super::{ATTEMPT, Outcome, RETRIES, Row};
use crate::Fault;

const MS: fn(u64) -> Duration = Duration::from_millis;
/// An upper bound for fetches that involve no waiting beyond a few quick attempts: generous, as these tests
/// share two busy cores.
pub(super) const QUICK: Duration = Duration::from_millis(1500);
const NONE: Duration = Duration::ZERO;
/// Attempts when every retry is used.
const ALL: usize = RETRIES as usize + 1;

const fn token(requests: usize) -> Outcome {
    Outcome::Token { requests }
}
const fn error(kind: Kind, requests: usize) -> Outcome {
    Outcome::Error { kind, requests }
}
const fn old(requests: usize) -> Outcome {
    Outcome::OldToken { requests }
}
const fn new(requests: usize) -> Outcome {
    Outcome::NewToken { requests }
}
/// A warm cache never asks the server: whatever is queued stays queued.
const WARM: Outcome = old(0);

/// A fault a retry can get past, in two rows: injected `RETRIES + 1` times every attempt fails and the last
/// error is returned (taking `exhausted` at least); injected once, the second request succeeds (taking
/// `recovered` at least).
fn transient(name: &str, fault: fn() -> Fault, kind: Kind, exhausted: Duration, recovered: Duration) -> [Row; 2] {
    let max = |min: Duration| if min.is_zero() { QUICK } else { min + MS(1500) };
    [
        Row {
            name: format!("{name} x{ALL}"),
            fault,
            times: ALL,
            cold: error(kind, ALL),
            warm: WARM,
            refresh: old(ALL),
            min: exhausted,
            max: max(exhausted),
            cached: true,
        },
        Row {
            name: format!("{name} x1"),
            fault,
            times: 1,
            cold: token(2),
            warm: WARM,
            refresh: new(2),
            min: recovered,
            max: max(recovered),
            cached: true,
        },
    ]
}

/// A fault that is never retried: one request, this outcome.
fn permanent(name: &str, fault: fn() -> Fault, kind: Kind) -> Row {
    Row {
        name: name.into(),
        fault,
        times: 1,
        cold: error(kind, 1),
        warm: WARM,
        refresh: old(1),
        min: NONE,
        max: QUICK,
        cached: true,
    }
}

/// A success whose `expires_in` is replaced by `value`.
fn expires_in(name: &str, fault: fn() -> Fault, cold: Outcome, refresh: Outcome, cached: bool) -> Row {
    Row { name: name.into(), fault, times: 1, cold, warm: WARM, refresh, min: NONE, max: QUICK, cached }
}

/// The rows of the matrix: every fault, with its expected outcome in each cache state.
pub fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    rows.extend(transient("503", || Fault::status(503), OAuth("server_error"), NONE, NONE));
    rows.extend(transient("500", || Fault::status(500), OAuth("server_error"), NONE, NONE));
    rows.extend(transient("502", || Fault::status(502), OAuth("server_error"), NONE, NONE));
    rows.extend(transient("504", || Fault::status(504), OAuth("server_error"), NONE, NONE));
    // The testkit's 429 body is an OAuth error with the code `invalid_request`: retried for its status.
    rows.extend(transient("429 no Retry-After", || Fault::status(429), OAuth("invalid_request"), NONE, NONE));
    rows.push(Row {
        name: "429 Retry-After: 1".into(),
        fault: || Fault::retry_after(429, "1"),
        times: 1,
        cold: token(2),
        warm: WARM,
        refresh: new(2),
        min: MS(1000),
        max: MS(2500),
        cached: true,
    });
    rows.push(Row {
        name: "429 Retry-After: HTTP-date +2 s".into(),
        // Whole seconds: the wait is between 1 and 2 s.
        fault: || Fault::retry_after(429, http_date_in(Duration::from_secs(2))),
        times: 1,
        cold: token(2),
        warm: WARM,
        refresh: new(2),
        min: MS(1000),
        max: MS(3500),
        cached: true,
    });
    // Past the 3 s deadline: no point waiting, the 429 is returned at once.
    rows.push(permanent(
        "429 Retry-After: 10 (past the deadline)",
        || Fault::retry_after(429, "10"),
        OAuth("invalid_request"),
    ));
    rows.push(permanent(
        "429 Retry-After: HTTP-date +60 s (past the deadline)",
        || Fault::retry_after(429, http_date_in(Duration::from_secs(60))),
        OAuth("invalid_request"),
    ));
    rows.push(permanent("400 invalid_client", || status_json(400, "invalid_client"), OAuth("invalid_client")));
    rows.push(permanent("401 invalid_client", || status_json(401, "invalid_client"), OAuth("invalid_client")));
    rows.push(permanent("401 bare (text/plain)", || Fault::body(401, "text/plain", "Unauthorized"), Status(401)));
    rows.push(permanent("400 invalid_grant", || status_json(400, "invalid_grant"), OAuth("invalid_grant")));
    rows.extend(transient("dropped connection", || Fault::DropConnection, Transport, NONE, NONE));
    rows.extend(transient("reset connection (RST)", || Fault::ResetConnection, Transport, NONE, NONE));
    rows.extend(transient("closed mid-body (FIN)", || Fault::TruncateBody { sent: 20 }, Transport, NONE, NONE));
    rows.extend(transient("reset mid-body (RST)", || Fault::ResetMidBody { sent: 20 }, Transport, NONE, NONE));
    rows.extend(transient(
        "slow headers (2 s)",
        || Fault::Delay(Duration::from_secs(2)),
        Timeout,
        ATTEMPT * 3,
        ATTEMPT,
    ));
    rows.extend(transient(
        "slowloris body (1 B / 100 ms)",
        || Fault::SlowBody { chunk: 1, interval: MS(100) },
        Timeout,
        ATTEMPT * 3,
        ATTEMPT,
    ));
    rows.push(permanent("10 MiB body", || Fault::large_body(200, 10 * 1024 * 1024), TooLarge));
    rows.push(permanent("truncated JSON (200)", Fault::malformed_json, Malformed));
    rows.extend(transient("HTML error page (502)", || Fault::html(502), Status(502), NONE, NONE));
    rows.push(permanent("HTML page (200)", || Fault::html(200), Malformed));
    rows.push(permanent("empty body (200)", || Fault::body(200, "application/json", ""), Malformed));
    rows.extend(transient("empty body (503)", || Fault::body(503, "application/json", ""), Status(503), NONE, NONE));
    // expires_in 0: the caller of that fetch gets the token; the cache cannot keep it (it is unusable at
    // once), so the next caller fetches. As a refresh, it must not push out the still-valid token.
    rows.push(expires_in("expires_in 0", || Fault::ExpiresIn(0.into()), token(1), old(1), false));
    rows.push(permanent("expires_in -1", || Fault::ExpiresIn((-1).into()), Malformed));
    rows.push(permanent("expires_in \"soon\"", || Fault::ExpiresIn("soon".into()), Malformed));
    // Usable; the cache keeps it at most 24 h (the transports' tests check that cap on its own).
    rows.push(expires_in("expires_in 10^9 s", || Fault::ExpiresIn(1_000_000_000u64.into()), token(1), new(1), true));
    // Too large to add to a clock reading: refused as malformed.
    rows.push(permanent("expires_in u64::MAX", || Fault::ExpiresIn(u64::MAX.into()), Malformed));
    rows.push(expires_in("expires_in \"600\"", || Fault::ExpiresIn("600".into()), token(1), new(1), true));
    rows
}

fn status_json(status: u16, code: &str) -> Fault {
    Fault::body(status, "application/json", format!(r#"{{"error":"{code}","error_description":"injected"}}"#))
}

/// An HTTP-date `ahead` from now, as a `Retry-After` header carries it.
fn http_date_in(ahead: Duration) -> String {
    http_date(SystemTime::now() + ahead)
}

/// `at` as an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(at: SystemTime) -> String {
    let secs = at.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm); 1970-01-01 was a Thursday.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][month as usize - 1];
    format!("{weekday}, {day:02} {month} {year} {:02}:{:02}:{:02} GMT", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_are_imf_fixdates() {
        let at = |secs| SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        // RFC 9110's example, a leap day, and the last second of a year.
        assert_eq!(http_date(at(784_111_777)), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(at(1_709_164_800)), "Thu, 29 Feb 2024 00:00:00 GMT");
        assert_eq!(http_date(at(1_798_761_599)), "Thu, 31 Dec 2026 23:59:59 GMT");
    }

    #[test]
    fn every_fault_has_three_cells_and_unique_name() {
        let rows = rows();
        let mut names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rows.len());
        assert_eq!(super::super::cells().len(), rows.len() * 3);
    }
}
