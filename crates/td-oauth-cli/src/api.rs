//! `api`: call any Talkdesk API endpoint with a token, as `gh api` does for GitHub. td-oauth-core builds
//! the request and reads the answer (paths that cannot leave the gateway, Talkdesk's error body, HAL
//! pages); td-oauth-ureq sends it with the token, fetched once per run and reused for every page.

use std::sync::Arc;

use serde_json::{Map, Value};
use td_oauth_api::{ApiError, ApiGateway, Paginator};
use td_oauth_core::http::{Method, Response};
use td_oauth_core::{Grant, RefreshToken, Scopes};
use td_oauth_ureq::{ApiClient, Config};

use crate::args::{ApiTarget, Connection};
use crate::error::CliError;
use crate::output::{clean, out};
use crate::redact::{Recorder, SentTokens};
use crate::secrets::{self, Lifetime, SecretArg};

impl ApiTarget {
    /// The gateway from --api-url, else the connection's region.
    fn gateway(&self, connection: &Connection) -> Result<ApiGateway, CliError> {
        if let Some(url) = &self.api_url {
            return ApiGateway::from_url(url).map_err(api_input);
        }
        let endpoints = connection.endpoints()?;
        ApiGateway::from_endpoints(&endpoints).map_err(|_| {
            CliError::Input(
                "no API gateway: give --api-url URL (or TALKDESK_API_URL); with --account it comes from the \
                 region, but Talkdesk documents none for au, and --token-url says nothing about it"
                    .into(),
            )
        })
    }

    /// The grant: refresh-token (a user) when one is given, else client credentials.
    fn grant(&self) -> Result<Grant, CliError> {
        let scopes: Scopes = self.scope.as_deref().map(str::parse).transpose()?.unwrap_or_default();
        let refresh_token = SecretArg {
            what: "refresh token",
            flag: "--refresh-token",
            value: self.refresh_token.as_deref(),
            file: self.refresh_token_file.as_deref(),
            var: "TALKDESK_REFRESH_TOKEN",
        };
        Ok(match refresh_token.read()? {
            Some(token) => Grant::refresh_token(RefreshToken::new(token.as_str()), scopes),
            None => Grant::client_credentials(scopes),
        })
    }

    /// The API client (the connection's transport, this grant's provider, this gateway), and the tokens its
    /// requests carry, to be redacted from whatever the server answers.
    pub(crate) fn client(&self, connection: &Connection) -> Result<(ApiClient, Arc<SentTokens>), CliError> {
        let gateway = self.gateway(connection)?;
        let sent = Arc::new(SentTokens::default());
        let config = Config::new().with_shared_cache(Arc::new(Recorder(sent.clone())));
        let provider = connection.ureq_client_with(config)?.provider(self.grant()?);
        Ok((ApiClient::new(provider, gateway), sent))
    }
}

/// What `api` was asked to do.
pub(crate) struct Call<'a> {
    pub(crate) args: &'a [String],
    pub(crate) fields: &'a [String],
    pub(crate) input: Option<&'a std::path::Path>,
    pub(crate) paginate: bool,
    pub(crate) include: bool,
}

/// The most a request body read with --input may be.
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Every text the server sent is shown with the request's access token replaced (see [`crate::redact`]):
/// the body, the headers with --include, the items with --paginate, the error.
pub(crate) fn api(connection: &Connection, target: &ApiTarget, call: &Call<'_>) -> Result<(), CliError> {
    let (method, path) = match call.args {
        [path] => (None, path.as_str()),
        [method, path] => (Some(parse_method(method)?), path.as_str()),
        _ => return Err(CliError::Input("give [METHOD] PATH, e.g. `td-oauth api /users/me`".into())),
    };
    let body = body(call)?;
    // As `gh api`: a body without a method is a POST.
    let method = method.unwrap_or(if body.is_some() { Method::POST } else { Method::GET });
    if call.paginate && (method != Method::GET || body.is_some()) {
        return Err(CliError::Input(
            "--paginate follows GET lists; it takes no METHOD other than GET, nor a body".into(),
        ));
    }
    if call.paginate && call.include {
        return Err(CliError::Input(
            "--include shows one answer's status and headers; leave it out with --paginate".into(),
        ));
    }
    let (client, sent) = target.client(connection)?;
    call_and_print(&client, &sent, method, path, body, call).map_err(|err| sent.redact_error(err))
}

fn call_and_print(
    client: &ApiClient,
    sent: &SentTokens,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
    call: &Call<'_>,
) -> Result<(), CliError> {
    if call.paginate {
        let paginator = Paginator::new(client.gateway().clone(), path).map_err(api_input)?;
        for item in client.items(paginator) {
            out!("{}", sent.redact(&item?.to_string()))?;
        }
        return Ok(());
    }
    let request = client.gateway().request(method, path, body.unwrap_or_default(), None).map_err(api_input)?;
    let response = client.send(request)?;
    if call.include {
        print_head(&response, sent)?;
    }
    if response.status().is_success() {
        if !response.body().is_empty() {
            out!("{}", sent.redact(String::from_utf8_lossy(response.body()).trim_end()))?;
        }
        return Ok(());
    }
    Err(ApiError::from_response(&response).into())
}

fn parse_method(text: &str) -> Result<Method, CliError> {
    let upper = text.to_ascii_uppercase();
    match upper.as_str() {
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS" => {
            Method::from_bytes(upper.as_bytes()).map_err(|_| CliError::Input(format!("{text:?} is not an HTTP method")))
        }
        _ if text.starts_with('/') => Err(CliError::Input(format!(
            "{text:?} looks like a path, but a path was given after it too: give [METHOD] PATH"
        ))),
        _ => Err(CliError::Input(format!("{text:?} is not an HTTP method (GET, POST, PUT, PATCH, DELETE)"))),
    }
}

/// The request body: `--input FILE` as given (`-` for standard input), or `-f key=value` fields as a JSON
/// object of strings.
fn body(call: &Call<'_>) -> Result<Option<Vec<u8>>, CliError> {
    if let Some(path) = call.input {
        if !call.fields.is_empty() {
            return Err(CliError::Input("give the body with --input or with -f fields, not both".into()));
        }
        let bytes = if path.as_os_str() == "-" {
            secrets::read_stdin("request body")?.as_bytes().to_vec()
        } else {
            secrets::read_file(path, "request body", MAX_INPUT_BYTES, Lifetime::Short)?.to_vec()
        };
        return Ok(Some(bytes));
    }
    if call.fields.is_empty() {
        return Ok(None);
    }
    let mut object = Map::new();
    for field in call.fields {
        let (key, value) = field
            .split_once('=')
            .filter(|(key, _)| !key.is_empty())
            .ok_or_else(|| CliError::Input(format!("-f takes key=value, not {field:?}")))?;
        object.insert(key.to_owned(), Value::String(value.to_owned()));
    }
    Ok(Some(Value::Object(object).to_string().into_bytes()))
}

/// `HTTP/1.1 200 OK` and the headers, then a blank line, as `curl -i` shows them (a header that echoes the
/// request's `Authorization` shows the marker instead of the token; values cleaned for the terminal).
fn print_head(response: &Response<Vec<u8>>, sent: &SentTokens) -> Result<(), CliError> {
    let status = response.status();
    out!("HTTP/1.1 {} {}", status.as_u16(), status.canonical_reason().unwrap_or_default())?;
    for (name, value) in response.headers() {
        out!("{name}: {}", clean(&sent.redact(&String::from_utf8_lossy(value.as_bytes()))))?;
    }
    out!("")
}

/// An API error found before anything was sent is the command line's.
fn api_input(err: ApiError) -> CliError {
    CliError::Input(err.to_string())
}
