//! Sealed tokens for a shared cache: any single bit flipped in a sealed value is refused, and a round trip
//! keeps the token, its scope and the time it has left.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant, SystemTime};

use proptest::prelude::*;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{ClientId, Scopes, TokenResponse};
use td_oauth_redis::Error;
use td_oauth_redis::SealingKey;
use td_oauth_redis::sealed::{FleetKey, open, seal};

fn token(access_token: &str, scope: &str, expires_in: u64, now: Instant) -> TokenResponse {
    let body = serde_json::json!({
        "access_token": access_token, "token_type": "Bearer", "expires_in": expires_in, "scope": scope,
    })
    .to_string();
    TokenResponse::from_http(&td_oauth_core::http::Response::builder().status(200).body(body).unwrap(), now).unwrap()
}

fn fleet_key(scope: &str) -> FleetKey {
    FleetKey::new(
        "http://127.0.0.1:1/oauth/token",
        &ClientId::new("client-id").unwrap(),
        &scope.parse::<Scopes>().unwrap(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn any_single_bit_flip_is_refused(key in any::<[u8; 32]>(), bit in 0usize..4096) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let (key, fleet) = (SealingKey::new(key), fleet_key("users:read"));
        let mut sealed = seal(&token("abc.def.ghi", "users:read", 600, now), &key, &fleet, now, wall, &OsRandom::new()).unwrap();
        let bit = bit % (sealed.len() * 8);
        sealed[bit / 8] ^= 1 << (bit % 8);
        let refused = matches!(open(&sealed, &key, &fleet, now, wall), Err(Error::Sealed { .. }));
        prop_assert!(refused, "bit {} flipped and the value still opened", bit);
    }

    #[test]
    fn arbitrary_bytes_never_open(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let refused = matches!(
            open(&bytes, &SealingKey::new([1; 32]), &fleet_key("users:read"), now, wall),
            Err(Error::Sealed { .. })
        );
        prop_assert!(refused);
    }

    #[test]
    fn round_trip_keeps_token_scope_and_remaining_time(
        access_token in "[A-Za-z0-9._~+/-]{1,300}",
        scope in "[a-z]{1,10}:(read|write)",
        expires_in in 1u64..100_000,
        elapsed_ms in 0u64..100_000_000,
    ) {
        let (now, wall) = (Instant::now(), SystemTime::now());
        let fleet = fleet_key(&scope);
        let key = SealingKey::new([42; 32]);
        let sealed = seal(&token(&access_token, &scope, expires_in, now), &key, &fleet, now, wall, &OsRandom::new()).unwrap();
        let elapsed = Duration::from_millis(elapsed_ms);
        let opened = open(&sealed, &key, &fleet, now + elapsed, wall + elapsed);
        match Duration::from_secs(expires_in).checked_sub(elapsed).filter(|left| !left.is_zero()) {
            Some(left) => {
                let opened = opened.unwrap();
                prop_assert_eq!(opened.token().access_token().secret(), access_token.as_str());
                prop_assert_eq!(opened.token().scope(), Some(scope.as_str()));
                prop_assert_eq!(opened.token().expires_in(), left);
                prop_assert_eq!(opened.lifetime(), Duration::from_secs(expires_in));
            }
            None => {
                let refused = matches!(opened, Err(Error::Sealed { .. }));
                prop_assert!(refused, "an expired token opened");
            }
        }
    }
}

/// The sealed value's nonce comes from the caller's random source: version byte, then its 96 bits.
#[test]
fn the_nonce_comes_from_the_callers_source() {
    struct Sevens;
    impl td_oauth_core::random::RandomSource for Sevens {
        fn fill(&self, dest: &mut [u8]) -> Result<(), td_oauth_core::Error> {
            dest.fill(6);
            Ok(())
        }
    }
    let now = Instant::now();
    let sealed =
        seal(&token("token", "", 600, now), &SealingKey::new([7; 32]), &fleet_key(""), now, SystemTime::now(), &Sevens)
            .unwrap();
    assert_eq!(&sealed[1..13], &[6u8; 12]);
}
