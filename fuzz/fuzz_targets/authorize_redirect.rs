//! Arbitrary redirects back from the authorize endpoint: a grant only with the right state, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use td_oauth_core::{AuthorizeRequest, ClientId, Endpoints, OsRandom, PendingAuthorization, Region};

fn pending() -> &'static PendingAuthorization {
    static PENDING: OnceLock<PendingAuthorization> = OnceLock::new();
    PENDING.get_or_init(|| {
        let endpoints = Endpoints::talkdesk("acme", Region::Us).expect("valid account");
        let client = ClientId::new("client").expect("valid client id");
        let url = endpoints.authorize_url().expect("talkdesk endpoints have an authorize URL");
        let request = AuthorizeRequest::new(client, "https://app.example/cb").state("fixed-state").pkce(true);
        request.build(url, &OsRandom::new()).expect("build authorize URL").1
    })
}

fuzz_target!(|redirect: &str| {
    if pending().finish(redirect).is_ok() {
        // URL parsing (WHATWG) drops tabs and newlines anywhere in a URL, so compare without them.
        let plain: String = redirect.chars().filter(|c| !matches!(c, '\t' | '\n' | '\r')).collect();
        assert!(plain.contains("fixed-state"), "a grant came back without the state");
    }
});
