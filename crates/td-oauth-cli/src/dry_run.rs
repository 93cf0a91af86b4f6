//! `token --dry-run`: the request as it would go on the wire, with every credential in it redacted. A signed
//! assertion is a working credential for its lifetime and a Basic header is the client secret, so the output
//! shows the assertion's header and claims but not its signature, and no secret at all.

use std::time::SystemTime;

use serde_json::{Map, Value};
use td_oauth_core::Grant;
use td_oauth_core::jwt::UnverifiedJwt;
use url::form_urlencoded;

use crate::args::Connection;
use crate::error::CliError;
use crate::output::out;

/// Form parameters whose whole value is a secret.
const SECRET_PARAMS: [&str; 4] = ["code", "code_verifier", "refresh_token", "client_secret"];

pub(crate) fn print_request(connection: &Connection, grant: &Grant) -> Result<(), CliError> {
    let request = connection.token_client()?.token_request(grant, SystemTime::now())?;
    out!("{} {} HTTP/1.1", request.method(), request.uri())?;
    for (name, value) in request.headers() {
        // The core marks the headers that carry credentials (Basic) as sensitive.
        let shown = if value.is_sensitive() {
            let scheme = value.to_str().ok().and_then(|v| v.split_once(' ')).map(|(scheme, _)| scheme);
            format!("{} <redacted>", scheme.unwrap_or_default())
        } else {
            value.to_str().unwrap_or("<non-text header>").to_owned()
        };
        out!("{name}: {}", shown.trim_start())?;
    }
    out!("content-length: {}\n", request.body().len())?;

    let mut body = Vec::new();
    let mut assertion = None;
    for (name, value) in form_urlencoded::parse(request.body().as_bytes()) {
        let shown = if name == "client_assertion" {
            assertion = Some(UnverifiedJwt::decode(&value)?);
            let signed = value.rsplit_once('.').map_or("", |(signed, _)| signed);
            // Header and claims are base64url, which form encoding leaves as it is.
            format!("{signed}.<signature redacted>")
        } else if SECRET_PARAMS.contains(&&*name) {
            "<redacted>".to_owned()
        } else {
            form_urlencoded::byte_serialize(value.as_bytes()).collect()
        };
        body.push(format!("{}={shown}", form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()));
    }
    out!("{}", body.join("&"))?;

    if let Some(jwt) = assertion {
        // Only a signed assertion uses the key: with --client-secret-file, Basic wins.
        if let Some(key) = connection.token_key.describe() {
            out!("\nclient key: {key}")?;
        }
        let pretty = |map: &Map<String, Value>| serde_json::to_string_pretty(map).unwrap_or_default();
        out!("\nclient assertion header: {}", pretty(jwt.header()))?;
        out!("client assertion claims: {}", pretty(jwt.claims()))?;
    }
    out!("\n(dry run: nothing was sent; the signature and any secret are redacted, so this is no credential)")
}
