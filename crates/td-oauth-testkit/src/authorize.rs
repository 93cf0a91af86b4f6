//! `GET /oauth/authorize`: approves the test user at once and redirects back with a code, or
//! with an error. Requests whose `redirect_uri` cannot be trusted get a 400 page instead,
//! since redirecting there would hand a code or an error to an unknown site (RFC 6749 §4.1.2.1). A
//! registered loopback redirect (`http://127.0.0.1/callback`) matches on any port (RFC 8252 §7.3).

use std::collections::HashMap;
use std::time::Instant;

use http::{Method, StatusCode};
use url::Url;

use crate::clients::Grant;
use crate::keys;
use crate::record::RecordedRequest;
use crate::reply::{OAuthError, Reply};
use crate::state::{CodeGrant, Shared};
use crate::token::granted_scopes;

/// Handles an authorize request.
pub(crate) fn handle(shared: &Shared, method: &Method, query: Option<&str>, record: &mut RecordedRequest) -> Reply {
    if method != Method::GET {
        return OAuthError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the authorize endpoint accepts GET only",
        )
        .reply();
    }
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect();
    record.client_id = params.get("client_id").cloned();
    record.scope = params.get("scope").cloned();

    // First the checks that decide whether we may redirect at all.
    let Some(redirect_uri) = params.get("redirect_uri") else {
        return OAuthError::invalid_request("redirect_uri is missing").reply();
    };
    let mut redirect = match Url::parse(redirect_uri) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.fragment().is_none() => url,
        _ => {
            return OAuthError::invalid_request("redirect_uri must be an absolute http(s) URL without a fragment")
                .reply();
        }
    };
    let mut state = shared.lock();
    let client = params.get("client_id").and_then(|id| state.clients.get(id));
    if let Some(client) = client
        && !client.redirect_uris.is_empty()
        && !client.redirect_uris.iter().any(|registered| redirect_matches(registered, redirect_uri, &redirect))
    {
        return OAuthError::invalid_request("redirect_uri is not registered for this client").reply();
    }

    // Then the ones reported back to the client through the redirect.
    let result = (|| {
        let client = match (params.get("client_id"), client) {
            (None, _) => return Err(OAuthError::invalid_request("client_id is missing")),
            (Some(id), None) => {
                return Err(OAuthError::invalid_request(format!("unknown client_id {id}")));
            }
            (Some(_), Some(client)) => client,
        };
        match params.get("response_type").map(String::as_str) {
            Some("code") => {}
            Some(other) => {
                return Err(OAuthError::new(
                    StatusCode::BAD_REQUEST,
                    "unsupported_response_type",
                    format!("response_type {other} is not supported: use code"),
                ));
            }
            None => return Err(OAuthError::invalid_request("response_type is missing")),
        }
        if !client.grants.contains(&Grant::AuthorizationCode) {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "this client may not use the authorization code grant",
            ));
        }
        let scopes = granted_scopes(&state, &client.id, params.get("scope"))?;
        let challenge = match (params.get("code_challenge"), params.get("code_challenge_method").map(String::as_str)) {
            (None, None) => None,
            (Some(challenge), Some("S256")) => {
                let well_formed = challenge.len() == 43
                    && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !well_formed {
                    return Err(OAuthError::invalid_request("code_challenge must be 43 base64url characters (S256)"));
                }
                Some(challenge.clone())
            }
            (Some(_), Some(method)) => {
                return Err(OAuthError::invalid_request(format!(
                    "code_challenge_method {method} is not supported: use S256"
                )));
            }
            (Some(_), None) => {
                return Err(OAuthError::invalid_request(
                    "code_challenge_method is missing: plain is not supported, use S256",
                ));
            }
            (None, Some(_)) => {
                return Err(OAuthError::invalid_request("code_challenge_method was sent without a code_challenge"));
            }
        };
        Ok(CodeGrant {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scopes,
            nonce: params.get("nonce").cloned(),
            code_challenge: challenge,
            issued: Instant::now(),
        })
    })();

    {
        let mut pairs = redirect.query_pairs_mut();
        match result {
            Ok(grant) => {
                let code = keys::random_hex(20);
                state.codes.insert(code.clone(), grant);
                pairs.append_pair("code", &code);
            }
            Err(error) => {
                record.error = Some(error.code.to_owned());
                record.error_description = Some(error.description.clone());
                pairs.append_pair("error", error.code);
                pairs.append_pair("error_description", &error.description);
            }
        }
        if let Some(state_param) = params.get("state") {
            pairs.append_pair("state", state_param);
        }
    }
    Reply::redirect(redirect.as_str())
}

/// Whether `redirect` is the `registered` URI: the same string, or for a loopback IP literal over http the
/// same URI on any port, which a native app picks when it starts (RFC 8252 §7.3).
fn redirect_matches(registered: &str, raw: &str, redirect: &Url) -> bool {
    if registered == raw {
        return true;
    }
    let Ok(mut registered) = Url::parse(registered) else { return false };
    let loopback = |url: &Url| {
        url.scheme() == "http"
            && match url.host() {
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                _ => false,
            }
    };
    if !loopback(&registered) || !loopback(redirect) {
        return false;
    }
    registered.set_port(redirect.port()).is_ok() && registered == *redirect
}
