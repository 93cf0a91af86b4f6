//! The credentials an API request carried, and the one rule that keeps them out of any text shown from its
//! answer.
//!
//! A gateway may echo the `Authorization` header it received: in an error's `message`, a response header, a
//! body. [`SentCredentials`] holds what one request carried. The transports put it in the extensions of the
//! answer they return (td-oauth-core's `transport::send_authorized` hands them the token sent), and
//! [`ApiError::from_response`](crate::ApiError::from_response) reads it there, so that no error built from that answer shows
//! them, whoever prints it. A program that shows other server text (a body, a header, a list item) passes it
//! through [`SentCredentials::redact`] itself.
//!
//! # What is replaced, by [`REDACTED`]
//!
//! A credential is what follows the scheme of the `Authorization` value (the token of `Bearer <token>`), or
//! the whole value when it has no scheme (an STS token sent bare); so `Bearer <token>` is shown as
//! `Bearer [REDACTED access token]`. It is found:
//!
//! - as sent;
//! - percent-encoded (`%2B`, `%2f`, … for any of its bytes, hex digits in either case), as a server echoes
//!   it inside a URL or a query;
//! - JSON-escaped (`\/`, `\u0041`), in text that is raw JSON, such as a body shown as it came. Text read out
//!   of JSON (a Talkdesk error's `message`) has been unescaped by parsing, so it is the first case;
//! - in pieces: a run of at least [`MIN_PIECE`] token characters that lies inside a credential, or that
//!   ends with a credential's start or begins with its end, as a length limit or an ellipsis leaves it.
//!
//! Not recognised: transformations a server would have to choose on purpose (Base64 of the header, a token
//! interleaved with other characters); a server doing that holds the token anyway, and the rule is about
//! what is echoed back to a screen or a log. Server text is cleaned of control characters before it is
//! redacted ([`text::sanitize`](td_oauth_core::text::sanitize)), so a control character inside a token does not hide
//! it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use td_oauth_core::{AccessToken, TokenResponse};
use zeroize::Zeroizing;

/// What a credential, or a piece of one, is replaced by.
pub const REDACTED: &str = "[REDACTED access token]";

/// The shortest piece of a credential replaced on its own: shorter runs of token characters are words.
pub const MIN_PIECE: usize = 16;

/// The credentials one API request carried (or all those a program sent), to be replaced in any text shown
/// from the answers. `Debug` prints only how many; the copies it holds are wiped on drop.
///
/// ```
/// use td_oauth_api::SentCredentials;
///
/// let request = http::Request::get("https://api.talkdeskapp.com/users")
///     .header("authorization", "Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl")
///     .body(())?;
/// let sent = SentCredentials::of_request(&request);
/// assert_eq!(
///     sent.redact("invalid header Bearer eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl"),
///     "invalid header Bearer [REDACTED access token]",
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct SentCredentials {
    sent: Vec<Credential>,
}

#[derive(Clone)]
enum Credential {
    /// A token a provider handed out: shared, not copied.
    Token(Arc<TokenResponse>),
    /// A copy, wiped on drop.
    Text(Zeroizing<String>),
}

impl Credential {
    fn secret(&self) -> &str {
        match self {
            Credential::Token(token) => token.access_token().secret(),
            Credential::Text(text) => text,
        }
    }
}

impl fmt::Debug for SentCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SentCredentials(<{} redacted>)", self.sent.len())
    }
}

impl SentCredentials {
    /// None yet.
    pub fn new() -> Self {
        SentCredentials::default()
    }

    /// The access token of `token`, as a transport sent it (without copying it).
    pub fn from_token(token: Arc<TokenResponse>) -> Self {
        SentCredentials { sent: vec![Credential::Token(token)] }
    }

    /// The credential of `request`'s `Authorization` header, for a program that sends API requests through
    /// its own HTTP stack: insert the result into the answer's extensions before reading it.
    pub fn of_request<B>(request: &http::Request<B>) -> Self {
        let mut sent = SentCredentials::new();
        for value in request.headers().get_all(http::header::AUTHORIZATION) {
            sent.add_authorization(value);
        }
        sent
    }

    /// Adds the credential an `Authorization` value carries: what follows its scheme, or the whole value
    /// when it has none (a bare STS token).
    pub fn add_authorization(&mut self, value: &http::HeaderValue) {
        let value = String::from_utf8_lossy(value.as_bytes());
        let value = value.trim();
        let credential = value.split_once(' ').map_or(value, |(_, credential)| credential.trim());
        self.add_text(credential);
    }

    /// Adds an access token.
    pub fn add_token(&mut self, token: &AccessToken) {
        self.add_text(token.secret());
    }

    /// Adds every credential of `other`.
    pub fn extend(&mut self, other: &SentCredentials) {
        for credential in &other.sent {
            if !self.holds(credential.secret()) {
                self.sent.push(credential.clone());
            }
        }
    }

    fn add_text(&mut self, credential: &str) {
        if !credential.is_empty() && !self.holds(credential) {
            self.sent.push(Credential::Text(Zeroizing::new(credential.to_owned())));
        }
    }

    fn holds(&self, credential: &str) -> bool {
        self.sent.iter().any(|known| known.secret() == credential)
    }

    /// Whether there is nothing to redact.
    pub fn is_empty(&self) -> bool {
        self.sent.iter().all(|credential| credential.secret().is_empty())
    }

    /// `text` with every credential, in every form the module documents, replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let patterns: Vec<Pattern<'_>> =
            self.sent.iter().map(Credential::secret).filter(|s| !s.is_empty()).map(Pattern::new).collect();
        if patterns.is_empty() {
            return text.to_owned();
        }
        let view = View::of(text);
        let mut found: Vec<Range<usize>> = Vec::new();
        for pattern in &patterns {
            found.extend(view.text.match_indices(pattern.secret).map(|(at, s)| at..at + s.len()));
        }
        for (at, run) in token_runs(&view.text) {
            for pattern in &patterns {
                pattern.pieces(run, at, &mut found);
            }
        }
        if found.is_empty() {
            return text.to_owned();
        }
        found.sort_by_key(|range| range.start);
        let mut out = String::with_capacity(text.len());
        let mut shown = 0;
        let mut merged: Option<Range<usize>> = None;
        for range in found {
            match &mut merged {
                Some(current) if range.start <= current.end => current.end = current.end.max(range.end),
                _ => {
                    if let Some(done) = merged.replace(range) {
                        shown = view.replace(text, done, shown, &mut out);
                    }
                }
            }
        }
        if let Some(done) = merged {
            shown = view.replace(text, done, shown, &mut out);
        }
        out.push_str(text.get(shown..).unwrap_or_default());
        out
    }
}

/// The text as it is searched: percent-escapes and JSON escapes of ASCII decoded, other non-ASCII characters
/// as NUL (no credential holds one), with where each of its bytes starts in the original.
struct View<'a> {
    text: Cow<'a, str>,
    /// `starts[i]` is where the view's byte `i` starts in the original, and one more entry for the end;
    /// `None` when the view is the original.
    starts: Option<Vec<usize>>,
}

impl<'a> View<'a> {
    fn of(text: &'a str) -> Self {
        if !text.contains(['%', '\\']) {
            return View { text: Cow::Borrowed(text), starts: None };
        }
        let bytes = text.as_bytes();
        let mut view = String::with_capacity(text.len());
        let mut starts = Vec::with_capacity(text.len() + 1);
        let mut at = 0;
        while at < bytes.len() {
            let (byte, len) = match bytes[at] {
                b'%' => match bytes.get(at + 1..at + 3).and_then(hex) {
                    Some(value) => (value, 3),
                    None => (b'%', 1),
                },
                b'\\' if bytes.get(at + 1) == Some(&b'/') => (b'/', 2),
                b'\\' if bytes.get(at + 1) == Some(&b'u') => match bytes.get(at + 2..at + 6).and_then(hex) {
                    Some(value) => (value, 6),
                    None => (b'\\', 1),
                },
                byte if byte.is_ascii() => (byte, 1),
                _ => (0, text.get(at..).and_then(|rest| rest.chars().next()).map_or(1, char::len_utf8)),
            };
            view.push(if byte.is_ascii() { char::from(byte) } else { '\0' });
            starts.push(at);
            at += len;
        }
        starts.push(bytes.len());
        View { text: Cow::Owned(view), starts: Some(starts) }
    }

    /// Where the view's byte `at` starts in the original.
    fn origin(&self, at: usize) -> usize {
        match &self.starts {
            None => at,
            Some(starts) => starts.get(at).copied().unwrap_or(usize::MAX),
        }
    }

    /// Appends `original[shown..]` up to the view's `range`, then the marker; returns where the original
    /// continues.
    fn replace(&self, original: &str, range: Range<usize>, shown: usize, out: &mut String) -> usize {
        let (start, end) = (self.origin(range.start).min(original.len()), self.origin(range.end).min(original.len()));
        out.push_str(original.get(shown..start).unwrap_or_default());
        out.push_str(REDACTED);
        end.max(shown)
    }
}

/// Hex digits (2 or 4) as a byte; `None` when they are not hex, and 0x80 for a value beyond ASCII (which
/// no credential holds).
fn hex(digits: &[u8]) -> Option<u8> {
    let text = std::str::from_utf8(digits).ok()?;
    let value = u32::from_str_radix(text, 16).ok().filter(|_| text.bytes().all(|b| b.is_ascii_hexdigit()))?;
    Some(u8::try_from(value).ok().filter(u8::is_ascii).unwrap_or(0x80))
}

/// RFC 6750's `b64token` characters, what access tokens are made of.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// The maximal runs of token characters in `text`, with where each starts.
fn token_runs(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = at + bytes.get(at..)?.iter().position(|&b| is_token_byte(b))?;
        let len = bytes[start..].iter().position(|&b| !is_token_byte(b)).unwrap_or(bytes.len() - start);
        at = start + len;
        Some((start, &text[start..at]))
    })
}

/// A credential, with what finding its pieces at a run's ends needs: the KMP prefix function of it and of
/// its reverse (so each run costs time linear in its length, whatever a hostile body holds).
struct Pattern<'a> {
    secret: &'a str,
    forward: Vec<usize>,
    reversed: Vec<u8>,
    backward: Vec<usize>,
}

impl<'a> Pattern<'a> {
    fn new(secret: &'a str) -> Self {
        let reversed: Vec<u8> = secret.bytes().rev().collect();
        Pattern { secret, forward: prefix_function(secret.as_bytes()), backward: prefix_function(&reversed), reversed }
    }

    /// Adds to `found` the pieces of the credential in `run` (a run of token characters at `at`): the whole
    /// run when it lies inside the credential, else its end when that is the credential's start and its
    /// start when that is the credential's end, each at least [`MIN_PIECE`] long.
    fn pieces(&self, run: &str, at: usize, found: &mut Vec<Range<usize>>) {
        let whole = at..at + run.len();
        if run.len() >= MIN_PIECE && self.secret.contains(run) {
            found.push(whole);
            return;
        }
        let end = longest_suffix_prefix(run.bytes(), self.secret.as_bytes(), &self.forward);
        if end >= MIN_PIECE {
            found.push(whole.end - end..whole.end);
        }
        let start = longest_suffix_prefix(run.bytes().rev(), &self.reversed, &self.backward);
        if start >= MIN_PIECE {
            found.push(at..at + start);
        }
    }
}

/// KMP's prefix function: for each `i`, the length of the longest proper prefix of `pattern[..=i]` that is
/// also its suffix.
fn prefix_function(pattern: &[u8]) -> Vec<usize> {
    let mut pi = vec![0; pattern.len()];
    let mut k = 0;
    for i in 1..pattern.len() {
        while k > 0 && pattern[i] != pattern[k] {
            k = pi[k - 1];
        }
        if pattern[i] == pattern[k] {
            k += 1;
        }
        pi[i] = k;
    }
    pi
}

/// The length of the longest prefix of `pattern` that `text` ends with.
fn longest_suffix_prefix(text: impl Iterator<Item = u8>, pattern: &[u8], pi: &[usize]) -> usize {
    let mut q = 0;
    for byte in text {
        if q == pattern.len() {
            q = pi[q - 1];
        }
        while q > 0 && pattern[q] != byte {
            q = pi[q - 1];
        }
        if pattern.get(q) == Some(&byte) {
            q += 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2lnbmF0dXJl+c2VjcmV0/cGFydA==";

    fn sent(tokens: &[&str]) -> SentCredentials {
        let mut sent = SentCredentials::new();
        for token in tokens {
            sent.add_token(&AccessToken::new(*token).unwrap());
        }
        sent
    }

    #[test]
    fn credentials_in_every_documented_form_are_replaced() {
        let sent = sent(&[TOKEN, "stsTokenWithoutBearer1234"]);
        let percent = TOKEN.replace('+', "%2B").replace('/', "%2f").replace('=', "%3D");
        let json = TOKEN.replace('/', "\\/").replace("eyJ", "\\u0065yJ");
        for (text, shown) in [
            (format!("got Bearer {TOKEN} here"), format!("got Bearer {REDACTED} here")),
            (format!("Authorization: {TOKEN}"), format!("Authorization: {REDACTED}")),
            ("a stsTokenWithoutBearer1234, b stsTokenWithoutBearer1234".into(), format!("a {REDACTED}, b {REDACTED}")),
            (format!("a={TOKEN}&b=1"), format!("a={REDACTED}&b=1")),
            (format!("?h=Bearer%20{percent}&x=%41"), format!("?h=Bearer%20{REDACTED}&x=%41")),
            (format!(r#"{{"echo":"Bearer {json}"}}"#), format!(r#"{{"echo":"Bearer {REDACTED}"}}"#)),
            (format!("héllo {TOKEN} wörld"), format!("héllo {REDACTED} wörld")),
            // Cut by a length limit, at either end, or a piece from the middle.
            (format!("Bearer {}…", &TOKEN[..30]), format!("Bearer {REDACTED}…")),
            (format!("…{} end", &TOKEN[20..]), format!("…{REDACTED} end")),
            (format!("x {} y", &TOKEN[5..40]), format!("x {REDACTED} y")),
            (format!("Bearer={}…", &TOKEN[..30]), format!("Bearer={REDACTED}…")),
            // Short runs are words, and other text is left alone.
            ("eyJhbGci and 100% nothing\\n else".into(), "eyJhbGci and 100% nothing\\n else".into()),
        ] {
            assert_eq!(sent.redact(&text), shown, "{text}");
        }
        assert_eq!(SentCredentials::new().redact(TOKEN), TOKEN, "nothing sent, nothing to hide");
    }

    #[test]
    fn the_authorization_header_gives_its_credential() {
        let request =
            http::Request::get("https://api.example.com/x").header("authorization", "Bearer abc.def").body(());
        let sent = SentCredentials::of_request(&request.unwrap());
        assert_eq!(sent.redact("Bearer abc.def"), format!("Bearer {REDACTED}"));
        let request = http::Request::get("https://api.example.com/x").header("authorization", "stsBareToken").body(());
        let sent = SentCredentials::of_request(&request.unwrap());
        assert_eq!(sent.redact("got stsBareToken"), format!("got {REDACTED}"));
        assert!(SentCredentials::of_request(&http::Request::new(())).is_empty());
        assert_eq!(format!("{sent:?}"), "SentCredentials(<1 redacted>)");
    }

    #[test]
    fn a_credential_cut_anywhere_in_a_long_text_is_found_in_linear_time() {
        let sent = sent(&[TOKEN]);
        // Many runs that almost match: each costs a pass over itself, not one per length.
        let hostile = format!("{} ", &TOKEN[..MIN_PIECE - 1]).repeat(20_000);
        assert_eq!(sent.redact(&hostile), hostile);
        let text = format!("{}{}", "a".repeat(100_000), &TOKEN[..40]);
        assert_eq!(sent.redact(&text), format!("{}{REDACTED}", "a".repeat(100_000)));
    }
}
