//! Arbitrary AppConnect event bodies, as a partner app's webhook receives them from anyone: never a panic,
//! never credentials pointed at plain `http`, never the event's key or secret in `Debug` or an error.
//!
//! The body and the input layout are `td_oauth_partner::fuzzing::installation_event`, which the regression test
//! `crates/td-oauth-core/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    td_oauth_partner::fuzzing::installation_event(input);
});
