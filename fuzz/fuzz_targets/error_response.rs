//! An error status, an arbitrary `Retry-After` and an arbitrary body: never a panic, never a token.
//!
//! The body and the input layout are `td_oauth_core::fuzzing::error_response`, which the regression test
//! `crates/td-oauth-core/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    td_oauth_core::fuzzing::error_response(input);
});
