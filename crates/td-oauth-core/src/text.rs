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

/// At most `max` characters of `text`, without control characters, with `…` when cut.
fn sanitize(text: &str, max: usize) -> String {
    let mut out: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
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
