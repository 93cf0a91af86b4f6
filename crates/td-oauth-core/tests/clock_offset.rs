//! td-oauth-core's estimate of the token endpoint's clock offset (`clock::offset`): samples from the `Date`
//! of its answers, how they move the estimate, and the signing time it gives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::DATE;
use http::{HeaderMap, HeaderValue};
use td_oauth_core::Error;
use td_oauth_core::clock::offset::*;

const S: i64 = 1000;

fn offset(secs: i64) -> ClockOffset {
    ClockOffset::from_millis(secs * S)
}

#[test]
fn a_sample_reads_the_date_header_against_the_middle_of_the_exchange() {
    let sent = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let received = sent + Duration::from_secs(2);
    let mut headers = HeaderMap::new();
    // The endpoint's clock 600 s ahead, read when the exchange was half over.
    let date = httpdate::fmt_http_date(sent + Duration::from_secs(601));
    headers.insert(DATE, HeaderValue::from_str(&date).unwrap());
    assert_eq!(sample(&headers, sent, received), Some(ClockOffset::from_millis(600_500)));
    headers.insert(DATE, HeaderValue::from_static("yesterday"));
    assert_eq!(sample(&headers, sent, received), None);
    assert_eq!(sample(&HeaderMap::new(), sent, received), None);
    // A local clock stepped back mid-exchange does not overflow nor panic.
    headers.insert(DATE, HeaderValue::from_str(&date).unwrap());
    assert!(sample(&headers, received, sent).is_some());
    assert!(sample(&headers, UNIX_EPOCH - Duration::from_secs(10), SystemTime::UNIX_EPOCH).is_some());
}

#[test]
fn the_first_sample_sets_the_estimate_and_later_ones_are_smoothed() {
    let mut estimate = OffsetEstimate::new();
    assert_eq!(estimate.offset(), None);
    assert_eq!(estimate.correction(), ClockOffset::ZERO);
    let first = estimate.observe(offset(600));
    assert_eq!(first, Observation { offset: offset(600), crossed_threshold: true });
    // Within the step: a quarter of the way.
    assert_eq!(estimate.observe(offset(604)).offset, offset(601));
    assert_eq!(estimate.observe(offset(601)).offset, offset(601));
    assert!(!estimate.observe(offset(602)).crossed_threshold, "said once, not on every answer");
}

#[test]
fn one_answer_cannot_move_an_established_estimate_more_than_the_step() {
    let mut estimate = OffsetEstimate::new();
    estimate.observe(offset(0));
    // A wild answer, then a normal one: the estimate moved one step, then comes back.
    assert_eq!(estimate.observe(offset(3000)).offset, offset(60));
    assert_eq!(estimate.observe(offset(0)).offset, offset(45));
    // Two far answers that disagree with each other are still one step each.
    assert_eq!(estimate.observe(offset(-2000)).offset, offset(-15));
    assert_eq!(estimate.observe(offset(2000)).offset, offset(45));
    // Two in a row that agree are a clock that was set: they replace the estimate.
    assert_eq!(estimate.observe(offset(-700)).offset, offset(-15));
    assert_eq!(estimate.observe(offset(-702)).offset, offset(-701));
    assert!(estimate.observe(offset(-701)).offset.magnitude() > OFFSET_THRESHOLD);
}

#[test]
fn under_the_threshold_nothing_is_corrected_and_over_it_assertions_carry_the_endpoints_time() {
    let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let mut estimate = OffsetEstimate::new();
    assert!(!estimate.observe(offset(30)).crossed_threshold);
    assert_eq!(estimate.signing_time(wall).unwrap(), (wall, ClockOffset::ZERO));
    let mut estimate = OffsetEstimate::new();
    assert!(estimate.observe(offset(-31)).crossed_threshold);
    assert_eq!(estimate.signing_time(wall).unwrap(), (wall - Duration::from_secs(31), offset(-31)));
    let mut estimate = OffsetEstimate::new();
    estimate.observe(offset(3600));
    assert_eq!(estimate.signing_time(wall).unwrap().0, wall + Duration::from_secs(3600));
}

#[test]
fn beyond_the_maximum_correction_signing_is_refused_with_the_offset_named() {
    let mut estimate = OffsetEstimate::new();
    estimate.observe(offset(-4000));
    let err = estimate.signing_time(UNIX_EPOCH + Duration::from_secs(1_700_000_000)).unwrap_err();
    assert!(matches!(err, Error::ClockOffsetTooLarge { offset: o, .. } if o == offset(-4000)));
    let message = err.to_string();
    assert!(message.contains("4000 s ahead of the token endpoint's"), "{message}");
    assert!(message.contains("3600 s"), "{message}");
    // Arithmetic at the edges saturates instead of panicking.
    let mut estimate = OffsetEstimate::new();
    estimate.observe(ClockOffset::from_millis(i64::MIN));
    estimate.observe(ClockOffset::from_millis(i64::MAX));
    estimate.observe(ClockOffset::from_millis(i64::MAX));
    assert!(estimate.signing_time(SystemTime::now()).is_err());
}

#[test]
fn offsets_read_as_sentences() {
    assert_eq!(offset(612).to_string(), "this machine's clock is about 612 s behind the token endpoint's");
    assert_eq!(
        ClockOffset::from_millis(-1_499).to_string(),
        "this machine's clock is about 1 s ahead of the token endpoint's"
    );
    assert_eq!(ClockOffset::from_millis(400).as_secs(), 0);
    assert_eq!(ClockOffset::from_millis(-600).as_secs(), -1);
}

#[test]
fn an_offset_kept_from_an_earlier_run_is_used_until_the_first_sample_replaces_it() {
    let mut estimate = OffsetEstimate::from_earlier(offset(600));
    assert_eq!(estimate.correction(), offset(600), "assertions are signed on it from the first request");
    // The endpoint's clock was set right meanwhile: the first answer replaces the kept offset at once,
    // rather than moving it 60 s at a time as it would a measured one.
    let seen = estimate.observe(offset(0));
    assert_eq!(estimate.offset(), Some(offset(0)));
    assert_eq!(estimate.correction(), ClockOffset::ZERO);
    assert!(!seen.crossed_threshold);
    // After that it is an estimate like any other.
    estimate.observe(offset(600));
    assert_eq!(estimate.offset(), Some(offset(60)), "one far sample moves a measured estimate 60 s at most");
}
