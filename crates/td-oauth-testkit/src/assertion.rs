//! Client authentication at the token endpoint: signed-JWT assertions (verified with
//! `jsonwebtoken` on its aws-lc-rs backend, or aws-lc-rs itself for ES512, which jsonwebtoken 12 lacks) and
//! HTTP Basic.
//! Independent of td-oauth-core's signing code on purpose, so it can catch its mistakes.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use http::header::AUTHORIZATION;
use serde_json::Value;

use crate::algorithm::Algorithm;
use crate::keys;
use crate::record::{AuthMethod, RecordedRequest};
use crate::reply::OAuthError;
use crate::state::State;

/// The only `client_assertion_type` accepted, compared exactly.
/// The `client_assertion_type` for signed-JWT client authentication.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Authenticates the client of a token request; returns its client id.
pub(crate) fn authenticate(
    state: &mut State,
    token_url: &str,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
    record: &mut RecordedRequest,
) -> Result<String, OAuthError> {
    let basic = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, rest) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
    });
    let has_assertion = form.contains_key("client_assertion") || form.contains_key("client_assertion_type");
    record.client_id = form.get("client_id").cloned();

    let client_id = match (has_assertion, basic) {
        (true, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "use one client authentication method, not both client_assertion and HTTP Basic",
            ));
        }
        (true, None) => {
            record.auth_method = Some(AuthMethod::ClientAssertion);
            verify_assertion(state, token_url, form, record)?
        }
        (false, Some(credentials)) => {
            record.auth_method = Some(AuthMethod::Basic);
            verify_basic(state, credentials, record)?
        }
        (false, None) if form.contains_key("client_secret") => {
            return Err(OAuthError::invalid_client(
                "client_secret in the body is not accepted: use HTTP Basic or a client assertion",
            ));
        }
        (false, None) => {
            return Err(OAuthError::invalid_client(
                "client authentication is required: send client_assertion or HTTP Basic credentials",
            ));
        }
    };
    if let Some(claimed) = form.get("client_id")
        && *claimed != client_id
    {
        return Err(OAuthError::invalid_client(format!(
            "client_id {claimed} does not match the authenticated client {client_id}"
        )));
    }
    Ok(client_id)
}

fn verify_basic(state: &State, credentials: &str, record: &mut RecordedRequest) -> Result<String, OAuthError> {
    let bad = || OAuthError::invalid_client("the Basic credentials are not base64(client_id:secret)");
    let decoded = STANDARD.decode(credentials).map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    // RFC 6749 §2.3.1 form-encodes both parts before joining them, so the first `:` is the separator (an
    // id holding `:` arrives as `%3A`) and `+` is a space. For Talkdesk's hex ids this changes nothing.
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let (Some(id), Some(secret)) = (decode_form_component(id), decode_form_component(secret)) else {
        return Err(OAuthError::invalid_client(
            "the Basic credentials are not form-encoded: RFC 6749 §2.3.1 encodes `&` and `=` (and `:` in the id)",
        ));
    };
    record.client_id = Some(id.clone());
    let client = state.clients.get(&id).ok_or_else(|| OAuthError::invalid_client(format!("unknown client_id {id}")))?;
    if !constant_time_eq(client.secret.as_bytes(), secret.as_bytes()) {
        return Err(OAuthError::invalid_client("wrong client secret"));
    }
    Ok(id)
}

/// One application/x-www-form-urlencoded value; `None` if it holds `&` or `=`, which the encoding never
/// leaves as they are.
fn decode_form_component(s: &str) -> Option<String> {
    if s.contains(['&', '=']) {
        return None;
    }
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn verify_assertion(
    state: &mut State,
    token_url: &str,
    form: &HashMap<String, String>,
    record: &mut RecordedRequest,
) -> Result<String, OAuthError> {
    fn fail(description: impl Into<String>) -> OAuthError {
        OAuthError::invalid_client(description)
    }
    match form.get("client_assertion_type") {
        Some(t) if t == JWT_BEARER => {}
        Some(t) => {
            return Err(fail(format!("client_assertion_type must be {JWT_BEARER}, not {t}")));
        }
        None => return Err(fail(format!("client_assertion_type is missing (must be {JWT_BEARER})"))),
    }
    let jwt = form.get("client_assertion").ok_or_else(|| fail("client_assertion is missing"))?;

    let mut parts = jwt.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(fail("client assertion is not a compact JWT (three dot-separated parts)"));
    };
    let header =
        decode_json(header_b64).ok_or_else(|| fail("client assertion header is not base64url-encoded JSON"))?;
    let claims = decode_json(claims_b64);
    record.assertion_header = Some(header.clone());
    record.assertion_claims = claims.clone();
    if let Some(iss) = claims.as_ref().and_then(|c| c.get("iss")).and_then(Value::as_str) {
        record.client_id = Some(iss.to_owned());
    }
    let claims = claims.ok_or_else(|| fail("client assertion claims are not base64url-encoded JSON"))?;

    // Header: alg and kid pick the registered key.
    let alg_name =
        header.get("alg").and_then(Value::as_str).ok_or_else(|| fail("client assertion header has no alg"))?;
    let alg: Algorithm = alg_name
        .parse()
        .map_err(|_| fail(format!("alg {alg_name} is not accepted: use ES256, ES384, ES512, PS256, PS384 or PS512")))?;
    let kid = header.get("kid").and_then(Value::as_str).ok_or_else(|| fail("client assertion header has no kid"))?;
    let client =
        state.kids.get(kid).and_then(|id| state.clients.get(id)).ok_or_else(|| fail(format!("unknown kid {kid}")))?;
    // The client's first key, or one added during a rotation.
    let (key_alg, public_key_der, decoding_key) = match client.other_keys.get(kid) {
        Some(other) => (other.algorithm, &other.public_key_der, &other.decoding_key),
        None => (client.algorithm, &client.public_key_der, &client.decoding_key),
    };
    if alg != key_alg {
        return Err(fail(format!("alg {alg} does not match the algorithm of key {kid} ({key_alg})")));
    }

    // Signature, over the exact bytes sent.
    let message = &jwt.as_bytes()[..header_b64.len() + 1 + claims_b64.len()];
    let valid = match (alg.jsonwebtoken(), decoding_key) {
        (Some(jwt_alg), Some(key)) => {
            jsonwebtoken::crypto::verify(signature_b64, message, key, jwt_alg).unwrap_or(false)
        }
        _ => keys::b64url_decode(signature_b64).is_some_and(|sig| verify_es512(public_key_der, message, &sig)),
    };
    if !valid {
        return Err(fail(format!("client assertion signature does not verify with key {kid}")));
    }

    // Claims.
    let client_id = client.id.clone();
    let claim_str = |name: &str| claims.get(name).and_then(Value::as_str);
    let iss = claim_str("iss").ok_or_else(|| fail("client assertion has no iss"))?;
    if iss != client_id {
        return Err(fail(format!("iss must be the client id {client_id} that owns key {kid}, not {iss}")));
    }
    match claim_str("sub") {
        Some(sub) if sub == iss => {}
        Some(sub) => return Err(fail(format!("sub ({sub}) must equal iss ({iss})"))),
        None => return Err(fail("client assertion has no sub")),
    }
    match claims.get("aud") {
        Some(Value::String(aud)) if aud == token_url || state.extra_audiences.contains(aud) => {}
        Some(other) => {
            return Err(fail(format!("aud must be {token_url}, not {other}")));
        }
        None => return Err(fail(format!("client assertion has no aud (must be {token_url})"))),
    }
    let now = state.now_secs();
    let exp = claims.get("exp").and_then(Value::as_f64).ok_or_else(|| fail("client assertion has no numeric exp"))?;
    if exp <= now as f64 {
        return Err(fail("client assertion has expired"));
    }
    let iat = claims.get("iat").and_then(Value::as_f64).ok_or_else(|| fail("client assertion has no numeric iat"))?;
    if iat > (now + state.iat_leeway.as_secs()) as f64 {
        return Err(fail("client assertion iat is in the future"));
    }
    if let Some(nbf) = claims.get("nbf") {
        let nbf = nbf.as_f64().ok_or_else(|| fail("client assertion nbf is not a number"))?;
        if nbf > (now + state.iat_leeway.as_secs()) as f64 {
            return Err(fail("client assertion is not valid yet (nbf is in the future)"));
        }
    }
    let jti = claim_str("jti").filter(|j| !j.is_empty()).ok_or_else(|| fail("client assertion has no jti"))?;
    if !state.seen_jti.insert(jti.to_owned()) {
        return Err(fail(format!("jti {jti} was already used")));
    }
    Ok(client_id)
}

/// ES512, which jsonwebtoken lacks, through aws-lc-rs.
fn verify_es512(spki_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    use aws_lc_rs::signature::{ECDSA_P521_SHA512_FIXED, UnparsedPublicKey};
    UnparsedPublicKey::new(&ECDSA_P521_SHA512_FIXED, spki_der).verify(message, signature).is_ok()
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = keys::b64url_decode(part)?;
    match serde_json::from_slice(&bytes).ok()? {
        v @ Value::Object(_) => Some(v),
        _ => None,
    }
}
