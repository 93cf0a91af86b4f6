//! Signs a client assertion and prints the token request it would go in, without sending anything.
//!
//! ```sh
//! cargo run -p td-oauth-core --example assertion
//! ```
//!
//! With no environment it uses the repository's test key for an account called `acme`. To see your own,
//! set `TALKDESK_ACCOUNT`, `TALKDESK_CLIENT_ID`, `TALKDESK_KEY_ID` and `TALKDESK_PRIVATE_KEY` (the key as
//! Talkdesk gave it); the output then holds a real, short-lived assertion, so treat it as a secret.

#![allow(clippy::print_stdout)]

use std::time::SystemTime;

use base64::Engine as _;
use td_oauth_core::{ClientId, Credentials, Endpoints, Grant, KeyId, PrivateKey, Region, Scopes, TokenClient};

const TEST_KEY: &str = include_str!("../tests/keys/es256.pkcs8.b64");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let account = env("TALKDESK_ACCOUNT", "acme");
    let region: Region = env("TALKDESK_REGION", "us").parse()?;
    let client_id = ClientId::new(&env("TALKDESK_CLIENT_ID", "0123456789abcdef0123456789abcdef"))?;
    let key_id = KeyId::new(&env("TALKDESK_KEY_ID", "fedcba9876543210fedcba9876543210"))?;
    let key = PrivateKey::parse(&env("TALKDESK_PRIVATE_KEY", TEST_KEY))?;
    println!("key: {key:?}");

    let endpoints = Endpoints::talkdesk(&account, region)?;
    let client = TokenClient::new(&endpoints, Credentials::private_key_jwt(client_id, key_id, key));
    let request = client.token_request(&Grant::client_credentials(Scopes::none()), SystemTime::now())?;

    let form: Vec<(String, String)> = url::form_urlencoded::parse(request.body().as_bytes()).into_owned().collect();
    let assertion = form.iter().find(|(name, _)| name == "client_assertion").map(|(_, v)| v.as_str()).unwrap_or("");
    let mut parts = assertion.split('.');
    let decode = |part: Option<&str>| -> Result<String, Box<dyn std::error::Error>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.unwrap_or_default())?;
        let value: serde_json::Value = serde_json::from_slice(&bytes)?;
        Ok(serde_json::to_string_pretty(&value)?)
    };
    println!("\nassertion header: {}", decode(parts.next())?);
    println!("assertion claims: {}", decode(parts.next())?);
    println!("\nsigned assertion:\n{assertion}");

    println!("\nthe token request it would send:\n");
    println!("{} {} HTTP/1.1", request.method(), request.uri());
    for (name, value) in request.headers() {
        println!("{name}: {}", value.to_str().unwrap_or("<binary>"));
    }
    println!("content-length: {}\n", request.body().len());
    println!("{}", String::from_utf8_lossy(request.body().as_bytes()));
    Ok(())
}
