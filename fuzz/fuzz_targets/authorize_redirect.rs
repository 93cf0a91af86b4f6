//! Arbitrary redirects back from the authorize endpoint: a grant only with the right state, never a panic.
//!
//! The body and the input layout are `td_oauth_core::fuzzing::authorize_redirect`, which the regression test
//! `crates/td-oauth-core/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    td_oauth_core::fuzzing::authorize_redirect(input);
});
