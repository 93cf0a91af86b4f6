//! Text made safe to show: values a caller or a server wrote, shortened and stripped of control
//! characters before they reach a message, a log or a terminal; bodies described, never quoted; and URLs
//! shown without the parts that may carry secrets. A leaf: it uses nothing else of the crate, so every module (and the crates above) can.

/// A caller-supplied value shortened and stripped of control characters, safe to put in a message.
pub fn excerpt(value: &str) -> String {
    sanitize(value, 64)
}

/// A server's free text (an OAuth `error_description`, a Talkdesk error message): control characters
/// removed (no log or terminal injection), bounded in length.
pub fn description(text: &str) -> String {
    sanitize(text, 512)
}

/// Text from a server or a caller made safe to show on a terminal or in a log: every character
/// [`is_unsafe_on_terminal`] names removed, at most `max` characters kept, `…` appended when cut. Every
/// message of the workspace that quotes such text goes through it, and so does any program that shows server
/// text (the `td-oauth` command's `whoami`), so that one rule decides what reaches a screen.
pub fn sanitize(text: &str, max: usize) -> String {
    let mut kept = text.chars().filter(|&c| !is_unsafe_on_terminal(c));
    let mut out: String = kept.by_ref().take(max).collect();
    if kept.next().is_some() {
        out.push('…');
    }
    out
}

/// Whether `c` can change how a terminal or a log shows the text around it rather than being shown: the
/// control characters (C0, DEL, C1: escapes, bell, carriage return, line feed), the line and paragraph
/// separators, and the bidirectional formatting characters (the embeddings and overrides U+202A–U+202E,
/// the isolates U+2066–U+2069, the marks U+200E, U+200F and U+061C), which reorder what is displayed so that
/// a line can read other than it is.
pub fn is_unsafe_on_terminal(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// A URL without user info, query and fragment (which may carry secrets), safe for a message or a log.
pub fn display_url(url: &url::Url) -> String {
    shown(url.scheme(), url.host_str().unwrap_or_default(), url.port(), url.path())
}

/// An `http::Uri` as [`display_url`] shows a URL.
pub fn display_uri(uri: &http::Uri) -> String {
    shown(uri.scheme_str().unwrap_or_default(), uri.host().unwrap_or_default(), uri.port_u16(), uri.path())
}

fn shown(scheme: &str, host: &str, port: Option<u16>, path: &str) -> String {
    match port {
        Some(port) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    }
}

/// What a body looks like, for an error message: never its content, which may be anything.
pub fn describe_body(body: &[u8], content_type: Option<&str>) -> String {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        return "empty body".into();
    }
    let kind = if trimmed.first() == Some(&b'<') {
        "an HTML page"
    } else if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        "JSON that is not an error body"
    } else {
        "a body that is not JSON"
    };
    match content_type {
        Some(ct) => format!("{kind}, {} bytes of {}", body.len(), excerpt(ct)),
        None => format!("{kind}, {} bytes", body.len()),
    }
}

/// What is wrong with a body that did not parse as the JSON expected, for an error message: where, and what
/// kind of problem, never the body itself.
pub fn json_problem(body: &[u8], err: &serde_json::Error) -> String {
    let trimmed = body.trim_ascii_start();
    if trimmed.is_empty() {
        "the body is empty".into()
    } else if trimmed.first() == Some(&b'<') {
        "the body is an HTML page, not JSON (a proxy or error page?)".into()
    } else if err.is_eof() {
        format!("the JSON body is truncated ({} bytes)", body.len())
    } else if err.is_data() {
        if let Some(kind) = json_kind(trimmed) {
            return format!("the body is a JSON {kind}, not an object (RFC 6749 §5.1)");
        }
        // serde's own message may quote the offending value, which could be a secret: say where, not what.
        // A duplicate field is the exception: serde names only the field, one of ours.
        let message = err.to_string();
        if let Some(field) = message.strip_prefix("duplicate field `").and_then(|rest| rest.split('`').next()) {
            return format!(
                "the body has `{}` more than once; which value is meant is unclear, so neither is used",
                excerpt(field)
            );
        }
        format!("a field has an unexpected type (line {}, column {})", err.line(), err.column())
    } else {
        format!("the body is not valid JSON (line {}, column {})", err.line(), err.column())
    }
}

/// What a JSON value that is not an object is, from its first byte.
fn json_kind(trimmed: &[u8]) -> Option<&'static str> {
    match trimmed.first()? {
        b'{' => None,
        b'[' => Some("array"),
        b'"' => Some("string"),
        b't' | b'f' => Some("boolean"),
        b'n' => Some("null"),
        _ => Some("number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_shown_loses_controls_and_bidirectional_formatting() {
        let hostile = "a\u{1b}[31mb\u{7}c\rd\u{9b}e\u{202e}f\u{2066}g\u{2069}h\u{200f}i\u{061c}j\u{2028}k\u{202a}l";
        assert_eq!(sanitize(hostile, 100), "a[31mbcdefghijkl");
        for c in ['\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{202e}', '\u{2066}', '\u{2067}', '\u{2068}'] {
            assert!(is_unsafe_on_terminal(c), "{c:?}");
        }
        // Letters of right-to-left scripts are text, not formatting.
        assert_eq!(sanitize("שלום مرحبا", 100), "שלום مرحبا");
        // Cut after `max` kept characters; removed ones do not count.
        assert_eq!(sanitize("\u{202e}abcdef", 3), "abc…");
        assert_eq!(sanitize("abc\u{202e}", 3), "abc");
        assert_eq!(excerpt(&"x".repeat(70)).chars().count(), 65);
    }
}
