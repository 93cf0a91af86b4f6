//! The token endpoint over real HTTP and HTTPS: client authentication, scopes, error answers,
//! records, and the `/api/me` resource.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::json;
use td_oauth_testkit::{Algorithm, AuthMethod, ClientSpec, Grant, JWT_BEARER, TOKEN_PATH, TestServer};

#[test]
fn every_algorithm_gets_a_token_over_http_and_https() {
    for server in [TestServer::start().unwrap(), TestServer::start_https().unwrap()] {
        let agent = agent(&server);
        for alg in Algorithm::ALL {
            let creds = server.register_client(alg).unwrap();
            assert_eq!(creds.key_id.len(), 32);
            assert!(creds.key_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(!creds.private_key.contains('\n') && !creds.private_key.contains("BEGIN"));
            let answer = with_assertion(&agent, &server, &assertion(&server, &creds), None);
            assert_eq!(
                answer.status,
                200,
                "{alg} over {}: {}",
                server.base_url(),
                String::from_utf8_lossy(&answer.body)
            );
            assert_eq!(answer.header("cache-control"), Some("no-store"));
            let json = answer.json();
            assert_eq!(json["token_type"], "Bearer");
            assert_eq!(json["expires_in"], 600);
            assert!(json.get("refresh_token").is_none(), "no refresh token for client_credentials");
            let record = server.last_request().unwrap();
            assert_eq!(record.auth_method, Some(AuthMethod::ClientAssertion));
            assert_eq!(record.assertion_header.unwrap()["alg"], alg.as_str());
            assert_eq!(record.assertion_claims.unwrap()["iss"], creds.client_id.as_str());
        }
    }
}

#[test]
fn access_token_has_talkdesk_claims_and_default_scopes() {
    let server = TestServer::builder().account("acme").token_lifetime(Duration::from_secs(120)).start().unwrap();
    let agent = agent(&server);
    let creds =
        server.register_client_with(ClientSpec::new(Algorithm::Es256).scopes(["users:read", "apps:read"])).unwrap();
    let json = with_assertion(&agent, &server, &assertion(&server, &creds), None).json();
    assert_eq!(json["scope"], "users:read apps:read");
    assert_eq!(json["expires_in"], 120);
    let token = json["access_token"].as_str().unwrap();
    // Verify it with the server's published key, as a test of another crate could.
    let key = jsonwebtoken::DecodingKey::from_ec_pem(server.token_signing_key_pem().as_bytes()).unwrap();
    let data = jsonwebtoken::decode::<serde_json::Value>(
        token,
        &key,
        &jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256),
    )
    .unwrap();
    assert_eq!(data.claims["cid"], creds.client_id.as_str());
    assert_eq!(data.claims["acc"], "acme");
    assert_eq!(data.claims["scp"], json!(["users:read", "apps:read"]));
    assert!(data.claims["jti"].is_string());
    assert_eq!(data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap(), 120);

    // Per-client lifetime wins over the server's; the account can change at run time.
    server.set_account("other");
    let short =
        server.register_client_with(ClientSpec::new(Algorithm::Es256).token_lifetime(Duration::from_secs(5))).unwrap();
    let json = with_assertion(&agent, &server, &assertion(&server, &short), None).json();
    assert_eq!(json["expires_in"], 5);
    assert_eq!(jwt_claims(json["access_token"].as_str().unwrap())["acc"], "other");
}

#[test]
fn basic_credentials_are_form_decoded_as_rfc_6749_says() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let spec = ClientSpec::new(Algorithm::Es256).client_id("partner:acme").client_secret("p+ss w/rd&=%");
    server.register_client_with(spec).unwrap();
    let form = [("grant_type", "client_credentials")];
    let send = |credentials: &str| {
        let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
        post_token_with_authorization(&agent, &server, &form, &header)
    };
    // Form-encoded, as RFC 6749 §2.3.1 (and Go's x/oauth2, oauth2-rs, td-oauth-core) send them.
    assert_eq!(send("partner%3Aacme:p%2Bss+w%2Frd%26%3D%25").status, 200);
    assert_eq!(server.last_request().unwrap().client_id.as_deref(), Some("partner:acme"));
    // Sent raw: the first `:` splits the id, `+` reads as a space, `&` and `=` cannot be there.
    assert!(send("partner:acme:p+ss w/rd&=%").assert_error(401, "invalid_client").contains("not form-encoded"));
    assert!(send("partner:acme:pass").assert_error(401, "invalid_client").contains("unknown client_id partner"));
    assert_eq!(send("partner%3Aacme:p+ss+w%2Frd%26%3D%25").assert_error(401, "invalid_client"), "wrong client secret");
}

#[test]
fn basic_authentication_gets_a_token() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let form = [("grant_type", "client_credentials"), ("scope", "users:read")];
    let answer = post_token(&agent, &server, &form, Some((&creds.client_id, &creds.client_secret)));
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["scope"], "users:read");
    assert_eq!(server.last_request().unwrap().auth_method, Some(AuthMethod::Basic));

    let wrong = post_token(&agent, &server, &form, Some((&creds.client_id, "nope")));
    assert_eq!(wrong.assert_error(401, "invalid_client"), "wrong client secret");
    assert!(wrong.header("www-authenticate").unwrap().starts_with("Basic"));
    let unknown = post_token(&agent, &server, &form, Some(("nobody", "x")));
    assert!(unknown.assert_error(401, "invalid_client").contains("unknown client_id"));
    let none = post_token(&agent, &server, &form, None);
    assert!(none.assert_error(401, "invalid_client").contains("client authentication is required"));
}

#[test]
fn bad_assertions_get_invalid_client_with_a_reason() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let other = server.register_client(Algorithm::Es256).unwrap();
    let token_url = server.token_url().to_owned();
    let error = |jwt: &str| with_assertion(&agent, &server, jwt, None).assert_error(401, "invalid_client");

    // Replayed jti.
    let jwt = assertion(&server, &creds);
    assert_eq!(with_assertion(&agent, &server, &jwt, None).status, 200);
    assert!(error(&jwt).contains("was already used"));

    // Expired.
    let mut claims = claims(&creds, &token_url);
    claims["exp"] = json!(now() - 1);
    claims["iat"] = json!(now() - 301);
    assert_eq!(error(&sign(&creds, &claims)), "client assertion has expired");

    // iat too far in the future.
    let mut claims = common::claims(&creds, &token_url);
    claims["iat"] = json!(now() + 120);
    claims["exp"] = json!(now() + 420);
    assert!(error(&sign(&creds, &claims)).contains("iat is in the future"));

    // Wrong aud (e.g. Talkdesk's production URL).
    let claims = common::claims(&creds, "https://acme.talkdeskid.com/oauth/token");
    assert!(error(&sign(&creds, &claims)).contains(&format!("aud must be {token_url}")));

    // Unknown kid.
    let claims = common::claims(&creds, &token_url);
    assert!(error(&sign_with_kid(&creds, "0123456789abcdef0123456789abcdef", &claims)).contains("unknown kid"));

    // Signed with another client's key, claiming to be `creds`.
    let claims = common::claims(&creds, &token_url);
    assert!(error(&sign_with_kid(&other, &creds.key_id, &claims)).contains("signature does not verify"));

    // iss != sub.
    let mut claims = common::claims(&creds, &token_url);
    claims["sub"] = json!(other.client_id);
    assert!(error(&sign(&creds, &claims)).contains("must equal iss"));

    // iss is another client (kid and key are creds').
    let mut claims = common::claims(&creds, &token_url);
    claims["iss"] = json!(other.client_id);
    claims["sub"] = json!(other.client_id);
    assert!(error(&sign(&creds, &claims)).contains("iss must be the client id"));

    // No jti.
    let mut claims = common::claims(&creds, &token_url);
    claims.as_object_mut().unwrap().remove("jti");
    assert!(error(&sign(&creds, &claims)).contains("no jti"));

    // Garbage.
    assert!(error("not-a-jwt").contains("not a compact JWT"));

    // Wrong client_assertion_type.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer "),
        ("client_assertion", &assertion(&server, &creds)),
    ];
    let answer = post_token(&agent, &server, &form, None);
    assert!(answer.assert_error(401, "invalid_client").contains("client_assertion_type must be"));

    // The failures were recorded with the decoded assertion.
    let failures = server.count(|r| r.error.as_deref() == Some("invalid_client"));
    assert_eq!(failures, 11);
    let last_sig = server.requests().into_iter().filter(|r| r.assertion_claims.is_some()).count();
    assert!(last_sig >= 9);
}

#[test]
fn grant_and_scope_errors() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client_with(ClientSpec::new(Algorithm::Es384).scopes(["users:read"])).unwrap();

    let answer = with_assertion(&agent, &server, &assertion(&server, &creds), Some("users:read contacts:write"));
    assert!(answer.assert_error(400, "invalid_scope").contains("contacts:write"));

    let form = [
        ("grant_type", "password"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", &assertion(&server, &creds)),
    ];
    post_token(&agent, &server, &form, None).assert_error(400, "unsupported_grant_type");

    let form = [("client_assertion_type", JWT_BEARER), ("client_assertion", &assertion(&server, &creds))];
    post_token(&agent, &server, &form, None).assert_error(400, "invalid_request");

    let cc_only = server
        .register_client_with(ClientSpec::new(Algorithm::Es256).grants([Grant::AuthorizationCode, Grant::RefreshToken]))
        .unwrap();
    let answer = with_assertion(&agent, &server, &assertion(&server, &cc_only), None);
    answer.assert_error(400, "unauthorized_client");

    // Not a form.
    let answer = agent.post(server.token_url()).header("content-type", "application/json").send("{}").unwrap();
    assert_eq!(answer.status().as_u16(), 400);
}

#[test]
fn caller_supplied_public_key_is_accepted() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    for alg in [Algorithm::Es256, Algorithm::Es512, Algorithm::Ps256] {
        // A key made elsewhere: only its public half is registered, as PEM.
        let mut creds = server.register_client(alg).unwrap();
        let info = server.register_public_key(ClientSpec::new(alg), &creds.public_key_pem).unwrap();
        creds.client_id = info.client_id;
        creds.key_id = info.key_id;
        assert_eq!(with_assertion(&agent, &server, &assertion(&server, &creds), None).status, 200, "{alg}");
    }
    // DER works too; a chosen id is used; duplicates and keys of the wrong type are refused.
    let mut creds = server.register_client(Algorithm::Ps384).unwrap();
    let spec = ClientSpec::new(Algorithm::Ps384).client_id("my-client").key_id("my-kid");
    let info = server.register_public_key(spec.clone(), &creds.public_key_der).unwrap();
    assert_eq!((info.client_id.as_str(), info.key_id.as_str()), ("my-client", "my-kid"));
    creds.client_id = info.client_id;
    creds.key_id = info.key_id;
    assert_eq!(with_assertion(&agent, &server, &assertion(&server, &creds), None).status, 200);
    let duplicate = server.register_public_key(spec, &creds.public_key_der).unwrap_err();
    assert!(duplicate.to_string().contains("already registered"), "{duplicate}");
    assert!(server.register_public_key(ClientSpec::new(Algorithm::Es256), &creds.public_key_der).is_err());
    assert!(
        server
            .register_public_key(
                ClientSpec::new(Algorithm::Es256),
                b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            )
            .is_err()
    );
}

#[test]
fn api_me_accepts_issued_tokens_only() {
    let server = TestServer::start_https().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let json = with_assertion(&agent, &server, &assertion(&server, &creds), Some("users:read")).json();
    let token = json["access_token"].as_str().unwrap();

    let me = get(&agent, &server.me_url(), Some(token));
    assert_eq!(me.status, 200);
    let body = me.json();
    assert_eq!(body["client_id"], creds.client_id.as_str());
    assert_eq!(body["scopes"], json!(["users:read"]));
    assert_eq!(body["account"], "testkit");

    for bad in [None, Some("garbage"), Some("a.b.c")] {
        let answer = get(&agent, &server.me_url(), bad);
        assert_eq!(answer.status, 401);
        assert!(answer.header("www-authenticate").unwrap().contains("error=\"invalid_token\""));
    }

    // Injected 401s, then the token works again.
    server.fail_next_api_calls(2);
    assert_eq!(get(&agent, &server.me_url(), Some(token)).status, 401);
    assert_eq!(get(&agent, &server.me_url(), Some(token)).status, 401);
    assert_eq!(get(&agent, &server.me_url(), Some(token)).status, 200);

    // Revocation.
    server.revoke_access_tokens();
    assert_eq!(get(&agent, &server.me_url(), Some(token)).status, 401);

    // Expiry: a 1-second token is refused once it has expired.
    server.set_token_lifetime(Duration::from_secs(1));
    let json = with_assertion(&agent, &server, &assertion(&server, &creds), None).json();
    let token = json["access_token"].as_str().unwrap();
    assert_eq!(get(&agent, &server.me_url(), Some(token)).status, 200);
    std::thread::sleep(Duration::from_millis(2100));
    let answer = get(&agent, &server.me_url(), Some(token));
    assert_eq!(answer.status, 401);
    assert!(answer.json()["error_description"].as_str().unwrap().contains("expired"));
}

#[test]
fn records_count_by_path_grant_and_client() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let a = server.register_client(Algorithm::Es256).unwrap();
    let b = server.register_client(Algorithm::Es256).unwrap();
    for _ in 0..3 {
        assert_eq!(with_assertion(&agent, &server, &assertion(&server, &a), None).status, 200);
    }
    let form = [("grant_type", "client_credentials")];
    assert_eq!(post_token(&agent, &server, &form, Some((&b.client_id, &b.client_secret))).status, 200);
    get(&agent, &server.me_url(), None);

    assert_eq!(server.request_count(), 5);
    assert_eq!(server.count_path(TOKEN_PATH), 4);
    assert_eq!(server.count_grant("client_credentials"), 4);
    assert_eq!(server.count_client(&a.client_id), 3);
    assert_eq!(server.count_client(&b.client_id), 1);
    let records = server.requests();
    assert!(records.windows(2).all(|w| w[0].received_at <= w[1].received_at));
    assert_eq!(records[4].status, Some(401));
    assert_eq!(records[4].error.as_deref(), Some("invalid_token"));
    server.clear_requests();
    assert_eq!(server.request_count(), 0);
}

#[test]
fn servers_run_in_parallel() {
    let handles: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let server = if i % 2 == 0 { TestServer::start() } else { TestServer::start_https() }.unwrap();
                let agent = agent(&server);
                let creds = server.register_client(Algorithm::Es256).unwrap();
                for _ in 0..5 {
                    assert_eq!(with_assertion(&agent, &server, &assertion(&server, &creds), None).status, 200);
                }
                server.local_addr().port()
            })
        })
        .collect();
    let mut ports: Vec<u16> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 4);
}

#[test]
fn blocking_start_and_stop() {
    let server = TestServer::start().unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_loopback());
    assert!(std::net::TcpStream::connect(addr).is_ok());
    server.shutdown();
    assert!(std::net::TcpStream::connect(addr).is_err(), "the port is closed after shutdown");

    // Dropping works the same, even with a connection still open.
    let server = TestServer::start_https().unwrap();
    let addr = server.local_addr();
    let _open = std::net::TcpStream::connect(addr).unwrap();
    drop(server);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn starts_and_stops_inside_an_async_runtime() {
    let server = TestServer::start_https().unwrap();
    server.register_client(Algorithm::Es256).unwrap();
    let stream = tokio::net::TcpStream::connect(server.local_addr()).await.unwrap();
    drop(stream);
    let addr = server.local_addr();
    drop(server);
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[test]
fn extra_audience_and_fixed_port() {
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let issuer_aud = sign(&creds, &claims(&creds, server.base_url()));
    with_assertion(&agent, &server, &issuer_aud, None).assert_error(401, "invalid_client");
    server.accept_audience(server.base_url());
    let issuer_aud = sign(&creds, &claims(&creds, server.base_url()));
    assert_eq!(with_assertion(&agent, &server, &issuer_aud, None).status, 200);

    // A chosen port is bound; binding it twice fails with an error, not a panic.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let fixed = TestServer::builder().port(port).start().unwrap();
    assert_eq!(fixed.local_addr().port(), port);
    assert!(matches!(TestServer::builder().port(port).start(), Err(td_oauth_testkit::Error::Bind(_))));
}

#[test]
fn certificate_covers_localhost_too() {
    let server = TestServer::start_https().unwrap();
    let agent = agent(&server);
    let cert = server.certificate().unwrap();
    assert!(cert.pem.starts_with("-----BEGIN CERTIFICATE-----"));
    let url = format!("https://localhost:{}/api/me", server.local_addr().port());
    // Reaching the server proves the name verified; 401 because no token was sent.
    assert_eq!(get(&agent, &url, None).status, 401);
}

#[test]
fn malformed_requests_get_oauth_errors_not_crashes() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let server = TestServer::start().unwrap();
    let agent = agent(&server);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let claims = claims(&creds, server.token_url()).to_string();
    let sig = assertion(&server, &creds).rsplit('.').next().unwrap().to_owned();
    let weird_assertions = [
        String::new(),
        "..".to_owned(),
        "a.b.c.d".to_owned(),
        format!("{}.{}.{sig}", b64("[]"), b64(&claims)),
        format!("{}.{}.{sig}", b64(r#"{"alg":"none","kid":"x"}"#), b64(&claims)),
        format!("{}.{}.{sig}", b64(r#"{"alg":"HS256","kid":"x"}"#), b64(&claims)),
        format!("{}.{}.{sig}", b64(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, creds.key_id)), b64("null")),
        format!("{}.{}.!!!", b64(&format!(r#"{{"alg":"ES256","kid":"{}"}}"#, creds.key_id)), b64(&claims)),
        format!("{}.{}.", b64(&format!(r#"{{"alg":"ES512","kid":"{}"}}"#, creds.key_id)), b64(&claims)),
        "\u{fffd}\u{0}.\u{7f}.x".to_owned(),
    ];
    for jwt in &weird_assertions {
        let answer = with_assertion(&agent, &server, jwt, None);
        assert_eq!(answer.status, 401, "{jwt}");
        assert_eq!(answer.json()["error"], "invalid_client");
    }
    let bodies: [&[u8]; 5] = [
        b"",
        b"%%%&&&===",
        b"grant_type=client_credentials&grant_type=client_credentials",
        b"\xff\xfe\x00",
        b"scope=%ZZ",
    ];
    for body in bodies {
        let answer = agent
            .post(server.token_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("authorization", "Basic !!!")
            .send(body)
            .unwrap();
        assert!(matches!(answer.status().as_u16(), 400 | 401), "{body:?}");
    }
    let big = vec![b'a'; 2 * 1024 * 1024];
    let answer =
        agent.post(server.token_url()).header("content-type", "application/x-www-form-urlencoded").send(&big[..]);
    assert!(answer.map(|r| r.status().as_u16() == 413).unwrap_or(true));
    assert_eq!(get(&agent, &format!("{}/nope", server.base_url()), None).status, 404);
    assert_eq!(agent.get(server.token_url()).call().unwrap().status().as_u16(), 405);
    // Still serving.
    assert_eq!(with_assertion(&agent, &server, &assertion(&server, &creds), None).status, 200);
}

#[test]
fn handle_types_can_be_shared_between_threads() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<TestServer>();
    shareable::<td_oauth_testkit::ClientCredentials>();
    shareable::<td_oauth_testkit::RecordedRequest>();
    shareable::<td_oauth_testkit::Fault>();
    shareable::<td_oauth_testkit::Error>();
}
