//! The access tokens a run's API requests carried, replaced in every server text it shows (`api`, `whoami`).
//!
//! A gateway may echo the `Authorization` header it received: in an error's `message` or `description`, in a
//! response header, in a body. The library's errors already replace the token of their own request; the body,
//! the headers, the items and the userinfo fields the command prints are cleaned here with the same rule,
//! td-oauth-api's [`SentCredentials`] rule (the token as sent, percent- or JSON-escaped, and pieces
//! of it a length limit leaves). The tokens are recorded as the provider fetches them (through the
//! [`SharedCache`] seam, which sees every fetch, the one after a 401 included).

use std::sync::{Arc, Mutex, PoisonError};

use td_oauth_api::SentCredentials;
use td_oauth_core::{Grant, TokenResponse};
use td_oauth_ureq::{Client, SharedCache};

use crate::error::CliError;

/// The tokens this run sent.
#[derive(Debug, Default)]
pub(crate) struct SentTokens(Mutex<SentCredentials>);

impl SentTokens {
    fn record(&self, token: &TokenResponse) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).add_token(token.access_token());
    }

    /// `text` with every token sent, and every long enough piece of one, replaced.
    pub(crate) fn redact(&self, text: &str) -> String {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).redact(text)
    }

    /// The error with its message redacted.
    pub(crate) fn redact_error(&self, err: CliError) -> CliError {
        err.map_message(|message| self.redact(&message))
    }
}

/// A [`SharedCache`] that shares nothing: it fetches as the provider would without one, and records the
/// token, so that [`SentTokens`] knows every token the provider hands out.
#[derive(Debug)]
pub(crate) struct Recorder(pub(crate) Arc<SentTokens>);

impl SharedCache for Recorder {
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, td_oauth_ureq::Error> {
        let token = client.fetch(grant)?;
        self.0.record(&token);
        Ok(token)
    }
}
