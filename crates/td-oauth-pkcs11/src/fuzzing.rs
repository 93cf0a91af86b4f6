//! The `pkcs11_uri` fuzz target's body (`fuzz/fuzz_targets/`), shared with the test that replays its seeds
//! without nightly (`tests/fuzz_regressions.rs`). Compiled only with the `fuzzing` feature; outside the
//! semver promise, as quinn-proto's `fuzzing` module is.

#![allow(clippy::panic, reason = "a harness: a broken property must panic")]

use crate::Pkcs11Uri;

/// `pkcs11_uri`: the input is a `pkcs11:` URI as a user gives it (flag, environment, configuration file).
/// Parsing never panics; a URI that parses names a key (`object` or `id`) and carries no PIN; neither the
/// error, nor the parsed URI's `Debug` and descriptions, repeat a `pin-value` the input carried.
pub fn pkcs11_uri(input: &[u8]) {
    let Ok(text) = std::str::from_utf8(input) else { return };
    let output = shown(text);
    for pin in pin_values(text) {
        // The same URI with another PIN of the same length: what its output holds of this PIN is the
        // message's own text (a PIN such as `library-manu` is in the list of known attributes), not a leak.
        let other = shown(&text.replacen(pin, &"\u{1}".repeat(pin.len()), 1));
        assert!(output.matches(pin).count() <= other.matches(pin).count(), "a pin-value was shown: {output}");
    }
}

/// Everything parsing `text` lets a user see: the error, or the parsed URI's `Debug` and descriptions.
fn shown(text: &str) -> String {
    match Pkcs11Uri::parse(text) {
        Ok(uri) => {
            assert!(uri.object().is_some() || uri.id().is_some(), "a URI naming no key parsed: {uri:?}");
            assert!(pin_values(text).is_empty(), "a URI carrying pin-value parsed");
            format!("{uri:?} {} {}", uri.describe_key(), uri.describe_token())
        }
        Err(err) => format!("{err} {err:?}"),
    }
}

/// The `pin-value`s of the input's query that are long enough (6+ bytes) and appear nowhere else in it, so
/// that finding one in the output can only mean it was repeated.
fn pin_values(text: &str) -> Vec<&str> {
    let Some((_, query)) = text.split_once('?') else { return Vec::new() };
    query
        .split('&')
        .filter_map(|attribute| attribute.split_once('='))
        .filter(|(name, _)| name.trim().eq_ignore_ascii_case("pin-value"))
        .map(|(_, value)| value)
        .filter(|value| value.len() >= 6 && text.matches(*value).count() == 1)
        .collect()
}
