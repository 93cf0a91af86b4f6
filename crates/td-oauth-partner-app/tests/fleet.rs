//! Three replicas of the built binary sharing one installation store, against the testkit as the
//! Talkdesk side (token endpoint, Apps API, event delivery): one scenario, written once, run over Redis,
//! Redis Cluster and PostgreSQL, each a real server the test starts.
//!
//! What it shows: events posted to random replicas are served by every replica; a rotation delivered to
//! every replica is acknowledged once; a replica SIGKILLed while its acknowledgement is in flight leaves a
//! state the redelivery finishes; an uninstall reaches every replica within 2 s; every replica restarted
//! serves every installation with nothing replayed and nothing acknowledged again; the operator endpoint
//! holds no secret the test used.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stderr)]

mod support;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use td_oauth_testkit::{
    Acknowledgement, Algorithm, AppEvent, ClientCredentials, EventDelivery, Fault, FaultTarget, PostgresServer,
    RedisCluster, RedisServer, TEST_APP_ID, TestServer, app_event_with_root, lifecycle_event,
};

use support::{CALLBACK_SECRET, Launch, Replica, STORE_KEY, assert_no_secret, rotation_acks, secrets_of};

const REPLICAS: usize = 3;
const ACCOUNTS: usize = 4;

/// A small xorshift, seeded from the clock and printed, so that a failing order can be replayed.
struct Pick(u64);

impl Pick {
    fn new() -> Pick {
        let seed = std::env::var("FLEET_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1);
        eprintln!("replica order seed: FLEET_SEED={seed}");
        Pick(seed)
    }

    fn next(&mut self, below: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % below as u64) as usize
    }
}

fn accepted_rotations(server: &TestServer, client_id: &str) -> usize {
    server
        .acknowledgements()
        .into_iter()
        .filter(|a| matches!(a, Acknowledgement::CredentialsRotation { client_id: c, .. } if c == client_id))
        .count()
}

fn approvals(server: &TestServer, installation_id: &str) -> usize {
    server
        .acknowledgements()
        .into_iter()
        .filter(|a| matches!(a, Acknowledgement::InstallationState { installation_id: i, state, .. } if i == installation_id && state == "approve"))
        .count()
}

fn token_status(replica: &Replica, installation_id: &str) -> (u16, Value) {
    let (status, body) = replica.admin_get(&format!("/installations/{installation_id}/token-status"));
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

/// Polls `check` for up to `limit`; panics with `what` and the last value when it never holds.
fn eventually<T: std::fmt::Debug>(what: &str, limit: Duration, mut check: impl FnMut() -> (bool, T)) {
    let deadline = Instant::now() + limit;
    loop {
        let (ok, last) = check();
        if ok {
            return;
        }
        if Instant::now() > deadline {
            panic!("{what} did not hold within {limit:?}; last: {last:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every replica lists every account in `expected` (installation id → client id) and gets a token for each
/// with that client id.
fn every_replica_serves(replicas: &[Replica], expected: &[(String, String)]) {
    for (index, replica) in replicas.iter().enumerate() {
        let listed = replica.installations();
        let ids: Vec<&str> = listed["installations"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["state"] == "active")
            .filter_map(|v| v["installation_id"].as_str())
            .collect();
        for (installation_id, client_id) in expected {
            assert!(
                ids.contains(&installation_id.as_str()),
                "replica {index} does not list {installation_id}: {listed}"
            );
            let (status, body) = token_status(replica, installation_id);
            assert_eq!(status, 200, "replica {index}, {installation_id}: {body}");
            assert_eq!(body["client_id"], client_id.as_str(), "replica {index}, {installation_id}: {body}");
            assert!(body["expires_in_seconds"].as_u64().unwrap_or(0) > 0, "{body}");
        }
        assert_eq!(
            ids.len(),
            expected.len(),
            "replica {index} lists more active installations than there are: {listed}"
        );
    }
}

fn scenario(launch: Launch, server: &TestServer, store_secrets: &[&str]) {
    let mut pick = Pick::new();
    let mut replicas: Vec<Replica> = (0..REPLICAS).map(|_| launch.start()).collect();
    let mut secrets = vec![CALLBACK_SECRET.to_owned(), STORE_KEY.to_owned()];
    secrets.extend(store_secrets.iter().map(|s| (*s).to_owned()));
    let event = |kind, account: &str, client: &ClientCredentials| {
        app_event_with_root(kind, account, server.token_url(), server.base_url(), client)
    };

    // Installs, each posted to a random replica; every replica then serves every installation.
    let mut clients: Vec<ClientCredentials> = Vec::new();
    let mut expected = Vec::new();
    for n in 0..ACCOUNTS {
        let client = server.register_client(Algorithm::Es256).unwrap();
        secrets.extend(secrets_of(&client));
        let account = format!("acct-{n}");
        let at = pick.next(REPLICAS);
        assert_eq!(replicas[at].deliver(&event(AppEvent::Installed, &account, &client)).status, Some(200));
        expected.push((format!("inst-{account}"), client.client_id.clone()));
        clients.push(client);
    }
    every_replica_serves(&replicas, &expected);

    // The same install delivered again to every replica: handled once, approved once.
    let again = event(AppEvent::Installed, "acct-0", &clients[0]);
    for replica in &replicas {
        assert_eq!(replica.deliver(&again).status, Some(200));
    }
    for (installation_id, _) in &expected {
        assert_eq!(approvals(server, installation_id), 1, "{installation_id} approved once");
    }

    // A rotation delivered to every replica, in a random order: one acknowledgement at the testkit.
    let rotated = server.register_client(Algorithm::Es256).unwrap();
    secrets.extend(secrets_of(&rotated));
    let rotation = event(AppEvent::CredentialsRotated, "acct-0", &rotated);
    let first = pick.next(REPLICAS);
    for offset in 0..REPLICAS {
        let at = (first + offset) % REPLICAS;
        assert_eq!(replicas[at].deliver(&rotation).status, Some(200), "replica {at}");
    }
    assert_eq!(rotation_acks(server, &rotated.client_id), 1, "one acknowledgement for the rotation");
    assert_eq!(accepted_rotations(server, &rotated.client_id), 1);
    expected[0].1 = rotated.client_id.clone();
    eventually("every replica on the rotated credentials", Duration::from_secs(2), || {
        let clients: Vec<Value> =
            replicas.iter().map(|r| token_status(r, "inst-acct-0").1["client_id"].clone()).collect();
        (clients.iter().all(|c| c == rotated.client_id.as_str()), clients)
    });

    // A replica SIGKILLed while its acknowledgement is in flight (the Apps API made slow for it), then
    // AppConnect's redelivery to another replica finishes the rotation.
    let killed_rotation = server.register_client(Algorithm::Es256).unwrap();
    secrets.extend(secrets_of(&killed_rotation));
    let ack_path: &'static str = Box::leak(
        format!("/apps/{TEST_APP_ID}/installations/inst-acct-1/credentials/{}/state", killed_rotation.client_id)
            .into_boxed_str(),
    );
    server.inject_on(FaultTarget::Path(ack_path), Fault::Delay(Duration::from_secs(3)), 1);
    let body = event(AppEvent::CredentialsRotated, "acct-1", &killed_rotation);
    let victim = pick.next(REPLICAS);
    let in_flight = EventDelivery::new(&replicas[victim].callback()).unwrap().with_delays([]).spawn(&body);
    eventually("the acknowledgement reaching the Apps API", Duration::from_secs(20), || {
        let n = rotation_acks(server, &killed_rotation.client_id);
        (n >= 1, n)
    });
    replicas.remove(victim).kill();
    let cut = in_flight.join().unwrap().unwrap();
    assert!(!cut[0].delivered(), "the killed replica answered nothing: {cut:?}");
    // AppConnect delivers again (after 5 and 10 minutes; here a second apart, for as long as a claim of the
    // killed replica may hold), to another replica.
    let survivor = pick.next(replicas.len());
    let attempts = EventDelivery::new(&replicas[survivor].callback())
        .unwrap()
        .with_delays(vec![Duration::from_secs(1); 60])
        .deliver(&body)
        .unwrap();
    assert!(attempts.last().is_some_and(|a| a.delivered()), "the redelivery finished the rotation: {attempts:?}");
    // While the killed replica's claim held, the step could not finish: 503, so AppConnect tries again.
    assert_eq!(attempts[0].status, Some(503), "{attempts:?}");
    // The redelivery acknowledged (the Apps API's 409 if the killed replica's call had landed counts as
    // done), and recorded it: accepted once at the testkit, and the record says acknowledged.
    assert_eq!(rotation_acks(server, &killed_rotation.client_id), 2, "the killed replica's call and the redelivery's");
    assert_eq!(accepted_rotations(server, &killed_rotation.client_id), 1, "acknowledged once");
    let listed = replicas[survivor].installations();
    let record = listed["installations"].as_array().unwrap().iter().find(|v| v["installation_id"] == "inst-acct-1");
    assert_eq!(record.map(|v| v["rotation_acknowledged"].clone()), Some(json!(true)), "{listed}");
    expected[1].1 = killed_rotation.client_id.clone();
    replicas.push(launch.start());
    eventually("every replica on the credentials of the interrupted rotation", Duration::from_secs(2), || {
        let clients: Vec<Value> =
            replicas.iter().map(|r| token_status(r, "inst-acct-1").1["client_id"].clone()).collect();
        (clients.iter().all(|c| c == killed_rotation.client_id.as_str()), clients)
    });

    // An uninstall on one replica: within 2 s no replica serves a token for the account.
    let uninstall = lifecycle_event("app.uninstalled", "acct-3", server.base_url(), json!({}));
    assert_eq!(replicas[pick.next(REPLICAS)].deliver(&uninstall).status, Some(200));
    let uninstalled_at = Instant::now();
    eventually("no replica serving the uninstalled account", Duration::from_secs(2), || {
        let statuses: Vec<u16> = replicas.iter().map(|r| token_status(r, "inst-acct-3").0).collect();
        (statuses.iter().all(|s| *s != 200), statuses)
    });
    assert!(uninstalled_at.elapsed() < Duration::from_secs(3));
    expected.pop();
    every_replica_serves(&replicas, &expected);

    // Nothing the operator endpoint says holds a secret, on any replica.
    for replica in &replicas {
        let (_, list) = replica.admin_get("/installations");
        assert_no_secret("GET /installations", &list, &secrets);
        for (installation_id, _) in &expected {
            let (_, status) = replica.admin_get(&format!("/installations/{installation_id}/token-status"));
            assert_no_secret("token-status", &status, &secrets);
        }
    }

    // Every replica restarted: every installation served, no event replayed, nothing acknowledged again.
    let calls_before = server.acknowledgements().len();
    for replica in replicas.drain(..) {
        let (status, stderr) = replica.terminate();
        assert!(status.success(), "{status:?}: {stderr}");
        assert_no_secret("a replica's log", &stderr, &secrets);
    }
    let replicas: Vec<Replica> = (0..REPLICAS).map(|_| launch.start()).collect();
    every_replica_serves(&replicas, &expected);
    assert_eq!(server.acknowledgements().len(), calls_before, "a restart calls no Apps API");
}

#[test]
fn three_replicas_over_redis() {
    let server = TestServer::start().unwrap();
    let redis = RedisServer::start().expect("redis-server (installed by .ci/run and cargo xtask)");
    scenario(Launch::new(redis.url(), &server), &server, &[]);
}

#[test]
fn three_replicas_over_redis_cluster() {
    let server = TestServer::start().unwrap();
    let cluster = RedisCluster::start(3).expect("a Redis Cluster (redis-server and redis-cli)");
    scenario(Launch::new(cluster.urls().join(","), &server).cluster(), &server, &[]);
}

#[test]
fn three_replicas_over_postgres() {
    let server = TestServer::start().unwrap();
    let postgres = PostgresServer::start()
        .expect("PostgreSQL's initdb and postgres (the postgresql package, installed by .ci/run and cargo xtask)");
    // The URL holds a password: it goes in TD_OAUTH_STORE, never on the command line.
    let launch = Launch { store_in_env: true, ..Launch::new(postgres.url(), &server) };

    // The schema is never made silently: a replica refuses to start until the migration ran.
    let (status, stderr) = launch.fail();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--migrate"), "{stderr}");
    assert!(!stderr.contains(postgres.password()), "{stderr}");
    let migrated = launch.command().arg("--migrate").output().unwrap();
    assert!(migrated.status.success(), "{}", String::from_utf8_lossy(&migrated.stderr));
    assert!(String::from_utf8_lossy(&migrated.stdout).contains("is set up"));

    scenario(launch, &server, &[postgres.password()]);
}
