//! An error status, an arbitrary `Retry-After` and an arbitrary body: parsing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::{Instant, SystemTime};

fuzz_target!(|input: (u16, &[u8], &[u8])| {
    let (status, retry_after, body) = input;
    let status = 300 + status % 300;
    let mut builder = http::Response::builder().status(status);
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
