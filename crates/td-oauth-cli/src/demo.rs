//! `demo`: the whole flow against an in-process identity server, narrated, with no account and no network.
//! Every step checks what it shows; the demo exits non-zero if any step did not do what it says.

use std::time::SystemTime;

use serde_json::{Map, Value};
use td_oauth_core::jwt::UnverifiedJwt;
use td_oauth_core::random::OsRandom;
use td_oauth_core::{ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes, TokenClient, TokenResponse};
use td_oauth_testkit::{Algorithm, TestServer};

use crate::error::CliError;
use crate::output::out;

fn check(condition: bool, what: &str) -> Result<(), CliError> {
    if condition { Ok(()) } else { Err(CliError::Failed(format!("demo: {what}"))) }
}

fn pretty(map: &Map<String, Value>) -> String {
    serde_json::to_string_pretty(map).unwrap_or_default().replace('\n', "\n    ")
}

fn describe(token: &TokenResponse) -> String {
    let tail: String =
        token.access_token().secret().chars().rev().take(6).collect::<Vec<_>>().into_iter().rev().collect();
    format!("expires in {} s, scope {:?}, token …{tail}", token.expires_in().as_secs(), token.scope().unwrap_or(""))
}

pub(crate) fn demo() -> Result<(), CliError> {
    out!("1. Starting a Talkdesk-compatible identity server on loopback (td-oauth-testkit)…")?;
    let server = TestServer::start()?;
    out!("   token endpoint: {}", server.token_url())?;

    out!("\n2. Registering a client with an ES256 key, handed out as Talkdesk does (one-line Base64 PKCS#8)…")?;
    let registered = server.register_client(Algorithm::Es256)?;
    out!("   client id {}, key id {}", registered.client_id, registered.key_id)?;
    out!("   private key starts {}…", &registered.private_key.chars().take(20).collect::<String>())?;
    let endpoints = Endpoints::from_token_url(server.token_url())?;
    let credentials = || -> Result<Credentials, CliError> {
        Ok(Credentials::private_key_jwt(
            ClientId::new(&registered.client_id)?,
            KeyId::new(&registered.key_id)?,
            PrivateKey::parse(&registered.private_key)?,
        ))
    };

    out!("\n3. Signing a client assertion (private_key_jwt) with td-oauth-core…")?;
    let core = TokenClient::new(&endpoints, credentials()?);
    let signer = core.assertion_signer().ok_or_else(|| CliError::Failed("demo: no assertion signer".into()))?;
    let assertion = signer.sign(SystemTime::now(), &OsRandom::new())?;
    let jwt = UnverifiedJwt::decode(assertion.secret())?;
    out!("   header: {}", pretty(jwt.header()))?;
    out!("   claims: {}", pretty(jwt.claims()))?;
    check(jwt.claims().get("aud").and_then(Value::as_str) == Some(server.token_url()), "aud is not the token URL")?;

    out!("\n4. Fetching a token with the blocking provider (td-oauth-ureq)…")?;
    let blocking = td_oauth_ureq::TokenProvider::client_credentials(
        td_oauth_ureq::Client::from_token_client(core, td_oauth_ureq::Config::new())?,
        Scopes::none(),
    );
    let first = blocking.token()?;
    out!("   got a Bearer token: {}", describe(&first))?;
    out!("   token requests the server has seen: {}", server.request_count())?;
    check(server.request_count() == 1, "the first token should take exactly one request")?;

    out!("\n5. Asking again: a cache hit, no request…")?;
    let again = blocking.token()?;
    check(first.is_same_token(&again), "the second token should be the cached one")?;
    out!("   same token, requests still {}", server.request_count())?;
    check(server.request_count() == 1, "a cache hit must not send a request")?;

    out!("\n6. Fetching a token with the async provider (td-oauth-reqwest on tokio)…")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Failed(format!("demo: cannot start tokio: {err}")))?;
    let async_client = td_oauth_reqwest::Client::new(&endpoints, credentials()?)?;
    let async_provider = async_client.provider(Grant::client_credentials(Scopes::none()));
    let me = runtime.block_on(async {
        let token = async_provider.token().await?;
        out!("   got a Bearer token: {}", describe(&token))?;
        out!("\n7. Calling a protected API with it (Authorization: Bearer, refreshed once on a 401)…")?;
        let bearer = async_provider.bearer_client();
        let request = bearer
            .http_client()
            .get(server.me_url())
            .build()
            .map_err(|err| CliError::Failed(format!("demo: cannot build the API request: {err}")))?;
        let response = bearer.execute(request).await?;
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, CliError>((status, body))
    })?;
    out!("   GET {} -> {}: {}", server.me_url(), me.0, me.1)?;
    check(me.0 == 200, "the protected resource should accept the token")?;
    check(server.request_count() == 3, "the async provider should have fetched once")?;

    out!("\n8. Refreshing: the blocking provider drops its token and fetches a new one…")?;
    let refreshed = blocking.force_refresh()?;
    check(refreshed.access_token().secret() != first.access_token().secret(), "the refreshed token should be new")?;
    out!("   a different token: {}", describe(&refreshed))?;
    out!("   token requests the server has seen: {}", server.count_path(td_oauth_testkit::TOKEN_PATH))?;

    out!("\nEvery step worked. Debug output never shows a secret: {refreshed:?}")?;
    Ok(())
}
