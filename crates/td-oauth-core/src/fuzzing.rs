//! The fuzz targets' bodies (`fuzz/fuzz_targets/`), shared with the test that replays their seeds and saved
//! crashes without nightly (`tests/fuzz_regressions.rs`), so both read an input the same way. Hidden from the
//! docs and outside the semver promise, as quinn-proto's `fuzzing` module is.
//!
//! Each function takes the raw fuzz input, documents how it reads it, never panics on its own account, and
//! panics (stopping the fuzzer) only when a property of the library is broken.

#![allow(clippy::panic, clippy::expect_used, reason = "a harness: a broken property must panic")]

use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use crate::jwt::UnverifiedJwt;
use crate::partner::InstallationCredentials;
use crate::random::{OsRandom, RandomSource};
use crate::sealed::{FleetKey, SealingKey};
use crate::{
    Algorithm, AuthorizeRequest, ClientId, Endpoints, Error, PendingAuthorization, PrivateKey, Region, Scopes,
    TokenResponse,
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

/// `installation_event`: the input is an AppConnect event body, as a partner app's webhook receives it from
/// anyone on the internet. Credentials only ever come out with every URL `https` (or this machine's loopback;
/// checked here independently of `EndpointUrl`'s own rules),
/// and neither the credentials' `Debug` nor an error repeats the event's private key or client secret.
pub fn installation_event(input: &[u8]) {
    let result = InstallationCredentials::from_event(input);
    let shown = match &result {
        Ok(credentials) => {
            let endpoints = credentials.endpoints();
            let urls = [Some(endpoints.token_url()), endpoints.authorize_url(), endpoints.api_base()];
            for url in urls.into_iter().flatten().map(crate::endpoints::EndpointUrl::url) {
                let loopback = match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(name)) => name == "localhost",
                    None => false,
                };
                assert!(url.scheme() == "https" || loopback, "credentials pointed at {url}");
            }
            format!("{credentials:?}")
        }
        Err(err) => format!("{err} {err:?}"),
    };
    for secret in event_secrets(input) {
        assert!(!shown.contains(&secret), "a secret of the event was shown: {shown}");
    }
}

/// The `data.private_key` and `data.client_secret` of an event that are long (24+ characters, no spaces)
/// and appear nowhere else in it, so that finding one in the output can only mean it was leaked.
fn event_secrets(input: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(event)) = serde_json::from_slice::<serde_json::Value>(input) else {
        return Vec::new();
    };
    let Some(data) = event.get("data").and_then(serde_json::Value::as_object) else { return Vec::new() };
    let mut others = Vec::new();
    collect_strings(&serde_json::Value::Object(event.clone()), &mut others);
    ["private_key", "client_secret"]
        .iter()
        .filter_map(|name| data.get(*name).and_then(serde_json::Value::as_str))
        .filter(|secret| secret.len() >= 24 && !secret.contains(char::is_whitespace))
        .filter(|secret| others.iter().filter(|other| other.contains(*secret)).count() == 1)
        .map(str::to_owned)
        .collect()
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            for (name, item) in map {
                out.push(name.clone());
                collect_strings(item, out);
            }
        }
        _ => {}
    }
}

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
/// [`sealed_key`] and [`sealed_fleet_key`] at [`SEALED_WALL_SECS`]. Odd: the rest is `position` (2 bytes),
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
        return;
    }
    let [p0, p1, flip, e0, e1, token @ ..] = rest else { return };
    let body = serde_json::json!({
        "access_token": String::from_utf8_lossy(token),
        "token_type": "Bearer",
        "expires_in": u16::from_be_bytes([*e0, *e1]),
    });
    let response = http::Response::builder().status(200).body(body.to_string()).expect("a valid response");
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
        Err(Error::Sealed { .. }) => {
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
    fn fill(&self, dest: &mut [u8]) -> Result<(), Error> {
        let next = self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        dest.fill(next);
        Ok(())
    }
}
