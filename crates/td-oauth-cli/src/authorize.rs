//! `authorize-url`: the URL that starts the authorization-code flow.

use clap::Args;
use serde_json::json;
use td_oauth_core::authorize::Prompt;
use td_oauth_core::endpoints::{EndpointUrl, check_redirect_uri};
use td_oauth_core::random::OsRandom;
use td_oauth_core::{AuthorizeRequest, Scopes};

use crate::args::Connection;
use crate::error::CliError;
use crate::output::out;

pub(crate) struct Options<'a> {
    pub(crate) redirect_uri: &'a str,
    pub(crate) scope: Option<&'a str>,
    pub(crate) state: Option<&'a str>,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) pkce: bool,
    pub(crate) authorize_url: Option<&'a str>,
    pub(crate) prompt: &'a PromptArgs,
    pub(crate) json: bool,
}

/// OpenID Connect's `prompt`, shared by `login` and `authorize-url`.
#[derive(Debug, Args)]
pub(crate) struct PromptArgs {
    /// OpenID Connect's prompt: none, login, consent or select_account. Default: consent when --scope asks
    /// for offline_access (OpenID Connect Core §11 grants a refresh token only then), else none. Talkdesk
    /// documents no prompt.
    #[arg(long, value_name = "PROMPT", value_parser = parse_prompt)]
    pub(crate) prompt: Option<Prompt>,
    /// Send no prompt at all, not even consent with offline_access (for a server that refuses it).
    #[arg(long, conflicts_with = "prompt")]
    pub(crate) no_prompt: bool,
}

impl PromptArgs {
    /// `request` with the prompt chosen, or the core's default.
    pub(crate) fn apply(&self, request: AuthorizeRequest) -> AuthorizeRequest {
        match (self.prompt, self.no_prompt) {
            (Some(prompt), _) => request.with_prompt(prompt),
            (None, true) => request.without_prompt(),
            (None, false) => request,
        }
    }
}

fn parse_prompt(text: &str) -> Result<Prompt, String> {
    text.parse().map_err(|err: td_oauth_core::Error| err.to_string())
}

pub(crate) fn authorize_url(connection: &Connection, options: &Options<'_>) -> Result<(), CliError> {
    // The same check the code exchange makes, so a URI that cannot receive a code is refused here first.
    check_redirect_uri(options.redirect_uri)?;
    let endpoint = endpoint(connection, options.authorize_url)?;
    let scopes: Scopes = options.scope.map(str::parse).transpose()?.unwrap_or_default();
    let request = AuthorizeRequest::new(connection.client_id()?, options.redirect_uri)
        .with_scopes(scopes)
        .with_pkce(options.pkce);
    let mut request = options.prompt.apply(request);
    if let Some(state) = options.state {
        request = request.with_state(state);
    }
    if let Some(nonce) = options.nonce {
        request = request.with_nonce(nonce);
    }
    let (url, pending) = request.build(&endpoint, &OsRandom::new())?;
    if options.json {
        let verifier = pending.code_verifier().map(|v| v.secret().to_owned());
        out!(
            "{}",
            json!({
                "url": url.as_str(),
                "state": pending.state(),
                "nonce": pending.nonce(),
                "prompt": request.prompt().map(Prompt::as_str),
                "code_verifier": verifier,
            })
        )
    } else {
        out!("{url}")
    }
}

/// The authorize endpoint: `--authorize-url`, else the one beside the connection's token endpoint.
pub(crate) fn endpoint(connection: &Connection, authorize_url: Option<&str>) -> Result<EndpointUrl, CliError> {
    match authorize_url {
        Some(url) => Ok(EndpointUrl::parse("authorize", url)?),
        None => connection.endpoints()?.authorize_url().cloned().ok_or_else(|| {
            CliError::Input("the token URL does not end in /oauth/token; give --authorize-url URL".into())
        }),
    }
}
