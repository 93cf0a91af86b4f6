//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! fuzz targets' own bodies (`td_oauth_redis::fuzzing`, where each input layout is documented), so a fixed
//! crash stays fixed without nightly or cargo-fuzz.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use td_oauth_redis::fuzzing;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    td_oauth_testkit::fuzz_inputs(Path::new(env!("CARGO_MANIFEST_DIR")), target)
}

fn replay(target: &str, body: impl Fn(&[u8])) {
    td_oauth_testkit::replay_fuzz(Path::new(env!("CARGO_MANIFEST_DIR")), target, body);
}

#[test]
fn sealed_open() {
    replay("sealed_open", fuzzing::sealed_open);
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(fuzzing::SEALED_WALL_SECS);
    let (key, fleet_key) = (fuzzing::sealed_key(), fuzzing::sealed_fleet_key());
    let opens = |(_, input): &(PathBuf, Vec<u8>)| {
        input.split_first().is_some_and(|(mode, rest)| {
            mode % 2 == 0 && td_oauth_redis::sealed::open(rest, &key, &fleet_key, Instant::now(), wall).is_ok()
        })
    };
    assert!(inputs("sealed_open").iter().any(opens), "a seed holds a stored token that opens");
}
