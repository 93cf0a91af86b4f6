//! td-oauth-core's proxy rule (`transport::proxy`), read from variables as both transports read them from
//! the environment: which URLs go through which proxy, and which proxy URLs are refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_core::Error;
use td_oauth_core::transport::proxy::{ProxyRule, ProxyUrl};

fn rule(vars: &[(&str, &str)]) -> ProxyRule {
    ProxyRule::from_lookup(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned())).unwrap()
}

fn proxied(rule: &ProxyRule, url: &str) -> bool {
    rule.route(&url::Url::parse(url).unwrap()).is_some()
}

/// The table both transports run over real sockets (td-oauth-testkit's `proxy_env`), on `https://` URLs
/// to port 8443; and names and addresses no test server answers for.
#[test]
fn no_proxy_entries_match_as_documented() {
    let proxies = [("HTTPS_PROXY", "http://proxy:3128"), ("http_proxy", "http://proxy:3128")];
    let cases = td_oauth_testkit::proxy_env::NO_PROXY_TABLE.iter().map(|(no_proxy, host, bypass)| {
        (no_proxy.replace("{port}", "8443").replace("{other}", "8444"), format!("https://{host}:8443/"), *bypass)
    });
    let more = [
        ("example.com", "https://api.example.com/", true),
        ("example.com", "https://example.com/", true),
        ("example.com", "https://notexample.com/", false),
        (".example.com", "https://example.com/", true),
        (".example.com", "https://a.b.example.com/", true),
        ("*.example.com", "https://api.EXAMPLE.com./", true),
        ("example.com:443", "https://api.example.com/", true),
        ("example.com:8443", "https://api.example.com/", false),
        ("fd00::/8", "https://[fd00::1]/", true),
        ("fd00::/8", "https://[fe80::1]/", false),
        ("[::1]:8443", "https://[::1]:8443/", true),
        ("::1", "https://[::1]:8443/", true),
        ("10.1.2.3", "https://10.1.2.3.example.com/", false),
        ("10.0.0.0/8", "http://10.9.9.9/", true),
        ("bogus:port, *.", "https://example.com/", false),
    ];
    let cases = cases.chain(more.iter().map(|(n, u, b)| ((*n).to_owned(), (*u).to_owned(), *b)));
    for (no_proxy, url, bypass) in cases {
        let rule = rule(&[proxies[0], proxies[1], ("NO_PROXY", &no_proxy)]);
        assert_eq!(!proxied(&rule, &url), bypass, "NO_PROXY={no_proxy:?} for {url}");
    }
}

#[test]
fn variables_are_read_as_curl_reads_them() {
    let via = |vars: &[(&str, &str)], url: &str| {
        rule(vars).route(&url::Url::parse(url).unwrap()).map(|p| p.shown().to_owned())
    };
    assert_eq!(via(&[("https_proxy", "p1:3128")], "https://a/"), Some("http://p1:3128".into()));
    assert_eq!(
        via(&[("HTTPS_PROXY", "http://p1:1"), ("https_proxy", "http://p2:1")], "https://a/").unwrap(),
        "http://p1:1"
    );
    assert_eq!(via(&[("ALL_PROXY", "http://p3:1")], "http://a/").unwrap(), "http://p3:1");
    assert_eq!(via(&[("HTTP_PROXY", "http://cgi:1")], "http://a/"), None, "HTTP_PROXY is not read");
    assert_eq!(via(&[("HTTPS_PROXY", "  ")], "https://a/"), None, "empty is unset");
    assert_eq!(via(&[("no_proxy", "a"), ("HTTPS_PROXY", "http://p:1")], "https://a/"), None);
}

#[test]
fn a_bad_proxy_url_is_refused_with_the_fix_and_without_the_password() {
    let refused = |value: &str| match ProxyRule::from_lookup(|name| (name == "HTTPS_PROXY").then(|| value.to_owned())) {
        Err(Error::Config { reason }) => reason,
        other => panic!("{other:?}"),
    };
    let reason = refused("http://bob:s3cr@t@proxy:3128");
    assert!(reason.contains("HTTPS_PROXY") && reason.contains("%40") && !reason.contains("s3cr"), "{reason}");
    assert!(refused("socks5://proxy:1080").contains("SOCKS"));
    assert!(!refused("http://bob:pw@").contains("pw"));
    assert!(refused("ftp://proxy").contains("http://"));
    let shown = ProxyUrl::parse("http://bob:s3cr%40t@proxy:3128/").unwrap();
    assert_eq!(shown.shown(), "http://proxy:3128");
    assert!(!format!("{shown:?}").contains("s3cr"));
    assert_eq!(shown.url().password(), Some("s3cr%40t"));
}
