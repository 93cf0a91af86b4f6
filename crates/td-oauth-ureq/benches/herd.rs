//! The blocking provider under concurrency, over loopback to the testkit:
//! - thundering herd: 1,000 threads call `token()` on one cold provider at once; the server counts the token
//!   requests (the goal is exactly one) and the time from the first caller's start until the last caller
//!   holds its token is compared with one caller's cold fetch. The same herd on a warm cache is measured
//!   for context: the cost of waking 1,000 threads, with no fetch;
//! - warm-hit throughput: N hits on one thread against 2 threads doing N hits each on one provider.
//!   For context, the same 1-against-2-threads comparison for work with nothing shared (what the machine
//!   allows at that moment) and for clones of one shared `Arc` (what a reference count that bounces between
//!   cores allows).
//!
//! Not a criterion bench: `cargo xtask bench` runs it and reads `herd-ureq.json` from
//! `target/td-oauth-bench/` (or `$TD_OAUTH_BENCH_OUT`); `TD_OAUTH_BENCH_QUICK=1` shortens it. Under
//! `cargo test --benches` it runs a small herd as a smoke test and writes nothing.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use td_oauth_testkit::{Algorithm, TestServer};
use td_oauth_ureq::core::transport::Reauthorization;
use td_oauth_ureq::core::{ClientId, ClientSecret, Credentials, Endpoints, Grant, Scopes};
use td_oauth_ureq::{Client, TokenProvider};

struct Plan {
    callers: usize,
    rounds: usize,
    single_fetches: usize,
    hits_per_thread: u64,
    throughput_repeats: usize,
    throughput_attempts: usize,
    write: bool,
}

fn plan() -> Plan {
    let benching = std::env::args().any(|arg| arg == "--bench");
    let quick = std::env::var("TD_OAUTH_BENCH_QUICK").is_ok_and(|v| v == "1");
    match (benching, quick) {
        (false, _) => Plan {
            callers: 50,
            rounds: 1,
            single_fetches: 2,
            hits_per_thread: 1_000,
            throughput_repeats: 1,
            throughput_attempts: 1,
            write: false,
        },
        (true, true) => Plan {
            callers: 1_000,
            rounds: 5,
            single_fetches: 20,
            hits_per_thread: 1_000_000,
            throughput_repeats: 7,
            throughput_attempts: 2,
            write: true,
        },
        (true, false) => Plan {
            callers: 1_000,
            rounds: 21,
            single_fetches: 101,
            hits_per_thread: 2_000_000,
            throughput_repeats: 25,
            throughput_attempts: 5,
            write: true,
        },
    }
}

fn client(server: &TestServer) -> Client {
    let creds = server.register_client(Algorithm::Es256).unwrap();
    // Basic authentication: the server's work per request is small and the same for every request.
    let credentials =
        Credentials::client_secret(ClientId::new(&creds.client_id).unwrap(), ClientSecret::new(creds.client_secret))
            .unwrap();
    Client::new(&Endpoints::from_token_url(server.token_url()).unwrap(), credentials).unwrap()
}

fn grant() -> Grant {
    Grant::client_credentials(Scopes::new(["users:read"]).unwrap())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// One caller, one cold provider: the time `token()` takes.
fn single_fetch(client: &Client) -> Duration {
    let provider = TokenProvider::new(client.clone(), grant());
    let started = Instant::now();
    black_box(provider.token().unwrap());
    started.elapsed()
}

/// What one herd round measured.
struct Round {
    /// From the first caller's start to the last caller's token.
    elapsed: Duration,
    /// Token requests the server saw during the round.
    requests: usize,
}

/// `plan.callers` threads, kept for every round: each round hands them a new provider (warmed first if
/// `warm`), releases them together and collects when each started and when it had its token.
fn herd(server: &TestServer, client: &Client, plan: &Plan, warm_rounds: &[bool]) -> Vec<Round> {
    let callers = plan.callers;
    let slot: Mutex<Option<TokenProvider>> = Mutex::new(None);
    let ready = Barrier::new(callers + 1);
    let go = Barrier::new(callers + 1);
    let (times, results) = mpsc::channel::<(Instant, Instant)>();
    let mut rounds = Vec::new();
    std::thread::scope(|scope| {
        for _ in 0..callers {
            let (slot, ready, go, times) = (&slot, &ready, &go, times.clone());
            std::thread::Builder::new()
                .stack_size(512 * 1024)
                .spawn_scoped(scope, move || {
                    for _ in 0..warm_rounds.len() {
                        ready.wait();
                        let provider = slot.lock().unwrap().clone().unwrap();
                        go.wait();
                        let started = Instant::now();
                        black_box(provider.token().unwrap());
                        times.send((started, Instant::now())).unwrap();
                    }
                })
                .unwrap();
        }
        for &warm in warm_rounds {
            let provider = TokenProvider::new(client.clone(), grant());
            if warm {
                provider.token().unwrap();
            }
            *slot.lock().unwrap() = Some(provider);
            let before = server.count_grant("client_credentials");
            ready.wait();
            go.wait();
            let (mut first, mut last) = results.recv().unwrap();
            for _ in 1..callers {
                let (started, done) = results.recv().unwrap();
                first = first.min(started);
                last = last.max(done);
            }
            let requests = server.count_grant("client_credentials") - before;
            rounds.push(Round { elapsed: last - first, requests });
        }
    });
    rounds
}

/// Work run on each thread of a throughput test: waits on the barrier once set up, makes its operations,
/// and says when it started and ended.
type Work<'a> = dyn Fn(&Barrier) -> (Instant, Instant) + Sync + 'a;

/// Ops per second of `threads` threads each running `work` (which waits on the barrier once set up, makes
/// `hits` operations and says when it started and ended), from the first start to the last end.
fn parallel(threads: usize, hits: u64, work: &Work<'_>) -> f64 {
    let go = Barrier::new(threads);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(|| work(&go))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = spans.iter().map(|s| s.0).min().unwrap();
    let last = spans.iter().map(|s| s.1).max().unwrap();
    (threads as u64 * hits) as f64 / (last - first).as_secs_f64()
}

/// Best ops per second, over `repeats` alternating runs, on 1 thread and on 2 threads of: warm hits on
/// `provider`; for context, work with nothing shared (each thread clones its own `Arc`: what the machine
/// allows), clones of one shared `Arc` (what a reference count bounced between cores allows), and reads
/// through an `arc_swap` guard, which borrows without touching the count (what a warm hit that lent the
/// token instead of cloning its `Arc` would allow). The best
/// run, not the median: on a shared machine other processes can only take cores away, and the best run is
/// the one where both were free.
fn throughput(provider: &TokenProvider, hits: u64, repeats: usize) -> [(f64, f64); 6] {
    let token = |go: &Barrier| {
        go.wait();
        let started = Instant::now();
        for _ in 0..hits {
            black_box(provider.token().unwrap());
        }
        (started, Instant::now())
    };
    let private = |go: &Barrier| {
        let own = Arc::new(0u64);
        go.wait();
        let started = Instant::now();
        for _ in 0..hits {
            black_box(Arc::clone(black_box(&own)));
        }
        (started, Instant::now())
    };
    let one_shared = Arc::new(0u64);
    let shared = |go: &Barrier| {
        go.wait();
        let started = Instant::now();
        for _ in 0..hits {
            black_box(Arc::clone(black_box(&one_shared)));
        }
        (started, Instant::now())
    };
    let swap = arc_swap::ArcSwap::from_pointee(0u64);
    let guard = |go: &Barrier| {
        go.wait();
        let started = Instant::now();
        for _ in 0..hits {
            black_box(**black_box(&swap).load());
        }
        (started, Instant::now())
    };
    let lent = |go: &Barrier| {
        go.wait();
        let started = Instant::now();
        for _ in 0..hits {
            black_box(provider.with_token(|token| black_box(token.expires_in())).unwrap());
        }
        (started, Instant::now())
    };
    let bearer = |go: &Barrier| {
        go.wait();
        let started = Instant::now();
        for _ in 0..hits {
            let token = provider.token().unwrap();
            black_box(Reauthorization::new(token, true).header().unwrap());
        }
        (started, Instant::now())
    };
    let works: [&Work<'_>; 6] = [&token, &private, &shared, &guard, &lent, &bearer];
    works.map(|work| {
        let mut one = Vec::new();
        let mut two = Vec::new();
        for _ in 0..repeats {
            one.push(parallel(1, hits, work));
            two.push(parallel(2, hits, work));
        }
        (one.into_iter().fold(0.0, f64::max), two.into_iter().fold(0.0, f64::max))
    })
}

fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("TD_OAUTH_BENCH_OUT") {
        return PathBuf::from(dir);
    }
    // target/<profile>/deps/<this binary>
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().join("td-oauth-bench")
}

fn main() {
    let plan = plan();
    let server = TestServer::start().unwrap();
    let client = client(&server);
    for _ in 0..3 {
        single_fetch(&client);
    }

    let single = median((0..plan.single_fetches).map(|_| single_fetch(&client).as_nanos() as f64).collect());
    // Cold and warm rounds alternate, so both see the same machine.
    let kinds: Vec<bool> = (0..plan.rounds * 2).map(|i| i % 2 == 1).collect();
    let rounds = herd(&server, &client, &plan, &kinds);
    let (warm, cold): (Vec<_>, Vec<_>) = kinds.iter().zip(&rounds).partition(|(warm, _)| **warm);
    let requests: Vec<usize> = cold.iter().map(|(_, r)| r.requests).collect();
    let warm_requests: usize = warm.iter().map(|(_, r)| r.requests).sum();
    let cold_ns = median(cold.iter().map(|(_, r)| r.elapsed.as_nanos() as f64).collect());
    let warm_ns = median(warm.iter().map(|(_, r)| r.elapsed.as_nanos() as f64).collect());
    let (requests_min, requests_max) = (*requests.iter().min().unwrap(), *requests.iter().max().unwrap());
    println!(
        "herd/ureq: {} threads, {} cold rounds: requests per round {requests_min}..={requests_max}, last token after \
         {:.1} µs (median); one fetch {:.1} µs; ratio {:.2}; warm herd {:.1} µs ({warm_requests} requests)",
        plan.callers,
        plan.rounds,
        cold_ns / 1e3,
        single / 1e3,
        cold_ns / single,
        warm_ns / 1e3
    );

    let provider = TokenProvider::new(client.clone(), grant());
    provider.token().unwrap();
    // Another process holding a core for the whole measurement shows as the nothing-shared control far
    // below 2: then measure again (a few times at most) and keep the attempt where that control was best.
    let mut best = throughput(&provider, plan.hits_per_thread, plan.throughput_repeats);
    for _ in 1..plan.throughput_attempts {
        if best[1].1 / best[1].0 >= 1.8 {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
        let again = throughput(&provider, plan.hits_per_thread, plan.throughput_repeats);
        if again[1].1 / again[1].0 > best[1].1 / best[1].0 {
            best = again;
        }
    }
    let [
        (one, two),
        (private_one, private_two),
        (shared_one, shared_two),
        (guard_one, guard_two),
        (lent_one, lent_two),
        (bearer_one, bearer_two),
    ] = best;
    println!(
        "throughput/ureq: warm hits, 1 thread {:.1} M/s, 2 threads {:.1} M/s: {:.2}x; lent (with_token): \
         {:.1} M/s, {:.1} M/s: {:.2}x; token() and a bearer header: {:.2}x; control, nothing shared: {:.2}x; control, one shared Arc: {:.2}x; \
         control, arc_swap guard: {:.2}x",
        one / 1e6,
        two / 1e6,
        two / one,
        lent_one / 1e6,
        lent_two / 1e6,
        lent_two / lent_one,
        bearer_two / bearer_one,
        private_two / private_one,
        shared_two / shared_one,
        guard_two / guard_one
    );

    if plan.write {
        let json = format!(
            "{{\n  \"herd\": {{\"callers\": {}, \"rounds\": {}, \"requests_min\": {requests_min}, \
             \"requests_max\": {requests_max}, \"warm_requests\": {warm_requests}, \"cold_ns\": {cold_ns}, \
             \"warm_ns\": {warm_ns}, \"single_fetch_ns\": {single}}},\n  \"throughput\": {{\"hits_per_thread\": {}, \
             \"one_thread_ops_per_s\": {one}, \"two_threads_ops_per_s\": {two}, \
             \"private_one_thread_ops_per_s\": {private_one}, \"private_two_threads_ops_per_s\": {private_two}, \
             \"shared_arc_one_thread_ops_per_s\": {shared_one}, \"shared_arc_two_threads_ops_per_s\": {shared_two}, \
             \"guard_one_thread_ops_per_s\": {guard_one}, \"guard_two_threads_ops_per_s\": {guard_two}, \
             \"lent_one_thread_ops_per_s\": {lent_one}, \"lent_two_threads_ops_per_s\": {lent_two}, \
             \"bearer_one_thread_ops_per_s\": {bearer_one}, \"bearer_two_threads_ops_per_s\": {bearer_two}}}\n}}\n",
            plan.callers, plan.rounds, plan.hits_per_thread
        );
        let dir = out_dir();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("herd-ureq.json"), json).unwrap();
    }
}
