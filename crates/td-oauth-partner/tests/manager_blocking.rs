//! The partner-app token manager against one testkit server with 200 registered clients: a token per
//! installation and one request per client, concurrent callers, idle and size-bound eviction, and credential
//! rotation (a refused new set falls back to the old one; a compromised rotation does not).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use td_oauth_core::OAuthError;
use td_oauth_core::jwt::UnverifiedJwt;
use td_oauth_partner::{
    BlockingTokenManager as TokenManager, Error, EventKind, InstallationCredentials, RotationKind, TokenManagerPolicy,
};
use td_oauth_testkit::{
    Algorithm, AppEvent, ClientCredentials, TOKEN_PATH, TestServer, app_event, rotated_to_unknown_client,
};
use td_oauth_transport_tests::setup::TestClock;
use td_oauth_ureq::{Account, Config, RetryPolicy, Scopes, TokenResponse};

const INSTALLATIONS: usize = 200;

fn installed(server: &TestServer, account: &str, creds: &ClientCredentials) -> Vec<u8> {
    app_event(AppEvent::Installed, account, server.token_url(), creds)
}

fn account(index: usize) -> Account {
    format!("acct-{index}").parse().unwrap()
}

fn scopes() -> Scopes {
    "users:read".parse().unwrap()
}

/// A server with `n` clients and a manager with one installation per client.
fn setup(n: usize, policy: TokenManagerPolicy) -> (TestServer, Vec<ClientCredentials>, TokenManager) {
    setup_with(n, policy, TestClock::new())
}

/// [`setup`] on `clock`.
fn setup_with(
    n: usize,
    policy: TokenManagerPolicy,
    clock: TestClock,
) -> (TestServer, Vec<ClientCredentials>, TokenManager) {
    let server = TestServer::start().unwrap();
    // Many fetches at once on a small machine: a generous timeout, and no retry that would add requests.
    let config = Config::new()
        .with_timeout(Duration::from_secs(30))
        .with_retry_policy(RetryPolicy::default().with_max_retries(0).with_deadline(Duration::from_secs(30)))
        .with_clock(clock);
    let manager = TokenManager::with_policy(config, policy).unwrap();
    let clients: Vec<_> = (0..n).map(|_| server.register_client(Algorithm::Es256).unwrap()).collect();
    for (i, creds) in clients.iter().enumerate() {
        let kind = manager.handle_event(&installed(&server, account(i).as_str(), creds)).unwrap();
        assert_eq!(kind, EventKind::Installed);
    }
    (server, clients, manager)
}

/// The client id the server put in the token (`cid`).
fn cid(token: &TokenResponse) -> String {
    let jwt = UnverifiedJwt::decode(token.access_token().secret()).unwrap();
    jwt.claims()["cid"].as_str().unwrap().to_owned()
}

#[test]
fn each_installation_gets_its_own_token_with_one_request_per_client() {
    let (server, clients, manager) = setup(INSTALLATIONS, TokenManagerPolicy::default());
    assert_eq!(manager.installation_count(), INSTALLATIONS);
    assert_eq!(manager.provider_count(), 0, "providers are made on first use");

    let mut first = Vec::new();
    for (i, creds) in clients.iter().enumerate() {
        let token = manager.token(&account(i), &scopes()).unwrap();
        assert_eq!(cid(&token), creds.client_id, "acct-{i} got another installation's token");
        first.push(token);
    }
    let distinct: HashSet<&str> = first.iter().map(|t| t.access_token().secret()).collect();
    assert_eq!(distinct.len(), INSTALLATIONS);
    for creds in &clients {
        assert_eq!(server.count_client(&creds.client_id), 1, "client {}", creds.client_id);
    }
    assert_eq!(server.count_path(TOKEN_PATH), INSTALLATIONS);
    assert_eq!(manager.provider_count(), INSTALLATIONS);

    // Second round: every token from the cache, no request.
    for (i, token) in first.iter().enumerate() {
        let again = manager.token(&account(i), &scopes()).unwrap();
        assert!(token.is_same_token(&again), "acct-{i}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), INSTALLATIONS);

    // Another scope set is another provider over the same client (and its own request).
    let other: Scopes = "users:read apps:read".parse().unwrap();
    let token = manager.token(&account(0), &other).unwrap();
    assert_eq!(cid(&token), clients[0].client_id);
    assert_eq!(server.count_client(&clients[0].client_id), 2);
    assert_eq!(manager.provider_count(), INSTALLATIONS + 1);
}

#[test]
fn concurrent_threads_share_one_request_per_client() {
    const THREADS: usize = 8;
    let (server, clients, manager) = setup(INSTALLATIONS, TokenManagerPolicy::default());
    // Every thread asks for every installation, each starting at another place so that they collide.
    let barrier = Barrier::new(THREADS);
    let per_thread: Vec<Vec<Arc<TokenResponse>>> = thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (manager, barrier) = (manager.clone(), &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    let mut tokens = vec![None; INSTALLATIONS];
                    for n in 0..INSTALLATIONS {
                        let i = (n + t * INSTALLATIONS / THREADS) % INSTALLATIONS;
                        tokens[i] = Some(manager.token(&account(i), &scopes()).unwrap());
                    }
                    tokens.into_iter().map(Option::unwrap).collect()
                })
            })
            .collect();
        handles.into_iter().map(|handle| handle.join().unwrap()).collect()
    });
    for (i, creds) in clients.iter().enumerate() {
        let first = &per_thread[0][i];
        assert!(
            per_thread.iter().all(|tokens| tokens[i].is_same_token(first)),
            "acct-{i}: threads got different tokens"
        );
        assert_eq!(cid(first), creds.client_id);
        assert_eq!(server.count_client(&creds.client_id), 1, "acct-{i}");
    }
    assert_eq!(server.count_path(TOKEN_PATH), INSTALLATIONS);
    assert_eq!(manager.provider_count(), INSTALLATIONS);
}

#[test]
fn idle_providers_are_evicted_and_refetch_once() {
    const N: usize = 20;
    let clock = TestClock::new();
    let (server, clients, manager) = setup_with(N, TokenManagerPolicy::default(), clock.clone());
    for i in 0..N {
        manager.token(&account(i), &scopes()).unwrap();
    }
    assert_eq!(manager.provider_count(), N);

    // Past the idle timeout (30 min): every provider is idle.
    clock.time.advance(Duration::from_secs(31 * 60));
    assert_eq!(manager.evict_idle(), N);
    assert_eq!(manager.provider_count(), 0);
    assert_eq!(manager.installation_count(), N, "eviction drops providers, never installations");

    let token = manager.token(&account(3), &scopes()).unwrap();
    assert_eq!(cid(&token), clients[3].client_id);
    assert_eq!(server.count_client(&clients[3].client_id), 2, "one new request after eviction");
    assert_eq!(server.count_client(&clients[4].client_id), 1);
    assert_eq!(manager.provider_count(), 1);
}

#[test]
fn provider_count_is_bounded() {
    const N: usize = 12;
    let policy = TokenManagerPolicy::default().with_max_providers(5).unwrap();
    let (server, clients, manager) = setup(N, policy);
    for i in 0..N {
        manager.token(&account(i), &scopes()).unwrap();
        assert!(manager.provider_count() <= 5);
    }
    assert_eq!(manager.provider_count(), 5);
    // acct-0 was the least recently used: evicted, so asking again costs a request.
    manager.token(&account(0), &scopes()).unwrap();
    assert_eq!(server.count_client(&clients[0].client_id), 2);
    // acct-11 is among the most recent: still cached.
    manager.token(&account(N - 1), &scopes()).unwrap();
    assert_eq!(server.count_client(&clients[N - 1].client_id), 1);
}

/// A manager counting rotation-fallback reports.
fn with_counter(manager: TokenManager) -> (TokenManager, Arc<AtomicUsize>) {
    let reports = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reports);
    let manager = manager.on_rotation_fallback(move |report| {
        assert!(report.new_client_id().as_str().starts_with("unregistered-"));
        assert!(report.grace_remaining() > Duration::from_secs(6 * 24 * 3600));
        counter.fetch_add(1, Ordering::SeqCst);
    });
    (manager, reports)
}

#[test]
fn refused_new_credentials_fall_back_to_the_old_ones_during_the_grace() {
    let (server, clients, manager) = setup(2, TokenManagerPolicy::default());
    let (manager, reports) = with_counter(manager);
    let old = &clients[0];

    // acct-0 used its credentials before the rotation; acct-1 never did.
    let before = manager.token(&account(0), &scopes()).unwrap();
    for (i, creds) in clients.iter().enumerate() {
        let kind =
            manager.handle_event(&rotated_to_unknown_client(account(i).as_str(), server.token_url(), creds)).unwrap();
        assert_eq!(kind, EventKind::CredentialsRotated);
    }

    let after = manager.token(&account(0), &scopes()).unwrap();
    assert_eq!(cid(&after), old.client_id);
    assert!(before.is_same_token(&after), "the old set's provider and its token were kept");
    assert_eq!(server.count_client("unregistered-acct-0"), 1, "the new set was tried first");
    assert_eq!(reports.load(Ordering::SeqCst), 1);

    // While the fallback lasts, the refused set is not asked again and nothing more is reported.
    let again = manager.token(&account(0), &scopes()).unwrap();
    assert!(before.is_same_token(&again));
    assert_eq!(server.count_client("unregistered-acct-0"), 1);
    assert_eq!(reports.load(Ordering::SeqCst), 1);

    // The same for an installation whose old set had no token yet: it fetches one with the old set.
    let token = manager.token(&account(1), &scopes()).unwrap();
    assert_eq!(cid(&token), clients[1].client_id);
    assert_eq!(server.count_client("unregistered-acct-1"), 1);
    assert_eq!(server.count_client(&clients[1].client_id), 1);
    assert_eq!(reports.load(Ordering::SeqCst), 2);
}

#[test]
fn a_compromised_rotation_never_falls_back() {
    let (server, clients, manager) = setup(2, TokenManagerPolicy::default());
    let (manager, reports) = with_counter(manager);

    // acct-0 holds a token from the old set when the compromise is reported; acct-1 none.
    manager.token(&account(0), &scopes()).unwrap();
    for (i, creds) in clients.iter().enumerate() {
        let credentials = InstallationCredentials::from_event(&rotated_to_unknown_client(
            account(i).as_str(),
            server.token_url(),
            creds,
        ))
        .unwrap();
        manager.rotate(credentials, RotationKind::Compromised).unwrap();
    }
    assert_eq!(manager.provider_count(), 0, "the old set's providers (and tokens) were dropped at once");

    for i in 0..2 {
        let error = manager.token(&account(i), &scopes()).unwrap_err();
        assert!(error.oauth().is_some_and(OAuthError::is_invalid_client), "acct-{i}: {error}");
    }
    assert_eq!(server.count_client(&clients[0].client_id), 1, "no request with the compromised set");
    assert_eq!(server.count_client(&clients[1].client_id), 0, "no request with the compromised set");
    assert_eq!(reports.load(Ordering::SeqCst), 0);
}

#[test]
fn after_the_grace_refused_credentials_are_an_error() {
    let (server, clients, manager) = setup(1, TokenManagerPolicy::default().with_grace(Duration::ZERO));
    let (manager, reports) = with_counter(manager);
    manager.handle_event(&rotated_to_unknown_client("acct-0", server.token_url(), &clients[0])).unwrap();
    let error = manager.token(&account(0), &scopes()).unwrap_err();
    assert!(error.oauth().is_some_and(OAuthError::is_invalid_client), "{error}");
    assert_eq!(server.count_client(&clients[0].client_id), 0);
    assert_eq!(reports.load(Ordering::SeqCst), 0);
}

#[test]
fn a_working_rotation_switches_at_once() {
    let (server, clients, manager) = setup(1, TokenManagerPolicy::default());
    let (manager, reports) = with_counter(manager);
    manager.token(&account(0), &scopes()).unwrap();
    let new = server.register_client(Algorithm::Es256).unwrap();
    let body = app_event(AppEvent::CredentialsRotated, "acct-0", server.token_url(), &new);
    manager.handle_event(&body).unwrap();

    let token = manager.token(&account(0), &scopes()).unwrap();
    assert_eq!(cid(&token), new.client_id);
    assert_eq!(server.count_client(&new.client_id), 1);
    assert_eq!(server.count_client(&clients[0].client_id), 1);
    assert_eq!(reports.load(Ordering::SeqCst), 0);
}

#[test]
fn unknown_and_uninstalled_accounts_are_refused_with_what_to_do() {
    let (server, clients, manager) = setup(1, TokenManagerPolicy::default());
    let error = manager.token(&"nobody".parse().unwrap(), &scopes()).unwrap_err();
    assert!(matches!(&error, Error::UnknownInstallation { account } if account == "nobody"), "{error:?}");
    assert!(error.to_string().contains("TokenManager::install"), "{error}");
    assert!(!error.is_retryable());

    // A rotation for an account never installed is refused too, and installs nothing.
    let body = app_event(AppEvent::CredentialsRotated, "nobody", server.token_url(), &clients[0]);
    assert!(matches!(manager.handle_event(&body), Err(Error::UnknownInstallation { .. })));
    assert_eq!(manager.installation_count(), 1);
    // A malformed event is refused as such, without the key.
    let error = manager.handle_event(b"{\"type\": \"app.installed\"}").unwrap_err();
    assert!(matches!(error, Error::InvalidEvent { .. }), "{error:?}");

    manager.token(&account(0), &scopes()).unwrap();
    assert!(manager.uninstall(&account(0)));
    assert!(!manager.uninstall(&account(0)));
    assert_eq!((manager.provider_count(), manager.installation_count()), (0, 0));
    assert!(matches!(manager.token(&account(0), &scopes()), Err(Error::UnknownInstallation { .. })));

    // Installing again replaces nothing old and works at once.
    manager.handle_event(&installed(&server, "acct-0", &clients[0])).unwrap();
    assert!(manager.provider(&account(0), &scopes()).unwrap().token().is_ok());
    assert!(!format!("{manager:?}").contains(&clients[0].private_key[40..80]));
}
