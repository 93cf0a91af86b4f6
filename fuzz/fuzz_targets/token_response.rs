//! A 200 response with arbitrary bytes as its body: never a panic.
//!
//! The body and the input layout are `td_oauth_core::fuzzing::token_response`, which the regression test
//! `crates/td-oauth-core/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    td_oauth_core::fuzzing::token_response(input);
});
