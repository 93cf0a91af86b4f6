//! Arbitrary text and DER as a private key, with and without an algorithm: never a panic.
//!
//! The body and the input layout are `td_oauth_core::fuzzing::private_key`, which the regression test
//! `crates/td-oauth-core/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let _ = td_oauth_core::fuzzing::private_key(input);
});
