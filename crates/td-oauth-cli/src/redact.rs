//! The access tokens a run's API requests carried, replaced in every server text it shows (`api`, `whoami`).
//!
//! A gateway may echo the `Authorization` header it received: in an error's `message` or `description`, in a
//! response header, in a body. The token is recorded as the provider fetches it (through the
//! [`SharedCache`] seam, which sees every fetch, the one after a 401 included), and every text shown is
//! cleaned of it, whatever form the request carried it in: `Bearer <token>` and a bare STS token both hold
//! the token itself. A piece of a token cut by a length limit (the API error's texts are bounded) is replaced
//! too, when it is long enough to be one.

use std::sync::{Arc, Mutex, PoisonError};

use td_oauth_core::{AccessToken, Grant, TokenResponse};
use td_oauth_ureq::{Client, SharedCache};

use crate::error::CliError;

/// What a token, or a piece of one, is replaced by.
pub(crate) const MARKER: &str = "[REDACTED access token]";

/// The shortest piece of a token that is replaced on its own: shorter runs of token characters are words.
const MIN_PIECE: usize = 16;

/// The tokens this run sent.
#[derive(Debug, Default)]
pub(crate) struct SentTokens(Mutex<Vec<AccessToken>>);

impl SentTokens {
    fn record(&self, token: &AccessToken) {
        let mut tokens = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if !tokens.iter().any(|known| known.secret() == token.secret()) {
            tokens.push(token.clone());
        }
    }

    /// `text` with every token sent, and every long enough piece of one, replaced by [`MARKER`].
    pub(crate) fn redact(&self, text: &str) -> String {
        let tokens = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if tokens.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        // Tokens are RFC 6750 b64tokens (AccessToken checks it), so a token or a piece of one lies within a
        // run of b64token characters: each run is looked at on its own.
        while let Some(start) = rest.find(is_token_char) {
            out.push_str(&rest[..start]);
            let run = &rest[start..];
            let end = run.find(|c: char| !is_token_char(c)).unwrap_or(run.len());
            out.push_str(&redact_run(&run[..end], &tokens));
            rest = &run[end..];
        }
        out.push_str(rest);
        out
    }

    /// The error with its message redacted.
    pub(crate) fn redact_error(&self, err: CliError) -> CliError {
        err.map_message(|message| self.redact(&message))
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/' | '=')
}

/// One run of token characters: whole tokens inside it replaced; or the run replaced whole when it is a
/// piece of a token; or its end (start) replaced when it is a token's start (end), as a cut leaves them.
fn redact_run(run: &str, tokens: &[AccessToken]) -> String {
    let mut run = run.to_owned();
    for token in tokens.iter().map(AccessToken::secret) {
        if run.contains(token) {
            run = run.replace(token, MARKER);
        }
    }
    for token in tokens.iter().map(AccessToken::secret) {
        if run.len() >= MIN_PIECE && token.contains(run.as_str()) {
            return MARKER.to_owned();
        }
        let longest = run.len().min(token.len());
        if let Some(len) = (MIN_PIECE..=longest).rev().find(|&len| run.ends_with(&token[..len])) {
            run.replace_range(run.len() - len.., MARKER);
        }
        let longest = run.len().min(token.len());
        if let Some(len) = (MIN_PIECE..=longest).rev().find(|&len| run.starts_with(&token[token.len() - len..])) {
            run.replace_range(..len, MARKER);
        }
    }
    run
}

/// A [`SharedCache`] that shares nothing: it fetches as the provider would without one, and records the
/// token, so that [`SentTokens`] knows every token the provider hands out.
#[derive(Debug)]
pub(crate) struct Recorder(pub(crate) Arc<SentTokens>);

impl SharedCache for Recorder {
    fn fetch(&self, client: &Client, grant: &Grant) -> Result<TokenResponse, td_oauth_ureq::Error> {
        let token = client.fetch(grant)?;
        self.0.record(token.access_token());
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(tokens: &[&str]) -> SentTokens {
        let sent = SentTokens::default();
        for token in tokens {
            sent.record(&AccessToken::new(*token).unwrap());
        }
        sent
    }

    #[test]
    fn tokens_and_pieces_of_them_are_replaced() {
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJlLXNlY3JldC1wYXJ0";
        let sent = sent(&[token, "stsTokenWithoutBearer1234"]);
        for (text, shown) in [
            (format!("got Bearer {token} here"), format!("got Bearer {MARKER} here")),
            (format!("Authorization: {token}"), format!("Authorization: {MARKER}")),
            (
                "token stsTokenWithoutBearer1234, twice stsTokenWithoutBearer1234".into(),
                format!("token {MARKER}, twice {MARKER}"),
            ),
            (format!("a={token}&b=1"), format!("a={MARKER}&b=1")),
            // Cut by a length limit, at either end, or a piece from the middle.
            (format!("Bearer {}…", &token[..30]), format!("Bearer {MARKER}…")),
            (format!("…{} end", &token[20..]), format!("…{MARKER} end")),
            (format!("x {} y", &token[5..40]), format!("x {MARKER} y")),
            (format!("Bearer={}…", &token[..30]), format!("Bearer={MARKER}…")),
            // Short runs are words, and other text is left alone.
            ("eyJhbGci and nothing else".into(), "eyJhbGci and nothing else".into()),
        ] {
            assert_eq!(sent.redact(&text), shown, "{text}");
        }
        assert_eq!(SentTokens::default().redact(token), token, "nothing sent, nothing to hide");
    }
}
