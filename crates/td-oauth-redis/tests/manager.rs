//! A partner app's fleet: several `TokenManager`s (one per process of the app, async with a `FleetCache` or
//! blocking with a `BlockingFleetCache`), each installation's tokens shared through Redis: one token request
//! per installed account, not per process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use td_oauth_partner::TokenManager;
use td_oauth_redis::{BlockingFleetCache, FleetCache, FleetConfig, SealingKey};
use td_oauth_reqwest::{Config, Scopes};
use td_oauth_testkit::{Algorithm, AppEvent, RedisServer, TestServer, app_event};

const INSTALLATIONS: usize = 20;
const MANAGERS: usize = 4;

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
                // A generous Redis timeout: a loaded machine must not pass for a slow Redis (a direct fetch).
                let settings = FleetConfig::default().with_redis_timeout(Duration::from_secs(5));
                let fleet = FleetCache::with_config(&redis.url(), SealingKey::new([0x42; 32]), settings).unwrap();
                let config = Config::default().with_timeout(Duration::from_secs(20)).with_shared_cache(Arc::new(fleet));
                let manager = TokenManager::new(config).unwrap();
                for (index, creds) in clients.iter().enumerate() {
                    let event = app_event(AppEvent::Installed, &format!("acct-{index}"), server.token_url(), creds);
                    manager.handle_event(&event).unwrap();
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

#[test]
fn blocking_managers_in_a_fleet_fetch_once_per_installation() {
    let server = TestServer::start().unwrap();
    let redis = RedisServer::start().unwrap();
    let clients: Vec<_> = (0..INSTALLATIONS).map(|_| server.register_client(Algorithm::Es256).unwrap()).collect();
    let scopes: Scopes = "users:read".parse().unwrap();
    // Each td-oauth-ureq manager stands for one blocking process of the app, with its own BlockingFleetCache.
    let managers: Vec<td_oauth_partner::BlockingTokenManager> = (0..MANAGERS)
        .map(|_| {
            let settings = FleetConfig::default().with_redis_timeout(Duration::from_secs(5));
            let fleet = BlockingFleetCache::with_config(&redis.url(), SealingKey::new([0x42; 32]), settings).unwrap();
            let config = td_oauth_ureq::Config::default()
                .with_timeout(Duration::from_secs(20))
                .with_shared_cache(Arc::new(fleet));
            let manager = td_oauth_partner::BlockingTokenManager::new(config).unwrap();
            for (index, creds) in clients.iter().enumerate() {
                let event = app_event(AppEvent::Installed, &format!("acct-{index}"), server.token_url(), creds);
                manager.handle_event(&event).unwrap();
            }
            manager
        })
        .collect();
    let tokens: Vec<(usize, String)> = std::thread::scope(|scope| {
        let calls: Vec<_> = managers
            .iter()
            .flat_map(|manager| (0..INSTALLATIONS).map(move |index| (manager, index)))
            .map(|(manager, index)| {
                let scopes = &scopes;
                scope.spawn(move || {
                    let account = format!("acct-{index}").parse().unwrap();
                    (index, manager.token(&account, scopes).unwrap().access_token().secret().to_owned())
                })
            })
            .collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    let mut seen: Vec<Option<String>> = vec![None; INSTALLATIONS];
    for (index, token) in tokens {
        match &seen[index] {
            Some(first) => assert_eq!(first, &token, "installation {index}"),
            None => seen[index] = Some(token),
        }
    }
    for creds in &clients {
        assert_eq!(server.count_client(&creds.client_id), 1, "one request per installation for the whole fleet");
    }
}
