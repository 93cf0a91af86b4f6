//! The worked example of a signer outside the process (docs/signers.md): a Talkdesk token whose assertion
//! is signed by a key that exists only inside a Vault-transit-style signing service.
//!
//! Run with `cargo run -p td-oauth-reqwest --example transit_signer`. Here the testkit stands in for both
//! Talkdesk's identity service and Vault; in production, `address` is your `VAULT_ADDR`, the token your
//! Vault token, and the endpoints `Endpoints::talkdesk("your-account", Region::Us)`.

#![allow(clippy::print_stdout)]

mod signer;

use std::sync::Arc;

use td_oauth_reqwest::core::signer::AsyncSigner;
use td_oauth_reqwest::{Client, ClientId, Credentials, Endpoints, KeyId, Scopes};
use td_oauth_testkit::{Algorithm, ClientSpec, SigningService, TestServer};

use self::signer::TransitSigner;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Stand-ins: a transit engine holding the key, and an identity server that knows its public half.
    let vault = SigningService::start("s.example-token")?;
    let public_key_pem = vault.create_key("talkdesk-app", Algorithm::Es256)?;
    let identity = TestServer::start()?;
    let registered = identity.register_public_key(ClientSpec::new(Algorithm::Es256), &public_key_pem)?;

    // What a program does: a signer over the transit key, and credentials that use it.
    let signer = TransitSigner::new(
        &vault.url(),
        "s.example-token",
        "talkdesk-app",
        KeyId::new(&registered.key_id)?,
        td_oauth_reqwest::core::Algorithm::Es256,
        &public_key_pem,
    )?;
    let credentials =
        Credentials::async_signer(ClientId::new(&registered.client_id)?, Arc::new(signer) as Arc<dyn AsyncSigner>)?;
    let client = Client::new(&Endpoints::from_token_url(identity.token_url())?, credentials)?;

    let token = client.client_credentials(Scopes::none()).await?;
    println!(
        "token for {} expires in {} s; {} signature(s) from the transit engine",
        registered.client_id,
        token.expires_in().as_secs(),
        vault.requests()
    );
    Ok(())
}
