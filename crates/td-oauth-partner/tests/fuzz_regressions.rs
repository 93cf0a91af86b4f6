//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! fuzz targets' own bodies (`td_oauth_partner::fuzzing`, where each input layout is documented), so a fixed
//! crash stays fixed without nightly or cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use td_oauth_partner::InstallationCredentials;
use td_oauth_partner::fuzzing;

/// Every seed and saved crash of `target`, which must have at least one seed.
fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [manifest.join("../../fuzz/seeds").join(target), manifest.join("tests/fuzz-regressions").join(target)];
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|name| name != "README.md") {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    assert!(!found.is_empty(), "the seed corpus of {target} is missing");
    found
}

/// Runs `body` on every input of `target`, naming the file of any that panics.
fn replay(target: &str, body: impl Fn(&[u8])) {
    for (path, input) in inputs(target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&input)));
        assert!(outcome.is_ok(), "{target}: {} broke a property", path.display());
    }
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
