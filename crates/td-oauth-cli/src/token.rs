//! `token`, `exchange` and `refresh`: one grant each, printed as the token alone or as JSON.

use serde_json::{Map, Value, json};
use td_oauth_core::{AuthorizationCode, Grant, PkceVerifier, RefreshToken, Scopes, TokenResponse};

use crate::args::Connection;
use crate::error::CliError;
use crate::output::out;
use crate::secrets::SecretArg;

/// `--scope`'s value as the core's scopes (none: everything the client may have).
pub(crate) fn scopes(scope: Option<&str>) -> Result<Scopes, CliError> {
    Ok(scope.map(str::parse).transpose()?.unwrap_or_default())
}

pub(crate) fn token(
    connection: &Connection,
    scope: Option<&str>,
    json: bool,
    dry_run: bool,
    cache: Option<&str>,
    user: bool,
) -> Result<(), CliError> {
    if user {
        return match crate::login_store::user_token(connection, scopes(scope)?, dry_run)? {
            Some(token) => print_token(&token, json),
            None => Ok(()),
        };
    }
    let grant = Grant::client_credentials(scopes(scope)?);
    if dry_run {
        return crate::dry_run::print_request(connection, &grant);
    }
    match cache {
        Some(cache_url) => print_token(&*crate::fleet::cached_token(connection, cache_url, grant)?, json),
        None => print_token(&connection.fetch(&grant)?, json),
    }
}

/// Where `exchange` reads the code and the verifier from.
pub(crate) struct ExchangeInput<'a> {
    pub(crate) code: SecretArg<'a>,
    pub(crate) code_verifier: SecretArg<'a>,
    pub(crate) redirect_uri: &'a str,
}

pub(crate) fn exchange(connection: &Connection, input: &ExchangeInput<'_>, json: bool) -> Result<(), CliError> {
    if input.code.uses_stdin() && input.code_verifier.uses_stdin() {
        return Err(CliError::Input(
            "--code - and --code-verifier - cannot both read standard input; give one of them as a file".into(),
        ));
    }
    let code = input.code.require()?;
    let code_verifier = input.code_verifier.read()?.map(|v| PkceVerifier::new(v.as_str()));
    let grant = Grant::authorization_code(AuthorizationCode::new(code.as_str()), input.redirect_uri, code_verifier);
    print_token(&connection.fetch(&grant)?, json)
}

pub(crate) fn refresh(
    connection: &Connection,
    refresh_token: &SecretArg<'_>,
    scope: Option<&str>,
    json: bool,
) -> Result<(), CliError> {
    let refresh_token = RefreshToken::new(refresh_token.require()?.as_str());
    print_token(&connection.fetch(&Grant::refresh_token(refresh_token, scopes(scope)?))?, json)
}

fn print_token(token: &TokenResponse, json: bool) -> Result<(), CliError> {
    if json { out!("{}", response_json(token)) } else { out!("{}", token.access_token().secret()) }
}

/// The response's fields as the server sent them (`expires_in` is the core's default when it sent none).
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
