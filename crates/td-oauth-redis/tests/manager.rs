//! A partner app's fleet: several `TokenManager`s (one per process of the app) over one `FleetCache`, each
//! installation's tokens shared through Redis: one token request per installed account, not per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use td_oauth_redis::{FleetCache, SealingKey};
use td_oauth_reqwest::{Config, Scopes, TokenManager};
use td_oauth_testkit::{Algorithm, ClientCredentials, RedisServer, TestServer};

const INSTALLATIONS: usize = 20;
const MANAGERS: usize = 4;

fn installed(server: &TestServer, account: &str, creds: &ClientCredentials) -> Vec<u8> {
    format!(
        r#"{{"type": "app.installed",
            "data": {{"installation_id": "inst-{account}", "account_name": "{account}", "client_id": "{}",
                      "private_key": "{}", "key_id": "{}", "key_algorithm": "ES256"}},
            "_links": {{"token": {{"href": "{}"}}}}}}"#,
        creds.client_id,
        creds.private_key,
        creds.key_id,
        server.token_url()
    )
    .into_bytes()
}

#[test]
fn managers_in_a_fleet_fetch_once_per_installation() {
    let server = TestServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let clients: Vec<_> = (0..INSTALLATIONS).map(|_| server.register_client(Algorithm::Es256).unwrap()).collect();
    let scopes: Scopes = "users:read".parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();

    rt.block_on(async {
        // Each manager stands for one process of the app: its own providers, the fleet's Redis.
        let managers: Vec<TokenManager> = (0..MANAGERS)
            .map(|_| {
                let fleet = FleetCache::new(&redis.url(), SealingKey::new([0x42; 32])).unwrap();
                let config = Config::default().timeout(Duration::from_secs(20)).shared_cache(Arc::new(fleet));
                let manager = TokenManager::new(config).unwrap();
                for (index, creds) in clients.iter().enumerate() {
                    manager.handle_event(&installed(&server, &format!("acct-{index}"), creds)).unwrap();
                }
                manager
            })
            .collect();
        let calls: Vec<_> = managers
            .iter()
            .flat_map(|manager| (0..INSTALLATIONS).map(move |index| (manager.clone(), index)))
            .map(|(manager, index)| {
                let scopes = scopes.clone();
                tokio::spawn(async move {
                    let account = format!("acct-{index}").parse().unwrap();
                    let token = manager.token(&account, &scopes).await.unwrap();
                    (index, token.access_token().secret().to_owned())
                })
            })
            .collect();
        let mut seen: Vec<Option<String>> = vec![None; INSTALLATIONS];
        for call in calls {
            let (index, token) = call.await.unwrap();
            // Every process got the same token for an installation.
            match &seen[index] {
                Some(first) => assert_eq!(first, &token, "installation {index}"),
                None => seen[index] = Some(token),
            }
        }
    });

    for creds in &clients {
        assert_eq!(server.count_client(&creds.client_id), 1, "one request per installation for the whole fleet");
    }
}
