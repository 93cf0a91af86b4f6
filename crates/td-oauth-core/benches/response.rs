//! Token-response parsing against its baseline, measured in the same run: `TokenResponse::from_http` on a
//! realistic Talkdesk answer (an ES256 JWT access token of about 1 KB, `token_type`, `expires_in`, `scope`)
//! against a bare `serde_json::from_slice` of the same bytes into a struct with the same fields; and, for
//! context, that baseline with the access token wiped as the core's `AccessToken` is (in bulk).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use td_oauth_core::TokenResponse;

/// The fields a Talkdesk client-credentials answer carries, as plain owned values: the baseline's target.
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Bare {
    access_token: String,
    token_type: String,
    expires_in: u64,
    scope: String,
}

const SCOPES: &str = "account:read apps:read attributes:read callbar callbar:read contacts:read contacts:write \
    interaction-triggers:read interaction-triggers:write recordings:read users:read users:write";

/// A body shaped like Talkdesk's: the access token is an ES256 JWT (header, claims with `scp`, `cid`,
/// `acc`, `exp`, and a 64-byte signature), about 1 KB long.
fn talkdesk_body() -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = r#"{"alg":"ES256","typ":"JWT","kid":"8c5d1b3e0f4a4c2b9e7d6a5f4e3d2c1b"}"#;
    let scp: Vec<String> = SCOPES.split(' ').map(|s| format!("\"{s}\"")).collect();
    let claims = format!(
        concat!(
            r#"{{"iss":"https://acme.talkdeskid.com","aud":"https://api.talkdeskapp.com","#,
            r#""sub":"0123456789abcdef0123456789abcdef","cid":"0123456789abcdef0123456789abcdef","#,
            r#""acc":"5f3e2d1c0b9a8f7e6d5c4b3a","acc_name":"acme","region":"td-us-1","#,
            r#""jti":"2f1e0d9c-8b7a-4654-9321-0fedcba98765","scp":[{}],"iat":1764340000,"#,
            r#""nbf":1764340000,"exp":1764340600,"gty":"client-credentials","azp":"0123456789abcdef0123456789abcdef","#,
            r#""tid":"5f3e2d1c0b9a8f7e6d5c4b3a","ver":"2"}}"#
        ),
        scp.join(",")
    );
    let signature = [0x5au8; 64];
    let token = format!("{}.{}.{}", b64.encode(header), b64.encode(claims), b64.encode(signature));
    format!(r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":600,"scope":"{SCOPES}"}}"#).into_bytes()
}

fn bench(c: &mut Criterion) {
    let body = talkdesk_body();
    let token_len = serde_json::from_slice::<Bare>(&body).unwrap().access_token.len();
    assert!((900..=1200).contains(&token_len), "the access token should be about 1 KB, not {token_len} bytes");
    let response =
        http::Response::builder().status(200).header("content-type", "application/json").body(body.clone()).unwrap();
    let now = Instant::now();

    let mut group = c.benchmark_group("response");
    group.bench_function("from_http", |b| {
        b.iter(|| black_box(TokenResponse::from_http(black_box(&response), now).unwrap()))
    });
    group.bench_function("serde_json_bare", |b| {
        b.iter(|| black_box(serde_json::from_slice::<Bare>(black_box(response.body())).unwrap()))
    });
    // Context: the baseline plus what the core adds by design, wiping the access token when it is dropped
    // (in bulk, through `[u8]`, as the core's secret types do).
    group.bench_function("serde_json_bare_zeroizing", |b| {
        b.iter(|| {
            let bare = serde_json::from_slice::<Bare>(black_box(response.body())).unwrap();
            let mut token = bare.access_token.into_bytes();
            black_box((&token, bare.token_type, bare.expires_in, bare.scope));
            zeroize::Zeroize::zeroize(token.as_mut_slice());
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
