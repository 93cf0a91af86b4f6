//! `token`, `exchange` and `refresh`: one grant each, printed as the token alone or as JSON; and the
//! `--dry-run` view of the request.

use std::io::Read as _;
use std::time::SystemTime;

use serde_json::{Map, Value, json};
use td_oauth_core::{AuthorizationCode, Grant, PkceVerifier, RefreshToken, Scopes, TokenResponse, UnverifiedJwt};

use crate::args::Connection;
use crate::error::CliError;

fn scopes(scope: Option<&str>) -> Result<Scopes, CliError> {
    Ok(scope.map(str::parse).transpose()?.unwrap_or_default())
}

pub(crate) fn token(
    connection: &Connection,
    scope: Option<&str>,
    json: bool,
    dry_run: bool,
    cache: Option<&str>,
) -> Result<(), CliError> {
    let grant = Grant::client_credentials(scopes(scope)?);
    if dry_run {
        return print_request(connection, &grant);
    }
    match cache {
        Some(cache_url) => print_token(&*crate::fleet::cached_token(connection, cache_url, grant)?, json),
        None => fetch_and_print(connection, &grant, json),
    }
}

pub(crate) fn exchange(
    connection: &Connection,
    code: &str,
    redirect_uri: &str,
    code_verifier: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let grant =
        Grant::authorization_code(AuthorizationCode::new(code), redirect_uri, code_verifier.map(PkceVerifier::new));
    fetch_and_print(connection, &grant, json)
}

pub(crate) fn refresh(
    connection: &Connection,
    refresh_token: &str,
    scope: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let refresh_token = if refresh_token == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| CliError::Input(format!("cannot read the refresh token from standard input: {err}")))?;
        text.trim().to_owned()
    } else {
        refresh_token.to_owned()
    };
    if refresh_token.is_empty() {
        return Err(CliError::Input("the refresh token is empty".into()));
    }
    fetch_and_print(connection, &Grant::refresh_token(RefreshToken::new(refresh_token), scopes(scope)?), json)
}

fn fetch_and_print(connection: &Connection, grant: &Grant, json: bool) -> Result<(), CliError> {
    print_token(&connection.ureq_client()?.fetch(grant)?, json)
}

fn print_token(token: &TokenResponse, json: bool) -> Result<(), CliError> {
    if json {
        println!("{}", response_json(token));
    } else {
        println!("{}", token.access_token().secret());
    }
    Ok(())
}

/// The response's fields as the server sent them.
pub(crate) fn response_json(token: &TokenResponse) -> Value {
    let mut object = Map::new();
    object.insert("access_token".into(), json!(token.access_token().secret()));
    object.insert("token_type".into(), json!("Bearer"));
    object.insert("expires_in".into(), json!(token.expires_in().as_secs()));
    if let Some(scope) = token.scope() {
        object.insert("scope".into(), json!(scope));
    }
    if let Some(refresh_token) = token.refresh_token() {
        object.insert("refresh_token".into(), json!(refresh_token.secret()));
    }
    if let Some(sid) = token.session_id() {
        object.insert("sid".into(), json!(sid));
    }
    if let Some(id_token) = token.id_token() {
        object.insert("id_token".into(), json!(id_token.secret()));
    }
    Value::Object(object)
}

/// `--dry-run`: the request as it would go on the wire, with the assertion decoded.
fn print_request(connection: &Connection, grant: &Grant) -> Result<(), CliError> {
    let request = connection.token_client()?.token_request(grant, SystemTime::now())?;
    println!("{} {} HTTP/1.1", request.method(), request.uri());
    for (name, value) in request.headers() {
        // Basic credentials are a secret the user asked to see; print them as sent.
        println!("{name}: {}", value.to_str().unwrap_or("<non-text header>"));
    }
    println!("content-length: {}\n", request.body().len());
    println!("{}", String::from_utf8_lossy(request.body().as_bytes()));
    let assertion = url::form_urlencoded::parse(request.body().as_bytes())
        .find(|(name, _)| name == "client_assertion")
        .map(|(_, value)| value.into_owned());
    if let Some(assertion) = assertion {
        let jwt = UnverifiedJwt::decode(&assertion)?;
        let pretty = |map: &Map<String, Value>| serde_json::to_string_pretty(map).unwrap_or_default();
        println!("\nclient assertion header: {}", pretty(jwt.header()));
        println!("client assertion claims: {}", pretty(jwt.claims()));
    }
    println!("\n(dry run: nothing was sent)");
    Ok(())
}
