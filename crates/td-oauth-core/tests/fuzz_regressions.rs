//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! fuzz targets' own bodies (`td_oauth_core::fuzzing`, where each input layout is documented), so a fixed
//! crash stays fixed without nightly or cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use td_oauth_core::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    td_oauth_testkit::fuzz_inputs(Path::new(env!("CARGO_MANIFEST_DIR")), target)
}

fn replay(target: &str, body: impl Fn(&[u8])) {
    td_oauth_testkit::replay_fuzz(Path::new(env!("CARGO_MANIFEST_DIR")), target, body);
}

#[test]
fn token_response() {
    replay("token_response", fuzzing::token_response);
}

#[test]
fn error_response() {
    replay("error_response", fuzzing::error_response);
}

#[test]
fn private_key() {
    replay("private_key", |input| {
        fuzzing::private_key(input);
    });
    let parsed = inputs("private_key").iter().filter(|(_, input)| fuzzing::private_key(input)).count();
    assert!(parsed >= 4, "the seeds include real keys, which must parse ({parsed} did)");
}

#[test]
fn authorize_redirect() {
    replay("authorize_redirect", fuzzing::authorize_redirect);
}

#[test]
fn jwt_inspect() {
    replay("jwt_inspect", fuzzing::jwt_inspect);
}
