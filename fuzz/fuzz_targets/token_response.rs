//! A 200 response with arbitrary bytes: parsing must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::time::Instant;

fuzz_target!(|body: &[u8]| {
    if let Ok(response) = http::Response::builder().status(200).body(body) {
        let _ = td_oauth_core::TokenResponse::from_http(&response, Instant::now());
    }
});
