//! The `sealed_open` fuzz target's body (`fuzz/fuzz_targets/`), shared with the test that replays its seeds
//! without nightly (`tests/fuzz_regressions.rs`). Compiled only with the `fuzzing` feature; outside the
//! semver promise, as quinn-proto's `fuzzing` module is.

#![allow(clippy::panic, clippy::expect_used, reason = "a harness: a broken property must panic")]

use std::time::{Duration, Instant, SystemTime};

use td_oauth_core::random::RandomSource;
use td_oauth_core::{ClientId, Scopes, TokenResponse};

use crate::sealed::FleetKey;
use td_oauth_core::crypto::SealingKey;

/// The sealing key, cache key and wall-clock moment [`sealed_open`] opens values under, fixed so that seeds
/// stay valid: 2026-01-01T00:00:00Z.
pub const SEALED_WALL_SECS: u64 = 1_767_225_600;

/// The sealing key [`sealed_open`] uses.
pub fn sealed_key() -> SealingKey {
    SealingKey::new([0x5e; 32])
}

/// The fleet key [`sealed_open`] uses.
pub fn sealed_fleet_key() -> FleetKey {
    let client = ClientId::new("0123456789abcdef0123456789abcdef").expect("a valid client id");
    FleetKey::new("https://acme.talkdeskid.com/oauth/token", &client, &Scopes::none())
}

/// `sealed_open`: byte 0 picks the mode. Even: the rest is a value read from Redis, opened under
/// [`sealed_key`] and [`sealed_fleet_key`] at [`SEALED_WALL_SECS`], as a token and as a backoff record. Odd: the rest is `position` (2 bytes),
/// `flip` (1 byte), `expires_in` (2 bytes) and an access token; the token is sealed, then byte `position`
/// of the sealed value is XORed with `flip`: an unchanged value opens to the same token, a changed one is
/// refused.
pub fn sealed_open(input: &[u8]) {
    let (key, fleet_key) = (sealed_key(), sealed_fleet_key());
    let now = Instant::now();
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(SEALED_WALL_SECS);
    let Some((&mode, rest)) = input.split_first() else { return };
    if mode % 2 == 0 {
        if let Ok(opened) = crate::sealed::open(rest, &key, &fleet_key, now, wall) {
            assert!(!opened.token().access_token().secret().is_empty(), "an empty token opened");
        }
        // The fleet's backoff record is read from Redis too: any bytes, refused or opened, never a panic.
        let _ = crate::sealed::open_backoff(rest, &key, &fleet_key);
        return;
    }
    let [p0, p1, flip, e0, e1, token @ ..] = rest else { return };
    let body = serde_json::json!({
        "access_token": String::from_utf8_lossy(token),
        "token_type": "Bearer",
        "expires_in": u16::from_be_bytes([*e0, *e1]),
    });
    let response =
        td_oauth_core::http::Response::builder().status(200).body(body.to_string()).expect("a valid response");
    let Ok(token) = TokenResponse::from_http(&response, now) else { return };
    let mut sealed =
        crate::sealed::seal(&token, &key, &fleet_key, now, wall, &Counter::default()).expect("sealing works");
    let position = usize::from(u16::from_be_bytes([*p0, *p1])) % sealed.len();
    sealed[position] ^= *flip;
    match crate::sealed::open(&sealed, &key, &fleet_key, now, wall) {
        Ok(opened) => {
            assert_eq!(*flip, 0, "a sealed value changed at byte {position} still opened");
            assert_eq!(opened.token().access_token().secret(), token.access_token().secret());
            assert_eq!(opened.token().expires_in(), token.expires_in());
        }
        Err(crate::Error::Sealed { .. }) => {
            // An unchanged token that has not expired must open.
            assert!(*flip != 0 || token.expires_in().is_zero(), "a value sealed a moment ago did not open");
        }
        Err(other) => panic!("opening failed with something other than a refusal: {other}"),
    }
}

/// Deterministic nonces, so a crash reproduces from its input alone.
#[derive(Default)]
struct Counter(std::sync::atomic::AtomicU8);

impl RandomSource for Counter {
    fn fill(&self, dest: &mut [u8]) -> Result<(), td_oauth_core::Error> {
        let next = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        dest.fill(next);
        Ok(())
    }
}
