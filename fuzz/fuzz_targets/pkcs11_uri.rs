//! `pkcs11:` URIs as a user gives them (flag, environment, configuration file): never a panic, a parsed URI
//! always names a key, and no `pin-value` is ever repeated.
//!
//! The body is `td_oauth_pkcs11::fuzzing::pkcs11_uri`, which the regression test
//! `crates/td-oauth-pkcs11/tests/fuzz_regressions.rs` replays on every `cargo xtask test`.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    td_oauth_pkcs11::fuzzing::pkcs11_uri(input);
});
