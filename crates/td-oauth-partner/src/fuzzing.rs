//! The `installation_event` fuzz target's body (`fuzz/fuzz_targets/`), shared with the test that replays its
//! seeds without nightly (`tests/fuzz_regressions.rs`). Compiled only with the `fuzzing` feature; outside the
//! semver promise, as quinn-proto's `fuzzing` module is.

#![allow(clippy::panic, clippy::expect_used, reason = "a harness: a broken property must panic")]

use crate::InstallationCredentials;

/// `installation_event`: the input is an AppConnect event body, as a partner app's webhook receives it from
/// anyone on the internet. Credentials only ever come out with every URL `https` (or this machine's loopback;
/// checked here independently of `EndpointUrl`'s own rules),
/// and neither the credentials' `Debug`, the event's `Debug` (whatever its type) nor an error repeats the
/// event's private key or client secret.
pub fn installation_event(input: &[u8]) {
    let result = InstallationCredentials::from_event(input);
    let shown = match &result {
        Ok(credentials) => {
            let endpoints = credentials.endpoints();
            let urls = [Some(endpoints.token_url()), endpoints.authorize_url(), endpoints.api_base()];
            for url in urls.into_iter().flatten().map(td_oauth_core::endpoints::EndpointUrl::url) {
                let loopback = match url.host() {
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    Some(url::Host::Domain(name)) => name == "localhost",
                    None => false,
                };
                assert!(url.scheme() == "https" || loopback, "credentials pointed at {url}");
            }
            format!("{credentials:?}")
        }
        Err(err) => format!("{err} {err:?}"),
    };
    // The same body read as an event of any type: its `Debug` (raw data included) repeats no secret either.
    let event = match crate::Event::parse(input, &td_oauth_api::GatewayAllowList::default()) {
        Ok(event) => format!("{event:?}"),
        Err(err) => format!("{err} {err:?}"),
    };
    let shown = format!("{shown} {event}");
    for secret in event_secrets(input) {
        assert!(!shown.contains(&secret), "a secret of the event was shown: {shown}");
    }
}

/// The `data.private_key` and `data.client_secret` of an event that are long (24+ characters, no spaces)
/// and appear nowhere else in it, so that finding one in the output can only mean it was leaked.
fn event_secrets(input: &[u8]) -> Vec<String> {
    let Ok(serde_json::Value::Object(event)) = serde_json::from_slice::<serde_json::Value>(input) else {
        return Vec::new();
    };
    let Some(data) = event.get("data").and_then(serde_json::Value::as_object) else { return Vec::new() };
    let mut others = Vec::new();
    collect_strings(&serde_json::Value::Object(event.clone()), &mut others);
    ["private_key", "client_secret"]
        .iter()
        .filter_map(|name| data.get(*name).and_then(serde_json::Value::as_str))
        .filter(|secret| secret.len() >= 24 && !secret.contains(char::is_whitespace))
        .filter(|secret| others.iter().filter(|other| other.contains(*secret)).count() == 1)
        .map(str::to_owned)
        .collect()
}

fn collect_strings(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::String(text) => out.push(text.clone()),
        serde_json::Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        serde_json::Value::Object(map) => {
            for (name, item) in map {
                out.push(name.clone());
                collect_strings(item, out);
            }
        }
        _ => {}
    }
}
