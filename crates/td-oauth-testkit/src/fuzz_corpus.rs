//! The fuzz targets' corpus for the tests that replay it without nightly: every seed in `fuzz/seeds/<target>`
//! and every saved crash in a crate's `tests/fuzz-regressions/<target>`.

use std::path::{Path, PathBuf};

/// Every seed and saved crash of `target`, for the crate whose manifest directory is `manifest_dir` (in the
/// workspace's `crates/`). Panics when the target has no input at all: a replay of nothing proves nothing.
pub fn fuzz_inputs(manifest_dir: &Path, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dirs =
        [manifest_dir.join("../../fuzz/seeds").join(target), manifest_dir.join("tests/fuzz-regressions").join(target)];
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for path in entries.filter_map(Result::ok).map(|entry| entry.path()) {
            if path.is_file()
                && path.file_name().is_some_and(|name| name != "README.md")
                && let Ok(bytes) = std::fs::read(&path)
            {
                found.push((path, bytes));
            }
        }
    }
    assert!(!found.is_empty(), "the seed corpus of {target} is missing");
    found
}

/// Runs `body` on every input of `target` (see [`fuzz_inputs`]), naming the file of any that panics.
pub fn replay_fuzz(manifest_dir: &Path, target: &str, body: impl Fn(&[u8])) {
    for (path, input) in fuzz_inputs(manifest_dir, target) {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&input)));
        assert!(outcome.is_ok(), "{target}: {} broke a property", path.display());
    }
}
