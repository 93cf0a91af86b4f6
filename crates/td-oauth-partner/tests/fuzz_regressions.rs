//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! fuzz targets' own bodies (`td_oauth_partner::fuzzing`, where each input layout is documented), so a fixed
//! crash stays fixed without nightly or cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use td_oauth_partner::InstallationCredentials;
use td_oauth_partner::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    td_oauth_testkit::fuzz_inputs(Path::new(env!("CARGO_MANIFEST_DIR")), target)
}

fn replay(target: &str, body: impl Fn(&[u8])) {
    td_oauth_testkit::replay_fuzz(Path::new(env!("CARGO_MANIFEST_DIR")), target, body);
}

#[test]
fn installation_event() {
    replay("installation_event", fuzzing::installation_event);
    let valid = inputs("installation_event")
        .iter()
        .filter(|(_, input)| InstallationCredentials::from_event(input).is_ok())
        .count();
    assert!(valid >= 2, "the seeds include valid events, for the fuzzer to start from ({valid} were)");
}
