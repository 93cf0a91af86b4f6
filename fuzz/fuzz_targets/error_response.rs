//! An error status, an arbitrary `Retry-After` and an arbitrary body: parsing must never panic.
//!
//! Input layout (shared with the regression test in td-oauth-core): byte 0 picks the status (300..=555),
//! then the `Retry-After` value up to the first `\n`, then the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Instant, SystemTime};

fuzz_target!(|input: &[u8]| {
    let Some((&status, rest)) = input.split_first() else { return };
    let (retry_after, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let mut builder = http::Response::builder().status(300 + u16::from(status));
    if let Ok(value) = http::HeaderValue::from_bytes(retry_after) {
        builder = builder.header(http::header::RETRY_AFTER, value);
    }
    if let Ok(response) = builder.body(body) {
        if let Err(err) = td_oauth_core::TokenResponse::from_http(&response, Instant::now()) {
            let _ = err.to_string();
            let _ = err.is_retryable();
            let _ = err.retry_after().map(|r| r.delay_from(SystemTime::now()));
        }
    }
});
