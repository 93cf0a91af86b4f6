//! Account names and URLs are checked before any URL that could receive credentials exists.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_core::{Account, Endpoints, Error, Region};

#[test]
fn regions_map_to_talkdesk_hosts() {
    let cases = [
        (Region::Us, "https://acme.talkdeskid.com/oauth/token", Some("https://api.talkdeskapp.com/")),
        (Region::Eu, "https://acme.talkdeskid.eu/oauth/token", Some("https://api.talkdeskapp.eu/")),
        (Region::Ca, "https://acme.talkdeskidca.com/oauth/token", Some("https://api.talkdeskappca.com/")),
        (Region::Au, "https://acme.talkdeskid.au/oauth/token", None),
    ];
    for (region, token, api) in cases {
        let endpoints = Endpoints::talkdesk("acme", region).unwrap();
        assert_eq!(endpoints.token_url().as_str(), token);
        assert_eq!(endpoints.authorize_url().unwrap().as_str(), token.replace("/token", "/authorize"));
        assert_eq!(endpoints.api_base().map(|u| u.as_str()), api);
        assert_eq!(region.as_str().parse::<Region>().unwrap(), region);
    }
    assert_eq!("EU".parse::<Region>().unwrap(), Region::Eu);
    assert!("mars".parse::<Region>().unwrap_err().to_string().contains("us, eu, ca, au"));
}

#[test]
fn bad_account_names_are_refused_with_a_reason() {
    let long = "a".repeat(64);
    let cases: &[(&str, &str)] = &[
        ("acme.evil.com", "`.`"),
        ("evil.com/x", "`.`"),
        ("evil/x", "`/`"),
        ("a@b", "`@`"),
        ("a#", "`#`"),
        ("a:1", "`:`"),
        ("a?b", "`?`"),
        ("a%2e", "`%`"),
        ("a\\b", "`\\\\`"),
        ("ac me", "whitespace"),
        (" acme", "whitespace"),
        ("acme\n", "whitespace"),
        ("", "empty"),
        (&long, "63"),
        ("ａcme", "non-ASCII"),
        ("acmé", "non-ASCII"),
        ("xn--80ak6aa92e", "ok"),
        ("xn--acme", "not valid punycode"),
        ("xn--", "start or end"),
        ("ab--cd", "ok"),
        ("Acme", "lower-case; did you mean `acme`"),
        ("-acme", "start or end"),
        ("acme-", "start or end"),
    ];
    for (name, says) in cases {
        match Endpoints::talkdesk(name, Region::Us) {
            Ok(endpoints) => assert_eq!(*says, "ok", "{name:?} was accepted: {endpoints:?}"),
            Err(err) => {
                assert!(matches!(err, Error::InvalidAccount { .. }), "{name:?}: {err:?}");
                assert!(err.to_string().contains(says), "{name:?}: {err}");
            }
        }
    }
    assert_eq!(Account::new(&"a".repeat(63)).unwrap().as_str().len(), 63);
    assert_eq!(Account::new("my-account-2").unwrap().to_string(), "my-account-2");
}

#[test]
fn explicit_urls_must_be_https_except_loopback() {
    for ok in [
        "https://acme.talkdeskid.com/oauth/token",
        "http://127.0.0.1:8080/oauth/token",
        "http://127.1.2.3/oauth/token",
        "http://[::1]:9000/oauth/token",
        "http://localhost:1234/oauth/token",
        "https://proxy.example/talkdesk/oauth/token",
    ] {
        let endpoints = Endpoints::from_token_url(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(endpoints.token_url().uri().to_string(), endpoints.token_url().as_str());
    }
    let refused: &[(&str, &str)] = &[
        ("http://acme.talkdeskid.com/oauth/token", "only sent over https"),
        ("http://localhost.evil.com/oauth/token", "only sent over https"),
        ("http://127.0.0.1.nip.io/oauth/token", "only sent over https"),
        ("http://10.0.0.1/oauth/token", "only sent over https"),
        ("https://user:pw@acme.talkdeskid.com/oauth/token", "user info"),
        ("https://user@acme.talkdeskid.com/oauth/token", "user info"),
        ("https://acme.talkdeskid.com/oauth/token#frag", "fragment"),
        ("ftp://acme.talkdeskid.com/oauth/token", "scheme"),
        ("file:///etc/passwd", "no host"),
        ("acme.talkdeskid.com/oauth/token", "not a URL"),
        ("", "not a URL"),
    ];
    for (url, says) in refused {
        let err = Endpoints::from_token_url(url).unwrap_err();
        assert!(matches!(err, Error::InvalidUrl { which: "token", .. }), "{url}: {err:?}");
        assert!(err.to_string().contains(says), "{url}: {err}");
    }
}

#[test]
fn authorize_url_is_derived_from_a_token_url() {
    let endpoints = Endpoints::from_token_url("http://127.0.0.1:4000/oauth/token").unwrap();
    assert_eq!(endpoints.authorize_url().unwrap().as_str(), "http://127.0.0.1:4000/oauth/authorize");
    let custom = Endpoints::from_token_url("https://proxy.example/token").unwrap();
    assert!(custom.authorize_url().is_none());
    let custom = custom.with_authorize_url("https://proxy.example/authorize").unwrap();
    assert_eq!(custom.authorize_url().unwrap().as_str(), "https://proxy.example/authorize");
    assert!(custom.with_api_base("http://api.example").is_err());
}

#[test]
fn ssrf_tricks_are_refused_before_any_request_exists() {
    // Account names: everything that is not one plain DNS label.
    for name in [
        "acme.evil.com",
        "acme@evil.com",
        "evil.com#",
        "acme%2eevil.com",
        "acme%00",
        "acme\\evil.com",
        "acme/../evil",
        "acme:443",
        "acme.",
        "..",
        "аcme", // Cyrillic а
        "acme\u{200b}",
        "ACME",
        "127.0.0.1",
        "[::1]",
        "2130706433.evil",
        "acme\r\nHost: evil.com",
    ] {
        assert!(Endpoints::talkdesk(name, Region::Us).is_err(), "account {name:?} was accepted");
    }
    // Explicit URLs: anything that two parsers could read differently, or that leaves this machine over http.
    for url in [
        "https://user@acme.talkdeskid.com/oauth/token",
        "https://acme.talkdeskid.com@evil.com/oauth/token",
        "https://evil.com\\@acme.talkdeskid.com/oauth/token",
        "https://acme.talkdeskid.com\\oauth\\token",
        "https://acme%2etalkdeskid.com/oauth/token",
        "https://ACME.talkdeskid.com/oauth/token",
        "https://xn--cme-8cd.talkdeskid.com./oauth/token",
        "https://аcme.talkdeskid.com/oauth/token",
        "https://acme.talkdeskid.com./oauth/token",
        "https://acme.talkdeskid.com/oauth/../../evil",
        "https://acme.talkdeskid.com/oauth/%2e%2e/token",
        "http://2130706433/oauth/token",
        "http://0x7f.0.0.1/oauth/token",
        "http://0177.0.0.1/oauth/token",
        "http://127.1/oauth/token",
        "http://[::1%25eth0]/oauth/token",
        "http://[::ffff:127.0.0.1]/oauth/token",
        "http://localhost./oauth/token",
        "http://127.0.0.1.nip.io/oauth/token",
        "http://169.254.169.254/latest/meta-data",
        "http://acme.talkdeskid.com/oauth/token",
        "https://acme.talkdeskid.com/oauth/token\t",
        "https://acme.talk\tdeskid.com/oauth/token",
        "https://acme.talkdeskid.com/oauth/token#@evil.com",
        "//evil.com/oauth/token",
    ] {
        let result = Endpoints::from_token_url(url);
        if url.ends_with('\t') {
            // Surrounding whitespace is trimmed; what is left is a plain, canonical URL.
            assert!(result.is_ok(), "{url:?}");
            continue;
        }
        assert!(result.is_err(), "URL {url:?} was accepted as {:?}", result.map(|e| e.token_url().to_string()));
    }
    let err = Endpoints::from_token_url("http://2130706433/oauth/token").unwrap_err().to_string();
    assert!(err.contains("canonical") && err.contains("http://127.0.0.1/oauth/token"), "{err}");
}

#[test]
fn whitespace_inside_a_url_is_named() {
    for (url, says) in [
        ("https://acme.talk\tdeskid.com/oauth/token", "a tab at byte 17"),
        ("https://acme.talkdeskid.com/oauth/to\nken", "a line break at byte 36"),
        ("https://acme.talkdeskid.com/oauth/ token", "a space at byte 34"),
        ("https://acme.talkdeskid.com/\u{7f}oauth/token", "a control character at byte 28"),
    ] {
        let message = Endpoints::from_token_url(url).unwrap_err().to_string();
        assert!(message.contains(says) && message.contains("remove it"), "{url:?}: {message}");
        assert!(!message.contains("canonical"), "{message}");
    }
    // Where the canonical form differs beyond what the message can show, it says where.
    let long = format!("https://proxy.example/{}/./oauth/token", "p".repeat(80));
    let message = Endpoints::from_token_url(&long).unwrap_err().to_string();
    assert!(message.contains("differs from it at byte 103"), "{message}");
}
