//! `login`: the authorization-code flow with PKCE, then the code exchanged and the refresh token kept for
//! `token --user` (see [`crate::login_store`]). The browser comes back to a loopback listener (RFC 8252,
//! [`crate::loopback`]), or, with `--headless`, to the registered loopback URI on whatever machine the
//! browser runs, and the user pastes the address it ended on ([`crate::paste`]).

use std::time::Duration;

use td_oauth_core::authorize::Prompt;
use td_oauth_core::jwt::UnverifiedJwt;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{AuthorizeRequest, PendingAuthorization, Scopes, TokenResponse};

use crate::args::Connection;
use crate::args::PromptArgs;
use crate::args::StorageChoice;
use crate::browser;
use crate::error::CliError;
use crate::login_store::{LoginStore, User};
use crate::loopback::Loopback;
use crate::output::report;

/// The redirect URI of `login --headless`: the loopback URI registered for the client, on the default
/// port, where nothing needs to listen: the user copies the address the browser ends on.
pub(crate) const HEADLESS_REDIRECT_URI: &str = "http://127.0.0.1/callback";

pub(crate) struct Options<'a> {
    pub(crate) scope: Option<&'a str>,
    pub(crate) authorize_url: Option<&'a str>,
    pub(crate) no_browser: bool,
    pub(crate) headless: bool,
    pub(crate) wait: Duration,
    pub(crate) prompt: &'a PromptArgs,
    pub(crate) storage: StorageChoice,
}

pub(crate) fn login(connection: &Connection, options: &Options<'_>) -> Result<(), CliError> {
    let store = LoginStore::for_connection(connection)?;
    // Everything the exchange needs is checked before the user is sent to the browser.
    let client = connection.ureq_client()?;
    let endpoint = crate::authorize::endpoint(connection, options.authorize_url)?;
    let scopes: Scopes = options.scope.map(str::parse).transpose()?.unwrap_or_default();
    let (storage, why) = store.choose(options.storage)?;

    let asked_offline = scopes.contains("offline_access");
    let loopback = if options.headless { None } else { Some(Loopback::bind()?) };
    let redirect_uri = loopback.as_ref().map_or(HEADLESS_REDIRECT_URI, Loopback::redirect_uri);
    let request = options
        .prompt
        .apply(AuthorizeRequest::new(connection.client_id()?, redirect_uri).with_scopes(scopes).with_pkce(true));
    let prompt = request.prompt();
    let (url, pending) = request.build(&endpoint, &OsRandom::new())?;

    let (grant, browser) = match &loopback {
        Some(loopback) => {
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
            (grant, Some(browser))
        }
        None => (crate::paste::read_redirect(url.as_str(), &pending, options.wait)?, None),
    };
    let saved = exchange(connection, &client, &grant, &pending, asked_offline, prompt).and_then(|(token, user)| {
        let refresh_token = token.refresh_token().ok_or_else(|| CliError::Failed("no refresh token".into()))?;
        let (_dir, _lock) = store.lock()?;
        store.save_new(storage, refresh_token, token.scope(), user)
    });
    if let Some(browser) = browser {
        // The page says how the login ended; the terminal says why.
        if saved.is_ok() { browser.succeeded() } else { browser.failed() }
    }
    saved?;
    report(format_args!(
        "logged in: {}; the login is kept in {}, since {why} (`td-oauth logout` removes it, `td-oauth auth status` \
         shows it)",
        store.describe(),
        store.where_kept(storage)
    ));
    Ok(())
}

/// The code exchanged: a token with a refresh token (else why there is none), and the user its ID token names.
fn exchange(
    connection: &Connection,
    client: &td_oauth_ureq::Client,
    grant: &td_oauth_core::Grant,
    pending: &PendingAuthorization,
    asked_offline: bool,
    prompt: Option<Prompt>,
) -> Result<(TokenResponse, User), CliError> {
    let token = connection.finish(client, client.fetch(grant))?;
    if token.refresh_token().is_none() {
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
    }
    let user = user_of(&token, pending, connection.client_id()?.as_str());
    Ok((token, user))
}

/// The user the ID token names (`sub`, `name`), kept for `auth status` to show. The token came straight
/// from the token endpoint in answer to this client's code (OpenID Connect Core §3.1.3.7 lets TLS stand in
/// for its signature there); it must still be for this client and this login (`aud`, `nonce`), else no
/// user is kept.
fn user_of(token: &TokenResponse, pending: &PendingAuthorization, client_id: &str) -> User {
    let Some(jwt) = token.id_token().and_then(|id_token| UnverifiedJwt::decode(id_token.secret()).ok()) else {
        return User::default();
    };
    let claims = jwt.claims();
    let for_us = match &claims.get("aud") {
        Some(serde_json::Value::String(aud)) => aud == client_id,
        Some(serde_json::Value::Array(auds)) => auds.iter().any(|aud| aud == client_id),
        _ => false,
    };
    let this_login = claims.get("nonce").and_then(|nonce| nonce.as_str()) == Some(pending.nonce());
    if !(for_us && this_login) {
        report(format_args!(
            "warning: the ID token is not for this client or this login (aud or nonce): who logged in is not kept"
        ));
        return User::default();
    }
    let text = |name: &str| claims.get(name).and_then(|value| value.as_str()).map(str::to_owned);
    User { sub: text("sub"), name: text("name") }
}
