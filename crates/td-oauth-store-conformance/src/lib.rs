//! The installation store's contract ([`td_oauth_partner::store::InstallationStore`]), written once and run
//! against every store: the memory store, Redis, Redis Cluster and PostgreSQL.
//!
//! Each check takes handles on one store, as separate replicas would hold them (two handles are two
//! connections), uses keys and event ids of its own (so checks can share a store), and panics with what
//! broke. [`run`] runs them all; [`lost_and_resumed`] and [`unavailable`] need a server the test can
//! restart or stop.
//!
//! Waiting for an expiry or a notice is bounded by a deadline well past what the contract promises; no
//! check asserts how fast a store is.

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![allow(clippy::panic)]

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use td_oauth_partner::store::{
    BlockingStore, EventClaim, InstallationStore, Notice, NoticeSink, Put, StoreError, Versioned,
};

/// A store as the checks take it.
pub type Store = Arc<dyn InstallationStore>;

/// The budget for a change to reach another replica.
pub const NOTICE_BUDGET: Duration = Duration::from_secs(2);

/// How long a check waits for something the contract says will happen (an expiry, a reconnection).
const PATIENCE: Duration = Duration::from_secs(20);

/// Runs every check of the contract that needs no restart, on two handles on one store.
pub async fn run(first: &Store, second: &Store) {
    compare_and_set(first).await;
    versions_across_replicas(first, second).await;
    one_of_concurrent_writers_wins(first, second).await;
    values_round_trip(first).await;
    list(first, second).await;
    notices_across_replicas(first, second).await;
    claims_race(first, second).await;
    lease_lapses(first, second).await;
    finished_events_are_remembered_then_forgotten(first, second).await;
    release(first, second).await;
}

/// A name no other check (nor an earlier run on the same server) uses.
pub fn unique(what: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    let mut name = format!("{what}-{}-", std::process::id());
    let _ = write!(name, "{nanos:x}-{}", COUNTER.fetch_add(1, Ordering::Relaxed));
    name
}

fn ok<T>(result: Result<T, StoreError>, what: &str) -> T {
    result.unwrap_or_else(|err| panic!("{what}: the store failed: {err}"))
}

fn versioned(version: u64, value: &[u8]) -> Versioned {
    Versioned { version, value: value.to_vec() }
}

/// A write succeeds only against the version stored: `None` only when nothing is; a conflict writes
/// nothing and says what is stored.
pub async fn compare_and_set(store: &Store) {
    let key = unique("cas");
    assert_eq!(ok(store.get(&key).await, "get of a key never written"), None);
    assert_eq!(
        ok(store.put(&key, Some(1), b"nothing to replace").await, "put over nothing with a version"),
        Put::Conflict { current: None },
        "a write expecting version 1 where nothing is stored must conflict"
    );
    assert_eq!(ok(store.get(&key).await, "get after a conflict"), None, "a conflict must write nothing");
    assert_eq!(ok(store.put(&key, None, b"one").await, "first put"), Put::Written { version: 1 });
    assert_eq!(
        ok(store.put(&key, None, b"again").await, "second put expecting nothing"),
        Put::Conflict { current: Some(versioned(1, b"one")) },
        "a write expecting nothing where something is stored must conflict and show it"
    );
    assert_eq!(
        ok(store.put(&key, Some(2), b"ahead").await, "put with a version ahead"),
        Put::Conflict { current: Some(versioned(1, b"one")) }
    );
    assert_eq!(ok(store.put(&key, Some(1), b"two").await, "put on version 1"), Put::Written { version: 2 });
    assert_eq!(ok(store.get(&key).await, "get after two writes"), Some(versioned(2, b"two")));
    assert_eq!(
        ok(store.put(&key, Some(1), b"stale").await, "put on an old version"),
        Put::Conflict { current: Some(versioned(2, b"two")) },
        "a write on an old version must conflict"
    );
}

/// Versions grow by one per write, whichever replica writes, and each replica reads the other's writes.
pub async fn versions_across_replicas(first: &Store, second: &Store) {
    let key = unique("versions");
    let mut expected = None;
    for round in 1..=6u64 {
        let writer = if round % 2 == 1 { first } else { second };
        let reader = if round % 2 == 1 { second } else { first };
        let value = format!("value {round}");
        assert_eq!(
            ok(writer.put(&key, expected, value.as_bytes()).await, "put"),
            Put::Written { version: round },
            "write {round}"
        );
        assert_eq!(ok(reader.get(&key).await, "get"), Some(versioned(round, value.as_bytes())), "read {round}");
        expected = Some(round);
    }
}

/// Of replicas writing on the same version at once, exactly one succeeds; the others see its write.
pub async fn one_of_concurrent_writers_wins(first: &Store, second: &Store) {
    const WRITERS: usize = 12;
    let key = unique("race");
    assert_eq!(ok(first.put(&key, None, b"base").await, "base put"), Put::Written { version: 1 });
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let store = Arc::clone(if writer % 2 == 0 { first } else { second });
        let key = key.clone();
        tasks.push(tokio::spawn(async move { store.put(&key, Some(1), format!("w{writer}").as_bytes()).await }));
    }
    let mut winners = Vec::new();
    let mut losers = Vec::new();
    for (writer, task) in tasks.into_iter().enumerate() {
        match ok(task.await.unwrap_or_else(|err| panic!("writer task: {err}")), "concurrent put") {
            Put::Written { version } => winners.push((writer, version)),
            Put::Conflict { current } => losers.push(current),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one of {WRITERS} concurrent writers must win: {winners:?}");
    let (winner, version) = winners[0];
    assert_eq!(version, 2);
    let stored = versioned(2, format!("w{winner}").as_bytes());
    for current in losers {
        assert_eq!(current.as_ref(), Some(&stored), "a loser must be shown the winner's write");
    }
}

/// Values are bytes: empty, every byte value, and a large one come back as written.
pub async fn values_round_trip(store: &Store) {
    let every_byte: Vec<u8> = (0..=255u8).collect();
    let large: Vec<u8> = (0..64 * 1024).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    for (what, value) in [("empty", Vec::new()), ("every byte", every_byte), ("64 KiB", large)] {
        let key = unique("bytes");
        assert_eq!(ok(store.put(&key, None, &value).await, what), Put::Written { version: 1 });
        assert_eq!(ok(store.get(&key).await, what), Some(versioned(1, &value)), "{what} value");
    }
}

/// `list` shows every key written, by any replica, with its latest version and value, each once.
pub async fn list(first: &Store, second: &Store) {
    let run = unique("list");
    let keys = [format!("{run}-a"), format!("{run}:b-eu"), format!("{run} c")];
    assert_eq!(ok(first.put(&keys[0], None, b"a").await, "put a"), Put::Written { version: 1 });
    assert_eq!(ok(second.put(&keys[1], None, b"b").await, "put b"), Put::Written { version: 1 });
    assert_eq!(ok(second.put(&keys[1], Some(1), b"b2").await, "put b again"), Put::Written { version: 2 });
    assert_eq!(ok(first.put(&keys[2], None, b"c").await, "put c"), Put::Written { version: 1 });
    for (name, store) in [("first", first), ("second", second)] {
        let mut mine: Vec<(String, Versioned)> =
            ok(store.list().await, "list").into_iter().filter(|(key, _)| key.starts_with(&run)).collect();
        mine.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = vec![
            (keys[0].clone(), versioned(1, b"a")),
            (keys[1].clone(), versioned(2, b"b2")),
            (keys[2].clone(), versioned(1, b"c")),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(mine, expected, "the {name} replica's list");
    }
}

/// What a subscription heard, for the checks to wait on.
#[derive(Clone, Default)]
pub struct Heard {
    notices: Arc<Mutex<Vec<Notice>>>,
}

impl Heard {
    /// A sink that records into this.
    pub fn sink(&self) -> NoticeSink {
        let notices = Arc::clone(&self.notices);
        Arc::new(move |notice| notices.lock().unwrap_or_else(PoisonError::into_inner).push(notice))
    }

    /// Everything heard so far.
    pub fn all(&self) -> Vec<Notice> {
        self.notices.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Waits up to `deadline` for a notice that `wanted` accepts (among those heard since the start);
    /// whether one came.
    pub async fn wait_for(&self, deadline: Duration, wanted: impl Fn(&Notice) -> bool) -> bool {
        let started = Instant::now();
        loop {
            if self.all().iter().any(&wanted) {
                return true;
            }
            if started.elapsed() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Heard {
    /// [`wait_for`](Self::wait_for) for blocking code.
    pub fn wait_for_blocking(&self, deadline: Duration, wanted: impl Fn(&Notice) -> bool) -> bool {
        let started = Instant::now();
        while !self.all().iter().any(&wanted) {
            if started.elapsed() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

/// From blocking code (no runtime of the caller's: td-oauth-partner's `BlockingStore` drives the store on
/// one of its own), two handles still share writes, reads, notices and claims. Call it outside any runtime.
pub fn from_blocking_code(first: Store, second: Store) {
    let first = ok(BlockingStore::new(first), "a blocking store over the first handle");
    let second = ok(BlockingStore::new(second), "a blocking store over the second handle");
    let key = unique("blocking");
    let heard = Heard::default();
    let subscription = ok(second.subscribe_blocking(heard.sink()), "subscribe from blocking code");
    assert_eq!(ok(first.put_blocking(&key, None, b"one"), "put"), Put::Written { version: 1 });
    assert_eq!(ok(second.get_blocking(&key), "get"), Some(versioned(1, b"one")));
    assert!(
        heard.wait_for_blocking(NOTICE_BUDGET, changed(&key, 1)),
        "a blocking replica hears a write within {NOTICE_BUDGET:?}: {:?}",
        heard.all()
    );
    assert!(ok(second.list_blocking(), "list").iter().any(|(listed, _)| *listed == key));
    let event = unique("blocking-event");
    let lease = Duration::from_secs(60);
    assert_eq!(ok(first.claim_event_blocking(&event, "first", lease), "claim"), EventClaim::Claimed);
    assert_eq!(ok(second.claim_event_blocking(&event, "second", lease), "claim"), EventClaim::Busy);
    ok(first.finish_event_blocking(&event, lease), "finish");
    assert_eq!(ok(second.claim_event_blocking(&event, "second", lease), "claim"), EventClaim::Done);
    drop(subscription);
}

fn changed(key: &str, version: u64) -> impl Fn(&Notice) -> bool + '_ {
    move |notice| matches!(notice, Notice::Changed { key: k, version: v } if k == key && *v == version)
}

/// A write on one replica is announced to the other's subscription (and the writer's own) within the
/// 2 s budget, with its key and version; a dropped subscription hears nothing more; a conflict announces
/// nothing.
pub async fn notices_across_replicas(first: &Store, second: &Store) {
    let key = unique("notice");
    let on_second = Heard::default();
    let on_first = Heard::default();
    let second_subscription = ok(second.subscribe(on_second.sink()).await, "subscribe on the second replica");
    let first_subscription = ok(first.subscribe(on_first.sink()).await, "subscribe on the first replica");

    assert_eq!(ok(first.put(&key, None, b"v1").await, "put"), Put::Written { version: 1 });
    assert!(
        on_second.wait_for(NOTICE_BUDGET, changed(&key, 1)).await,
        "the second replica must hear of version 1 within {NOTICE_BUDGET:?}; heard {:?}",
        on_second.all()
    );
    assert!(on_first.wait_for(NOTICE_BUDGET, changed(&key, 1)).await, "the writer's own subscription hears it too");

    assert_eq!(ok(second.put(&key, Some(1), b"v2").await, "put"), Put::Written { version: 2 });
    assert!(on_first.wait_for(NOTICE_BUDGET, changed(&key, 2)).await, "the first replica hears version 2");

    // A conflict writes nothing, so announces nothing.
    assert!(matches!(ok(first.put(&key, Some(1), b"stale").await, "stale put"), Put::Conflict { .. }));

    drop(second_subscription);
    assert_eq!(ok(first.put(&key, Some(2), b"v3").await, "put"), Put::Written { version: 3 });
    assert!(on_first.wait_for(NOTICE_BUDGET, changed(&key, 3)).await, "the first replica hears version 3");
    // The first subscription heard version 3, which was published after the second was dropped; give the
    // second as long again before concluding it heard nothing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(first_subscription);

    let mine = |heard: &Heard| -> Vec<Notice> {
        heard.all().into_iter().filter(|n| !matches!(n, Notice::Changed { key: k, .. } if *k != key)).collect()
    };
    assert_eq!(
        mine(&on_second),
        vec![Notice::Changed { key: key.clone(), version: 1 }, Notice::Changed { key: key.clone(), version: 2 }],
        "the second replica hears each write once, in order, and nothing after its subscription is dropped"
    );
    assert_eq!(
        mine(&on_first),
        (1..=3).map(|version| Notice::Changed { key: key.clone(), version }).collect::<Vec<_>>(),
        "the first replica hears each write once, in order, and no Lost or Resumed while the store is up"
    );
}

/// Of many claims on one event at once, on both replicas, exactly one is `Claimed`, the others `Busy`;
/// once finished, every claim is `Done`.
pub async fn claims_race(first: &Store, second: &Store) {
    const CLAIMERS: usize = 16;
    let event = unique("event-race");
    let mut tasks = Vec::new();
    for claimer in 0..CLAIMERS {
        let store = Arc::clone(if claimer % 2 == 0 { first } else { second });
        let event = event.clone();
        let holder = format!("claimer-{claimer}");
        tasks.push(tokio::spawn(async move { store.claim_event(&event, &holder, Duration::from_secs(60)).await }));
    }
    let mut claims = Vec::new();
    for task in tasks {
        claims.push(ok(task.await.unwrap_or_else(|err| panic!("claim task: {err}")), "concurrent claim"));
    }
    let claimed = claims.iter().filter(|claim| **claim == EventClaim::Claimed).count();
    assert_eq!(claimed, 1, "exactly one of {CLAIMERS} concurrent claims wins: {claims:?}");
    assert!(claims.iter().all(|claim| matches!(claim, EventClaim::Claimed | EventClaim::Busy)), "{claims:?}");

    ok(first.finish_event(&event, Duration::from_secs(60)).await, "finish");
    for store in [first, second] {
        assert_eq!(ok(store.claim_event(&event, "late", Duration::from_secs(60)).await, "claim"), EventClaim::Done);
    }
}

/// Waits (bounded) until a claim on `event` through `store` is `Claimed`; panics naming `why` if it never is.
async fn claimed_eventually(store: &Store, event: &str, why: &str) {
    let started = Instant::now();
    loop {
        match ok(store.claim_event(event, "eventual", Duration::from_secs(60)).await, "claim") {
            EventClaim::Claimed => return,
            other if started.elapsed() >= PATIENCE => panic!("{why}: still {other:?} after {PATIENCE:?}"),
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// A claim not finished by the end of its lease lapses: another replica then claims the event.
pub async fn lease_lapses(first: &Store, second: &Store) {
    let event = unique("event-lease");
    assert_eq!(ok(first.claim_event(&event, "first", Duration::from_millis(300)).await, "claim"), EventClaim::Claimed);
    assert_eq!(
        ok(second.claim_event(&event, "second", Duration::from_secs(60)).await, "claim"),
        EventClaim::Busy,
        "a live claim keeps others out"
    );
    claimed_eventually(second, &event, "a lapsed lease must let another replica claim the event").await;
    ok(first.release_event(&event, "first").await, "release of a lapsed claim");
    assert_eq!(
        ok(first.claim_event(&event, "first", Duration::from_secs(60)).await, "claim"),
        EventClaim::Busy,
        "the new claim holds, also after the lapsed holder released its own"
    );
}

/// A finished event is `Done` for as long as it is remembered, then forgotten (claimable again).
pub async fn finished_events_are_remembered_then_forgotten(first: &Store, second: &Store) {
    let event = unique("event-done");
    assert_eq!(ok(first.claim_event(&event, "first", Duration::from_secs(60)).await, "claim"), EventClaim::Claimed);
    ok(first.finish_event(&event, Duration::from_millis(400)).await, "finish");
    assert_eq!(ok(second.claim_event(&event, "second", Duration::from_secs(60)).await, "claim"), EventClaim::Done);
    claimed_eventually(second, &event, "a done event must be forgotten once its remember time is over").await;

    // An event finished without a claim (a replica whose lease lapsed mid-way still records it) is Done.
    let unclaimed = unique("event-done-unclaimed");
    ok(second.finish_event(&unclaimed, Duration::from_secs(60)).await, "finish unclaimed");
    assert_eq!(ok(first.claim_event(&unclaimed, "first", Duration::from_secs(60)).await, "claim"), EventClaim::Done);
}

/// A released claim lets the event be claimed at once; releasing never forgets a finished event, and
/// releasing an unknown event is no error.
pub async fn release(first: &Store, second: &Store) {
    let event = unique("event-release");
    assert_eq!(ok(first.claim_event(&event, "first", Duration::from_secs(60)).await, "claim"), EventClaim::Claimed);
    ok(first.release_event(&event, "first").await, "release");
    assert_eq!(
        ok(second.claim_event(&event, "second", Duration::from_secs(60)).await, "claim after release"),
        EventClaim::Claimed,
        "a released event is claimable at once"
    );
    ok(second.finish_event(&event, Duration::from_secs(60)).await, "finish");
    ok(first.release_event(&event, "first").await, "release after finish");
    assert_eq!(
        ok(first.claim_event(&event, "first", Duration::from_secs(60)).await, "claim"),
        EventClaim::Done,
        "releasing must not forget a finished event"
    );
    ok(first.release_event(&unique("event-never-seen"), "first").await, "release of an unknown event");
}

/// With the store's server restarted by `restart` (stopped, then started again), a subscription reports
/// [`Notice::Lost`], then [`Notice::Resumed`], then hears writes again; the store answers again once the
/// server is back. (Whether data survives a restart is the server's configuration, not the contract.)
pub async fn lost_and_resumed(store: &Store, writer: &Store, restart: impl AsyncFnOnce()) {
    let key = unique("resume");
    let heard = Heard::default();
    let subscription = ok(store.subscribe(heard.sink()).await, "subscribe");
    restart().await;
    assert!(heard.wait_for(PATIENCE, |n| *n == Notice::Lost).await, "a restart must be reported as Lost");
    assert!(
        heard.wait_for(PATIENCE, |n| *n == Notice::Resumed).await,
        "the subscription must reconnect by itself and report Resumed; heard {:?}",
        heard.all()
    );
    let lost = heard.all().iter().position(|n| *n == Notice::Lost);
    let resumed = heard.all().iter().position(|n| *n == Notice::Resumed);
    assert!(lost < resumed, "Lost comes before Resumed: {:?}", heard.all());

    // The store's own connection may take a moment to come back (after a failure, a store may wait a few
    // seconds before connecting again).
    let started = Instant::now();
    let written = loop {
        match writer.put(&key, None, b"after").await {
            Ok(put) => break put,
            Err(err) if err.is_retryable() && started.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(err) => panic!("the store must answer again after the restart: {err}"),
        }
    };
    assert_eq!(written, Put::Written { version: 1 });
    assert!(heard.wait_for(NOTICE_BUDGET, changed(&key, 1)).await, "notices flow again: {:?}", heard.all());
    drop(subscription);
}

/// With the server down, every operation fails with [`StoreError::Unavailable`] (retryable), whose
/// message names `location` (`host:port`), and never `secret` (the password in the URL).
pub async fn unavailable(store: &Store, location: &str, secret: &str) {
    let mut errors: Vec<(&str, StoreError)> = Vec::new();
    let lease = Duration::from_secs(1);
    errors.push(("get", store.get("k").await.err().unwrap_or_else(|| panic!("get succeeded with the server down"))));
    errors.push(("put", store.put("k", None, b"v").await.err().unwrap_or_else(|| panic!("put succeeded"))));
    errors.push(("list", store.list().await.err().unwrap_or_else(|| panic!("list succeeded"))));
    errors.push(("claim", store.claim_event("e", "h", lease).await.err().unwrap_or_else(|| panic!("claim succeeded"))));
    errors.push(("finish", store.finish_event("e", lease).await.err().unwrap_or_else(|| panic!("finish succeeded"))));
    errors.push(("release", store.release_event("e", "h").await.err().unwrap_or_else(|| panic!("release succeeded"))));
    let sink: NoticeSink = Arc::new(|_| {});
    errors.push(("subscribe", store.subscribe(sink).await.err().unwrap_or_else(|| panic!("subscribe succeeded"))));
    for (what, err) in errors {
        assert!(matches!(err, StoreError::Unavailable { .. }), "{what}: {err:?} is not Unavailable");
        assert!(err.is_retryable(), "{what}: Unavailable is retryable");
        let message = err.to_string();
        assert!(message.contains(location), "{what}: `{message}` does not name {location}");
        assert!(!secret.is_empty() && !message.contains(secret), "{what}: `{message}` shows the password");
        assert!(!format!("{err:?}").contains(secret), "{what}: the Debug form shows the password");
    }
}
