//! One signer shared by many threads at once: 100 concurrent signatures through its session pool all
//! succeed and all verify.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Barrier;

use td_oauth_pkcs11::{DEFAULT_MAX_SESSIONS, Pkcs11Options};
use td_oauth_testkit::{Algorithm, SoftHsm, TestServer};

#[test]
fn a_hundred_concurrent_signatures_through_one_signer_all_succeed() {
    SoftHsm::run_isolated("a_hundred_concurrent_signatures_through_one_signer_all_succeed", |hsm| {
        let server = TestServer::start().unwrap();
        let clients = common::token_with_keys(hsm, &server, "td", &[(Algorithm::Es256, "app-key")]);
        let signer = common::open(hsm, "pkcs11:token=td;object=app-key", Pkcs11Options::default());
        let barrier = Barrier::new(100);
        let results: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..100)
                .map(|i| {
                    let (signer, barrier) = (&signer, &barrier);
                    scope.spawn(move || {
                        let message = format!("header.claims-{i}");
                        barrier.wait();
                        (message.clone(), signer.sign_raw(message.as_bytes()))
                    })
                })
                .collect();
            handles.into_iter().map(|handle| handle.join().unwrap()).collect()
        });
        let mut failures = Vec::new();
        for (message, result) in &results {
            match result {
                Ok(signature) => {
                    common::verify(signer.algorithm(), &clients[0].public_key_der, message.as_bytes(), signature)
                        .unwrap();
                }
                Err(err) => failures.push(err.to_string()),
            }
        }
        assert!(failures.is_empty(), "{} of 100 signatures failed: {failures:?}", failures.len());
        assert_eq!(results.len(), 100);
        // The hundred shared a few sessions, kept open for the next signatures.
        let open = signer.sessions_open();
        assert!((1..=DEFAULT_MAX_SESSIONS).contains(&open), "{open} sessions open");
    });
}

#[test]
fn one_session_serves_every_thread_in_turn() {
    SoftHsm::run_isolated("one_session_serves_every_thread_in_turn", |hsm| {
        let server = TestServer::start().unwrap();
        let clients = common::token_with_keys(hsm, &server, "td", &[(Algorithm::Ps256, "app-key")]);
        let signer = common::open(hsm, "pkcs11:token=td;object=app-key", Pkcs11Options::default().with_max_sessions(1));
        assert_eq!(signer.sessions_open(), 1);
        std::thread::scope(|scope| {
            for i in 0..20 {
                let (signer, clients) = (&signer, &clients);
                scope.spawn(move || {
                    let message = format!("m{i}");
                    let signature = signer.sign_raw(message.as_bytes()).unwrap();
                    common::verify(signer.algorithm(), &clients[0].public_key_der, message.as_bytes(), &signature)
                        .unwrap();
                });
            }
        });
        assert_eq!(signer.sessions_open(), 1, "one session, reused by every signature");
    });
}
