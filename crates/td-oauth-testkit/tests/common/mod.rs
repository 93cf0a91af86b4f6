//! Helpers shared by the integration tests: a ureq client that trusts the server's certificate,
//! assertions signed with jsonwebtoken (aws-lc-rs for ES512, with the `aws-lc-rs` feature), and token requests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use td_oauth_testkit::{Algorithm, ClientCredentials, JWT_BEARER, TestServer};

/// A client that never follows redirects, never treats a status as an error, and trusts the
/// server's self-signed certificate when there is one.
pub fn agent(server: &TestServer) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)));
    if let Some(cert) = server.certificate() {
        let cert = ureq::tls::Certificate::from_der(&cert.der).to_owned();
        config = config.tls_config(
            ureq::tls::TlsConfig::builder().root_certs(ureq::tls::RootCerts::Specific(Arc::new(vec![cert]))).build(),
        );
    }
    config.build().into()
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The claims Talkdesk's samples send.
pub fn claims(creds: &ClientCredentials, aud: &str) -> Value {
    let now = now();
    json!({
        "iss": creds.client_id,
        "sub": creds.client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 300,
        "jti": format!("{:032x}", rand_u128()),
    })
}

pub fn rand_u128() -> u128 {
    let mut buf = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut buf).unwrap();
    u128::from_le_bytes(buf)
}

/// Signs `claims` with `creds`' private key, header `alg` = its algorithm and `kid` = `kid`.
pub fn sign_with_kid(creds: &ClientCredentials, kid: &str, claims: &Value) -> String {
    match creds.algorithm {
        Algorithm::Es512 => {
            use aws_lc_rs::rand::SystemRandom;
            use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED_SIGNING, EcdsaKeyPair};
            let header = json!({ "alg": "ES512", "kid": kid, "typ": "JWT" });
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P521_SHA512_FIXED_SIGNING, &creds.private_key_der).unwrap();
            let sig = pair.sign(&SystemRandom::new(), message.as_bytes()).unwrap();
            format!("{message}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }
        alg => {
            let (jwt_alg, key) = match alg {
                Algorithm::Es256 => (jsonwebtoken::Algorithm::ES256, ec_key(creds)),
                Algorithm::Es384 => (jsonwebtoken::Algorithm::ES384, ec_key(creds)),
                Algorithm::Ps256 => (jsonwebtoken::Algorithm::PS256, rsa_key(creds)),
                Algorithm::Ps384 => (jsonwebtoken::Algorithm::PS384, rsa_key(creds)),
                Algorithm::Ps512 => (jsonwebtoken::Algorithm::PS512, rsa_key(creds)),
                Algorithm::Es512 => panic!("ES512 needs the aws-lc-rs feature"),
            };
            let mut header = jsonwebtoken::Header::new(jwt_alg);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(&header, claims, &key).unwrap()
        }
    }
}

fn ec_key(creds: &ClientCredentials) -> jsonwebtoken::EncodingKey {
    jsonwebtoken::EncodingKey::from_ec_pem(creds.private_key_pem.as_bytes()).unwrap()
}

fn rsa_key(creds: &ClientCredentials) -> jsonwebtoken::EncodingKey {
    jsonwebtoken::EncodingKey::from_rsa_pem(creds.private_key_pem.as_bytes()).unwrap()
}

pub fn sign(creds: &ClientCredentials, claims: &Value) -> String {
    sign_with_kid(creds, &creds.key_id, claims)
}

/// A valid assertion for `server`.
pub fn assertion(server: &TestServer, creds: &ClientCredentials) -> String {
    sign(creds, &claims(creds, server.token_url()))
}

/// A status, headers and body as read by the client.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an OAuth error and returns its description.
    pub fn assert_error(&self, status: u16, code: &str) -> String {
        let json = self.json();
        assert_eq!((self.status, json["error"].as_str().unwrap()), (status, code), "{json}");
        json["error_description"].as_str().unwrap().to_owned()
    }
}

fn read(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Answer, ureq::Error> {
    let mut response = result?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().with_config().limit(64 * 1024 * 1024).read_to_vec()?;
    Ok(Answer { status, headers, body })
}

/// POSTs a form to the token endpoint, optionally with Basic credentials.
pub fn try_post_token(
    agent: &ureq::Agent,
    server: &TestServer,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Result<Answer, ureq::Error> {
    let mut request = agent.post(server.token_url());
    if let Some((id, secret)) = basic {
        request = request.header("Authorization", format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))));
    }
    read(request.send_form(form.iter().copied()))
}

/// POSTs a form to the token endpoint with this `Authorization` header, sent as given.
pub fn post_token_with_authorization(
    agent: &ureq::Agent,
    server: &TestServer,
    form: &[(&str, &str)],
    authorization: &str,
) -> Answer {
    read(agent.post(server.token_url()).header("Authorization", authorization).send_form(form.iter().copied())).unwrap()
}

pub fn post_token(
    agent: &ureq::Agent,
    server: &TestServer,
    form: &[(&str, &str)],
    basic: Option<(&str, &str)>,
) -> Answer {
    try_post_token(agent, server, form, basic).unwrap()
}

/// A client-credentials request authenticated with `assertion`.
pub fn with_assertion(agent: &ureq::Agent, server: &TestServer, assertion: &str, scope: Option<&str>) -> Answer {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    post_token(agent, server, &form, None)
}

pub fn try_get(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Result<Answer, ureq::Error> {
    let mut request = agent.get(url);
    if let Some(token) = bearer {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    read(request.call())
}

pub fn get(agent: &ureq::Agent, url: &str, bearer: Option<&str>) -> Answer {
    try_get(agent, url, bearer).unwrap()
}

/// Decodes a JWT's claims without verifying it.
pub fn jwt_claims(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}
