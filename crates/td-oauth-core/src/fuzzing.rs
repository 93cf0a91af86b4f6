//! The fuzz targets' bodies (`fuzz/fuzz_targets/`), shared with the test that replays their seeds and saved
//! crashes without nightly (`tests/fuzz_regressions.rs`), so both read an input the same way. Hidden from the
//! docs and outside the semver promise, as quinn-proto's `fuzzing` module is.
//!
//! Each function takes the raw fuzz input, documents how it reads it, never panics on its own account, and
//! panics (stopping the fuzzer) only when a property of the library is broken.

#![allow(clippy::panic, clippy::expect_used, reason = "a harness: a broken property must panic")]

use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

use crate::jwt::UnverifiedJwt;
use crate::random::OsRandom;
use crate::{
    Algorithm, AuthorizeRequest, ClientId, Endpoints, PendingAuthorization, PrivateKey, Region, TokenResponse,
};

/// `token_response`: the input is the body of a 200 answer.
pub fn token_response(input: &[u8]) {
    if let Ok(response) = http::Response::builder().status(200).body(input) {
        let _ = TokenResponse::from_http(&response, Instant::now());
    }
}

/// `error_response`: byte 0 picks the status (300 + byte, so 300..=555), then the `Retry-After` value up to
/// the first `\n`, then the body. An error status never reads as a token.
pub fn error_response(input: &[u8]) {
    let Some((&status, rest)) = input.split_first() else { return };
    let (retry_after, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&[][..], rest),
    };
    let mut builder = http::Response::builder().status(300 + u16::from(status));
    if let Ok(value) = http::HeaderValue::from_bytes(retry_after) {
        builder = builder.header(http::header::RETRY_AFTER, value);
    }
    let Ok(response) = builder.body(body) else { return };
    match TokenResponse::from_http(&response, Instant::now()) {
        Ok(_) => panic!("status {} read as a token", 300 + u16::from(status)),
        Err(err) => {
            let _ = (err.to_string(), err.is_retryable(), err.retry_after().map(|r| r.delay_from(SystemTime::now())));
        }
    }
}

/// `private_key`: byte 0 picks the algorithm (`% 8`: 0..=5 one of the six, 6 and 7 none), the rest is the
/// key, read as binary DER and, when it is UTF-8, as text. Returns whether the text parsed.
pub fn private_key(input: &[u8]) -> bool {
    let Some((&selector, bytes)) = input.split_first() else { return false };
    let algorithm = Algorithm::ALL.get(usize::from(selector % 8)).copied();
    let _ = match algorithm {
        Some(algorithm) => PrivateKey::from_der_with_algorithm(bytes, algorithm),
        None => PrivateKey::from_der(bytes),
    };
    let Ok(text) = std::str::from_utf8(bytes) else { return false };
    if let Some(algorithm) = algorithm {
        let _ = PrivateKey::parse_with_algorithm(text, algorithm);
    }
    PrivateKey::parse(text).is_ok()
}

/// `authorize_redirect`: the input (lossily UTF-8) is the redirect back to a request sent with state
/// `fixed-state` and PKCE. A grant only ever comes back with that state in the redirect.
pub fn authorize_redirect(input: &[u8]) {
    static PENDING: OnceLock<PendingAuthorization> = OnceLock::new();
    let pending = PENDING.get_or_init(|| {
        let endpoints = Endpoints::talkdesk("acme", Region::Us).expect("a valid account");
        let client = ClientId::new("client").expect("a valid client id");
        let url = endpoints.authorize_url().expect("Talkdesk endpoints have an authorize URL");
        let request = AuthorizeRequest::new(client, "https://app.example/cb").with_state("fixed-state").with_pkce(true);
        request.build(url, &OsRandom::new()).expect("the authorize URL builds").1
    });
    let redirect = String::from_utf8_lossy(input);
    if pending.finish(&redirect).is_ok() {
        // URL parsing (WHATWG) drops tabs and newlines anywhere in a URL, so compare without them.
        let plain: String = redirect.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        assert!(plain.contains("fixed-state"), "a grant came back without the state: {redirect:?}");
    }
}

/// `jwt_inspect`: the input (lossily UTF-8) is a JWT to decode for display.
pub fn jwt_inspect(input: &[u8]) {
    if let Ok(jwt) = UnverifiedJwt::decode(&String::from_utf8_lossy(input)) {
        let _ = (jwt.expires_at(), jwt.issued_at());
    }
}
