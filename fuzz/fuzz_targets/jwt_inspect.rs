//! Arbitrary text as a JWT to inspect: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|token: &str| {
    if let Ok(jwt) = td_oauth_core::UnverifiedJwt::decode(token) {
        let _ = jwt.expires_at();
        let _ = jwt.issued_at();
    }
});
