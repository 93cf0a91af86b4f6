//! The rotation-fallback warning of both managers names the account and both clients, and holds no secret.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use td_oauth_core::{Account, Scopes};
use td_oauth_partner::{BlockingTokenManager, TokenManager};
use td_oauth_testkit::{Algorithm, AppEvent, LogCapture, app_event, check_fallback_warning, rotated_to_unknown_client};
use td_oauth_transport_tests::setup::{Scheme, config, server};

#[tokio::test]
async fn the_async_manager_fallback_warning_names_the_clients_and_holds_no_secret() {
    let capture = LogCapture::default();
    let _events = capture.install();
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let manager = TokenManager::new(config(&server)).unwrap();
    manager.handle_event(&app_event(AppEvent::Installed, "acct-0", server.token_url(), &creds)).unwrap();
    let account: Account = "acct-0".parse().unwrap();
    let token = manager.token(&account, &Scopes::none()).await.unwrap();
    manager.handle_event(&rotated_to_unknown_client("acct-0", server.token_url(), &creds)).unwrap();
    manager.token(&account, &Scopes::none()).await.unwrap();
    check_fallback_warning(&capture.text(), &creds, token.access_token().secret()).unwrap();
}

#[test]
fn the_blocking_manager_fallback_warning_names_the_clients_and_holds_no_secret() {
    let capture = LogCapture::default();
    let _events = capture.install();
    let server = server(Scheme::Http);
    let creds = server.register_client(Algorithm::Es256).unwrap();
    let manager = BlockingTokenManager::new(config(&server)).unwrap();
    manager.handle_event(&app_event(AppEvent::Installed, "acct-0", server.token_url(), &creds)).unwrap();
    let account: Account = "acct-0".parse().unwrap();
    let token = manager.token(&account, &Scopes::none()).unwrap();
    manager.handle_event(&rotated_to_unknown_client("acct-0", server.token_url(), &creds)).unwrap();
    manager.token(&account, &Scopes::none()).unwrap();
    check_fallback_warning(&capture.text(), &creds, token.access_token().secret()).unwrap();
}
