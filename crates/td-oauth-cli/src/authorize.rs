//! `authorize-url`: the URL that starts the authorization-code flow.

use serde_json::json;
use td_oauth_core::endpoints::{EndpointUrl, check_redirect_uri};
use td_oauth_core::random::OsRandom;
use td_oauth_core::{AuthorizeRequest, Scopes};

use crate::args::{Connection, PromptArgs};
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
                "prompt": request.prompt().map(td_oauth_core::authorize::Prompt::as_str),
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
