//! Arbitrary text and DER as a private key, with and without an algorithm: never a panic.
//!
//! Input layout (shared with the regression test in td-oauth-core): byte 0 picks the algorithm
//! (`% 8`: 0..=5 one of the six, 6 and 7 none), the rest is the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use td_oauth_core::{Algorithm, PrivateKey};

fuzz_target!(|input: &[u8]| {
    let Some((&selector, bytes)) = input.split_first() else { return };
    let algorithm = Algorithm::ALL.get(usize::from(selector % 8)).copied();
    let _ = PrivateKey::from_der(bytes, algorithm);
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = PrivateKey::parse(text);
        if let Some(algorithm) = algorithm {
            let _ = PrivateKey::parse_with_algorithm(text, algorithm);
        }
    }
});
