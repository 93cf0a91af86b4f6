//! `login`: the authorization-code flow with PKCE through the user's browser and a loopback redirect
//! (RFC 8252), then the code exchanged and the refresh token kept for `token --user` (see
//! [`crate::login_store`]).

use std::time::Duration;

use td_oauth_core::authorize::Prompt;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{AuthorizeRequest, Scopes};

use crate::args::Connection;
use crate::args::PromptArgs;
use crate::browser;
use crate::error::CliError;
use crate::login_store::LoginStore;
use crate::loopback::Loopback;
use crate::output::report;

pub(crate) struct Options<'a> {
    pub(crate) scope: Option<&'a str>,
    pub(crate) authorize_url: Option<&'a str>,
    pub(crate) no_browser: bool,
    pub(crate) wait: Duration,
    pub(crate) prompt: &'a PromptArgs,
}

pub(crate) fn login(connection: &Connection, options: &Options<'_>) -> Result<(), CliError> {
    let store = LoginStore::for_connection(connection)?;
    // Everything the exchange needs is checked before the user is sent to the browser.
    let client = connection.ureq_client()?;
    let endpoint = crate::authorize::endpoint(connection, options.authorize_url)?;
    let scopes: Scopes = options.scope.map(str::parse).transpose()?.unwrap_or_default();

    let asked_offline = scopes.contains("offline_access");
    let loopback = Loopback::bind()?;
    let request = options.prompt.apply(
        AuthorizeRequest::new(connection.client_id()?, loopback.redirect_uri()).with_scopes(scopes).with_pkce(true),
    );
    let prompt = request.prompt();
    let (url, pending) = request.build(&endpoint, &OsRandom::new())?;

    if !options.no_browser && browser::open(url.as_str()) {
        report(format_args!("opening your browser to log in; if it does not open, visit:\n\n  {url}\n"));
    } else {
        report(format_args!("open this URL in a browser on this machine to log in:\n\n  {url}\n"));
    }
    report(format_args!(
        "waiting up to {} s for the browser to come back to {}",
        options.wait.as_secs(),
        loopback.redirect_uri()
    ));

    let (grant, browser) = loopback.wait(&pending, options.wait)?;
    let token = match client.fetch(&grant) {
        Ok(token) => token,
        Err(err) => {
            browser.failed();
            return Err(connection.explain(err, client.token_client()));
        }
    };
    let Some(refresh_token) = token.refresh_token() else {
        browser.failed();
        let hint = if !asked_offline {
            "ask for one with --scope \"offline_access …\" if the client may have it".to_owned()
        } else if prompt == Some(Prompt::Consent) {
            "offline_access was asked for, with prompt=consent: the client may not be allowed refresh tokens, \
             or the user did not grant offline access"
                .to_owned()
        } else {
            let sent = prompt.map_or("no prompt".to_owned(), |prompt| format!("prompt={prompt}"));
            format!(
                "offline_access was asked for with {sent}; OpenID Connect servers grant it only with \
                 prompt=consent, which login sends unless --prompt or --no-prompt say otherwise"
            )
        };
        return Err(CliError::Refused(format!(
            "the server granted no refresh token, so there is no login to keep: {hint}"
        )));
    };
    let saved = store.lock().and_then(|(_dir, _lock)| store.save(refresh_token, token.scope()));
    if let Err(err) = saved {
        browser.failed();
        return Err(err);
    }
    browser.succeeded();
    report(format_args!(
        "logged in: {}; the login is kept in {} (`td-oauth logout` removes it)",
        store.describe(),
        store.path().display()
    ));
    Ok(())
}
