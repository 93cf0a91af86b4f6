//! The sans-IO seam, by hand: td-oauth-core builds the request and reads the answer, plain hyper moves the
//! bytes. No td-oauth transport crate is involved.
//!
//! ```sh
//! cargo run -p td-oauth-core --example hyper
//! ```
//!
//! It starts td-oauth-testkit (a Talkdesk-compatible identity server on loopback), registers a client with an
//! ES256 key, and fetches a token over one HTTP/1.1 connection. Swap the testkit's URL for
//! `Endpoints::talkdesk(account, region)` and a TLS stream to do the same against Talkdesk.

#![allow(clippy::print_stdout)]

use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use td_oauth_core::{
    ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey, Scopes, TokenClient, TokenResponse, http,
};
use td_oauth_testkit::{Algorithm, TestServer};

/// What any transport should cap a token response at: Talkdesk's are about 2 KiB.
const MAX_BODY: usize = 64 * 1024;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let server = TestServer::start()?;
    let registered = server.register_client(Algorithm::Es256)?;
    println!("identity server at {}", server.token_url());

    // 1. The core: endpoints, key and credentials in, an `http::Request` out. Nothing is sent yet.
    let endpoints = Endpoints::from_token_url(server.token_url())?;
    let key = PrivateKey::parse(&registered.private_key)?;
    let credentials =
        Credentials::private_key_jwt(ClientId::new(&registered.client_id)?, KeyId::new(&registered.key_id)?, key);
    let client = TokenClient::new(&endpoints, credentials);
    let request = client.token_request(&Grant::client_credentials(Scopes::none()), SystemTime::now())?;

    // 2. The transport's job: connect, send, read a bounded body. HTTP/1.1 wants a Host header and an
    //    origin-form target, which a client library would add for us.
    let uri = request.uri().clone();
    let host = uri.authority().ok_or("token URL without host")?.clone();
    let (mut parts, body) = request.into_parts();
    parts.uri = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/").parse()?;
    parts.headers.insert(http::header::HOST, http::HeaderValue::from_str(host.as_str())?);
    let request = http::Request::from_parts(parts, Full::new(Bytes::from(body.into_vec())));

    let stream = tokio::net::TcpStream::connect(host.as_str()).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY).collect().await?.to_bytes();

    // 3. The core again: status, headers and bytes in, a typed token or a typed error out.
    let token = TokenResponse::from_http(&http::Response::from_parts(parts, body), Instant::now())?;
    println!("got a {token}");
    println!("debug output stays clean: {token:?}");
    println!("requests the server saw: {}", server.request_count());
    Ok(())
}
