//! Replays the fuzz seeds (`fuzz/seeds/`) and every saved crash (`tests/fuzz-regressions/`) through the
//! same entry points as the fuzz targets in `fuzz/fuzz_targets/`, so a fixed crash stays fixed without
//! nightly or cargo-fuzz. The input layouts match the targets' (documented there).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use td_oauth_core::{
    Algorithm, AuthorizeRequest, ClientId, Endpoints, OsRandom, PrivateKey, Region, TokenResponse, UnverifiedJwt,
};

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dirs = [manifest.join("../../fuzz/seeds").join(target), manifest.join("tests/fuzz-regressions").join(target)];
    let mut found = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_file() {
                found.push((path.clone(), std::fs::read(&path).unwrap()));
            }
        }
    }
    found
}

#[test]
fn token_response() {
    let inputs = inputs("token_response");
    assert!(!inputs.is_empty(), "the seed corpus is missing");
    for (_, body) in inputs {
        let response = http::Response::builder().status(200).body(body).unwrap();
        let _ = TokenResponse::from_http(&response, Instant::now());
    }
}

#[test]
fn error_response() {
    let inputs = inputs("error_response");
    assert!(!inputs.is_empty(), "the seed corpus is missing");
    for (path, input) in inputs {
        let Some((&status, rest)) = input.split_first() else { continue };
        let (retry_after, body) = match rest.iter().position(|&b| b == b'\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (&[][..], rest),
        };
        let mut builder = http::Response::builder().status(300 + u16::from(status));
        if let Ok(value) = http::HeaderValue::from_bytes(retry_after) {
            builder = builder.header(http::header::RETRY_AFTER, value);
        }
        let response = builder.body(body.to_vec()).unwrap();
        let err = TokenResponse::from_http(&response, Instant::now()).expect_err(&path.display().to_string());
        let _ = (err.to_string(), err.is_retryable(), err.retry_after().map(|r| r.delay_from(SystemTime::now())));
    }
}

#[test]
fn private_key() {
    let inputs = inputs("private_key");
    assert!(!inputs.is_empty(), "the seed corpus is missing");
    let mut parsed = 0;
    for (_, input) in inputs {
        let Some((&selector, bytes)) = input.split_first() else { continue };
        let algorithm = Algorithm::ALL.get(usize::from(selector % 8)).copied();
        let _ = PrivateKey::from_der(bytes, algorithm);
        if let Ok(text) = std::str::from_utf8(bytes) {
            parsed += usize::from(PrivateKey::parse(text).is_ok());
        }
    }
    assert!(parsed >= 4, "the seeds include real keys, which must parse");
}

#[test]
fn authorize_redirect() {
    let endpoints = Endpoints::talkdesk("acme", Region::Us).unwrap();
    let request =
        AuthorizeRequest::new(ClientId::new("client").unwrap(), "https://app.example/cb").state("fixed-state");
    let (_, pending) = request.build(endpoints.authorize_url().unwrap(), &OsRandom::new()).unwrap();
    let inputs = inputs("authorize_redirect");
    assert!(!inputs.is_empty(), "the seed corpus is missing");
    for (_, input) in inputs {
        let redirect = String::from_utf8_lossy(&input);
        if pending.finish(&redirect).is_ok() {
            // URL parsing (WHATWG) drops tabs and newlines anywhere in a URL, so compare without them.
            let plain: String = redirect.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
            assert!(plain.contains("fixed-state"), "a grant without the state: {redirect:?}");
        }
    }
}

#[test]
fn jwt_inspect() {
    let inputs = inputs("jwt_inspect");
    assert!(!inputs.is_empty(), "the seed corpus is missing");
    for (_, input) in inputs {
        if let Ok(jwt) = UnverifiedJwt::decode(&String::from_utf8_lossy(&input)) {
            let _ = (jwt.expires_at(), jwt.issued_at());
        }
    }
}
