//! Values read from a shared cache (Redis), and sealed tokens with one byte changed: never a panic, never a
//! changed value opened.
//!
//! The body and the input layout are `td_oauth_redis::fuzzing::sealed_open`, which the regression test
//! `crates/td-oauth-core/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    td_oauth_redis::fuzzing::sealed_open(input);
});
