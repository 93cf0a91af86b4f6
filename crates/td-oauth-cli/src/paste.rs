//! `login --headless`: the authorize URL printed for a browser on any machine, and the address that browser
//! ended on (or the code alone) read back from standard input, for a login over SSH or in a container.
//!
//! The browser is sent to the client's registered loopback URI ([`crate::login::HEADLESS_REDIRECT_URI`]),
//! where nothing listens on the user's machine: the page fails to load, and its address carries `code` and
//! `state`. A pasted address is read as the listener reads a redirect: `state` must be the one sent. A
//! bare code cannot carry `state`; PKCE binds it to this login all the same (RFC 7636, RFC 9700 §4.5.3): a
//! code issued for another login fails at the token endpoint without this login's verifier.

use std::io::{BufRead as _, Read as _};
use std::time::Duration;

use td_oauth_core::authorize::RedirectError;
use td_oauth_core::{AuthorizationCode, Grant, PendingAuthorization};
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::output::report;

/// The most of a pasted line that is read: an address with a code is a few hundred bytes.
const MAX_LINE_BYTES: u64 = 16 * 1024;

/// Prints `url`, reads what the user pastes within `wait`, and returns the grant it carries.
pub(crate) fn read_redirect(url: &str, pending: &PendingAuthorization, wait: Duration) -> Result<Grant, CliError> {
    report(format_args!(
        "open this URL in a browser on any machine and log in:\n\n  {url}\n\nThe browser then goes to {} and \
         fails to load it: that is expected. Copy the whole address from its address bar (or just the value of \
         `code`) and paste it here, then press Enter (waiting up to {} s):",
        pending.redirect_uri(),
        wait.as_secs()
    ));
    let line = read_line(wait)?;
    grant_from(line.trim(), pending)
}

/// One line from standard input, read on a thread of its own so that `wait` bounds it.
fn read_line(wait: Duration) -> Result<Zeroizing<String>, CliError> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = Zeroizing::new(String::new());
        let read = std::io::stdin().lock().take(MAX_LINE_BYTES).read_line(&mut line);
        let _ = sender.send(read.map(|_| line));
    });
    match receiver.recv_timeout(wait) {
        Ok(Ok(line)) if !line.trim().is_empty() => Ok(line),
        Ok(Ok(_)) => Err(CliError::Input(
            "nothing was pasted: run `td-oauth login --headless` again and paste the address the browser ended on"
                .into(),
        )),
        Ok(Err(err)) => Err(CliError::Input(format!("cannot read the pasted address from standard input: {err}"))),
        Err(_) => Err(CliError::Failed(format!(
            "nothing was pasted within {} s: run `td-oauth login --headless` again (--wait SECS gives more time)",
            wait.as_secs()
        ))),
    }
}

/// The grant in what was pasted: an address or query (`state` checked), or a code alone.
fn grant_from(pasted: &str, pending: &PendingAuthorization) -> Result<Grant, CliError> {
    // Without its fragment; the query is what follows the first `?` (the scheme may have been left out).
    let pasted = pasted.split('#').next().unwrap_or_default();
    let query = match pasted.split_once('?') {
        Some((_, query)) => Some(query),
        None if pasted.contains('=') => Some(pasted),
        None => None,
    };
    match query {
        Some(query) => pending.finish(query).map_err(|err| match err {
            RedirectError::StateMismatch => CliError::Input(
                "the pasted address is not from this login (its state is missing or another login's): paste the \
                 address of the browser that opened the URL above"
                    .into(),
            ),
            other => other.into(),
        }),
        None if is_code(pasted) => Ok(Grant::authorization_code(
            AuthorizationCode::new(pasted),
            pending.redirect_uri(),
            pending.code_verifier().cloned(),
        )),
        None => Err(CliError::Input(
            "what was pasted is neither an address with `code` and `state` nor a code: copy the whole address \
             from the browser's address bar"
                .into(),
        )),
    }
}

/// A code as RFC 6749 §4.1.2 allows: visible ASCII (`VSCHAR`), no space.
fn is_code(text: &str) -> bool {
    !text.is_empty() && text.len() <= 4096 && text.bytes().all(|byte| (0x21..=0x7e).contains(&byte))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use td_oauth_core::random::OsRandom;
    use td_oauth_core::{AuthorizeRequest, ClientId, Endpoints};

    use super::*;

    fn pending() -> PendingAuthorization {
        let endpoints = Endpoints::from_token_url("http://127.0.0.1:1/oauth/token").unwrap();
        let request = AuthorizeRequest::new(ClientId::new("client").unwrap(), "http://127.0.0.1/callback")
            .with_state("the-state")
            .with_pkce(true);
        request.build(endpoints.authorize_url().unwrap(), &OsRandom::new()).unwrap().1
    }

    /// The code, redirect URI and whether a verifier goes with it.
    fn parts(grant: &Grant) -> (String, String, bool) {
        match grant {
            Grant::AuthorizationCode { code, redirect_uri, code_verifier } => {
                (code.secret().to_owned(), redirect_uri.clone(), code_verifier.is_some())
            }
            other => panic!("not a code: {other:?}"),
        }
    }

    #[test]
    fn an_address_a_query_or_a_bare_code_is_read() {
        let pending = pending();
        for pasted in [
            "http://127.0.0.1/callback?code=abc&state=the-state",
            "127.0.0.1/callback?state=the-state&code=abc#fragment",
            "code=abc&state=the-state",
            "abc",
        ] {
            let grant = grant_from(pasted, &pending).unwrap();
            assert_eq!(parts(&grant), ("abc".into(), "http://127.0.0.1/callback".into(), true), "{pasted}");
        }
    }

    #[test]
    fn another_login_s_address_or_a_refusal_is_refused() {
        let pending = pending();
        let err = grant_from("http://127.0.0.1/callback?code=abc&state=other", &pending).unwrap_err();
        assert!(err.to_string().contains("not from this login"), "{err}");
        let err = grant_from("http://127.0.0.1/callback?code=abc", &pending).unwrap_err();
        assert!(err.to_string().contains("not from this login"), "{err}");
        let err = grant_from("?error=access_denied&state=the-state", &pending).unwrap_err();
        assert!(matches!(err, CliError::Refused(_)), "{err}");
        let err = grant_from("a code with spaces", &pending).unwrap_err();
        assert!(err.to_string().contains("neither"), "{err}");
    }
}
