//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! fuzz target's own body (`td_oauth_pkcs11::fuzzing`), so a fixed crash stays fixed without nightly or
//! cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use td_oauth_pkcs11::{Pkcs11Uri, fuzzing};

#[test]
fn pkcs11_uri() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    td_oauth_testkit::replay_fuzz(root, "pkcs11_uri", fuzzing::pkcs11_uri);
    let inputs = td_oauth_testkit::fuzz_inputs(root, "pkcs11_uri");
    let parsed = |input: &[u8]| std::str::from_utf8(input).is_ok_and(|text| Pkcs11Uri::parse(text).is_ok());
    let valid = inputs.iter().filter(|(_, input)| parsed(input)).count();
    assert!(valid >= 3, "the seeds include valid URIs, for the fuzzer to start from ({valid} were)");
    assert!(inputs.len() > valid, "the seeds include refused URIs too");
}
