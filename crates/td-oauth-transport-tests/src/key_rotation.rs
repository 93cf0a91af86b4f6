//! Keys rotated under a running client, against the testkit (which accepts both keys of a client during a
//! rotation and verifies each assertion with the key its `kid` names): a Kubernetes-style secret swapped
//! through its `..data` link is used for the next token once the check interval has passed (on a clock the
//! test steps), a broken new file keeps the key in use, and of several keys the one activated signs.

use std::time::Duration;

use td_oauth_core::clock::ManualClock;
use td_oauth_core::key_set::{KeyFile, KeySet};
use td_oauth_core::{ClientId, Credentials, Grant, KeyId, PrivateKey, Scopes, TokenClient};
use td_oauth_testkit::{Algorithm, SecretVolume, TOKEN_PATH, TestServer};

use crate::driver::Driver;
use crate::setup::{Scheme, config, endpoints, register, server};

fn last_kid(server: &TestServer) -> String {
    let header = server.last_request().unwrap().assertion_header.unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// A key file swapped like a Kubernetes secret: the cached token is served as it is, the next token after
/// the interval is signed with the new key under its new `kid` (and accepted), and a broken update keeps it.
pub fn a_swapped_key_file_signs_the_next_token<D: Driver>() {
    let server = server(Scheme::Https);
    let first = register(&server);
    let second = server.add_client_key(&first.client_id, Algorithm::Es256).unwrap();
    let mut volume = SecretVolume::new("rotation").unwrap();
    volume.update(&first.private_key_pem, &first.key_id).unwrap();
    let clock = ManualClock::new();
    let keys = KeySet::watch(KeyFile::new(volume.key_path(), volume.key_id_path()).with_clock(clock.clone())).unwrap();
    let credentials = Credentials::key_set(ClientId::new(&first.client_id).unwrap(), keys.clone());
    let client = D::client(TokenClient::new(&endpoints(&server), credentials), config(&server)).unwrap();
    let provider = D::provider(&client, Grant::client_credentials(Scopes::none()));

    D::block_on(async {
        D::token(&provider).await.unwrap();
        assert_eq!(last_kid(&server), first.key_id);

        volume.update(&second.private_key, &second.key_id).unwrap();
        clock.advance(Duration::from_secs(5));
        D::token(&provider).await.unwrap();
        assert_eq!(server.count_path(TOKEN_PATH), 1, "the cached token is served; nothing is signed");

        D::invalidate(&provider);
        D::token(&provider).await.unwrap();
        assert_eq!(server.count_path(TOKEN_PATH), 2);
        assert_eq!(last_kid(&server), second.key_id, "the next assertion is signed with the new key");

        volume.update("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", "kid-broken").unwrap();
        clock.advance(Duration::from_secs(5));
        D::invalidate(&provider);
        D::token(&provider).await.unwrap();
        assert_eq!(last_kid(&server), second.key_id, "a broken update keeps the key in use");
    });
    assert_eq!(keys.active_key_id().as_str(), second.key_id);
}

/// Two keys registered for one client, both in the client's set: the active one signs, and activating the
/// other switches the next assertion to it.
pub fn of_several_keys_the_activated_one_signs<D: Driver>() {
    let server = server(Scheme::Http);
    let first = register(&server);
    let second = server.add_client_key(&first.client_id, Algorithm::Es256).unwrap();
    let keys = KeySet::new(KeyId::new(&first.key_id).unwrap(), PrivateKey::parse(&first.private_key).unwrap());
    keys.insert(KeyId::new(&second.key_id).unwrap(), PrivateKey::parse(&second.private_key).unwrap()).unwrap();
    let credentials = Credentials::key_set(ClientId::new(&first.client_id).unwrap(), keys.clone());
    let client = D::client(TokenClient::new(&endpoints(&server), credentials), config(&server)).unwrap();

    D::block_on(D::client_credentials(&client, Scopes::none())).unwrap();
    assert_eq!(last_kid(&server), first.key_id);
    keys.activate(&KeyId::new(&second.key_id).unwrap()).unwrap();
    D::block_on(D::client_credentials(&client, Scopes::none())).unwrap();
    assert_eq!(last_kid(&server), second.key_id);
}
