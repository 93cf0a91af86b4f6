//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! fuzz targets' own bodies (`td_oauth_core::fuzzing`, where each input layout is documented), so a fixed
//! crash stays fixed without nightly or cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use td_oauth_core::fuzzing;

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
