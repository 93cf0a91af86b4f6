//! The report: the results table in Markdown, the machine and load it was measured on, and the page it is
//! written to (`docs/performance.md` between two markers, or the quick run's page under `target/`).

use std::fmt::Write as _;
use std::process::Command;

use super::goals::{Goal, Row, Unit, Verdict};

const PAGE_INTRO: &str = "\
# Performance

`cargo xtask bench` runs the workspace's benchmarks (criterion for the timings, plain bench binaries for the
herd, multi-thread throughput and memory figures) and writes this page; `cargo xtask bench --quick` does a
shorter pass (about 30 s once built) and leaves its table in `target/td-oauth-bench/performance-quick.md`.
Every figure is compared with a baseline measured in the same run, on the same machine, so the ratios hold
where the absolute numbers do not. A goal that is missed says so, and by how much.

What each row measures:

1. **Assertion**: `AssertionSigner::sign` (header and claims in compact form, a fresh `jti`, the signature)
   ÷ a bare `ring` signature of a message of the same length (the floor), and ÷ `jsonwebtoken::encode` of
   the same claims with the same key, on jsonwebtoken's `aws_lc_rs` backend (the faster of its two, the one
   a speed-minded user picks). ES256 and PS256 (RSA 2048).
2. **Response**: `TokenResponse::from_http` on a Talkdesk-shaped answer (a 1 KB ES256 JWT access token,
   `token_type`, `expires_in`, `scope`) ÷ `serde_json::from_slice` of the same bytes into a plain struct
   with the same fields; for context, ÷ that baseline plus wiping the token on drop, as the core does.
3. **Warm hit**: a `TokenProvider` call with a valid cached token (median, ns); and the total throughput of
   2 threads hammering one provider ÷ that of 1 thread (best of many short runs, as other processes can
   only take cores away). Three controls run beside it: work with nothing shared (what the machine allows at
   that moment: near 2.0 when both cores were free), clones of one shared `Arc` (what a reference count
   bouncing between the cores allows: a warm hit returns an `Arc<TokenResponse>`, so it pays this), and
   reads through an `arc_swap` guard (what a warm hit that lent the token instead would allow). When the
   nothing-shared control stays under 1.8 × the bench measures again (5 attempts at most); under 1.5 ×,
   a miss is marked inconclusive, as a core was busy. Warm hits lent through `with_token` (no reference
   count touched) have their own row, goal ≥ 1.8 ×, marked inconclusive when the nothing-shared control
   stays under 1.9 ×.
4. **Cold fetch**: a whole token fetch over loopback against `td-oauth-testkit` ÷ a bare POST of the same
   prepared body with the same HTTP client (reqwest, and ureq with Basic and with signed-JWT
   authentication; with a JWT the bare POST signs a fresh assertion too, as the server refuses a replay).
5. **Thundering herd**: 1,000 callers on one cold provider (tokio tasks, or OS threads for ureq): the token
   requests the server saw (worst of all rounds), and the time from their start until the last one
   holds its token ÷ one caller's cold fetch. The same herd on a warm cache is shown for context: it is
   the cost of releasing and scheduling 1,000 callers on this machine, with no fetch at all; the herd ÷
   (one fetch + that floor) is what the provider adds on top (goal ≤ 1.05 ×).
6. **Memory**: heap allocations and bytes per call, counted by an instrumented global allocator
   (`stats_alloc`): per assertion (with ring's own signature as context), per response parse, per warm hit.
7. **Fleet cache** (td-oauth-redis, against a `redis-server` the bench starts), for the async
   (`FleetCache`) and the blocking (`BlockingFleetCache`) transport: a provider's warm hit with a fleet cache
   (answered in-process) and a cold `get_or_fetch` with the token in Redis (one round trip and an AES-GCM
   open), each ÷ the warm hit of the same transport's provider without one. Not measured without
   `redis-server`.
8. **Key parsing**: `PrivateKey::from_der` (the structure read with RustCrypto's `der`, `pkcs8`, `sec1` and
   `pkcs1` for its precise errors, ring's parse, the public key encoded once) ÷ ring's own
   `EcdsaKeyPair::from_pkcs8` / `RsaKeyPair::from_pkcs8` of the same bytes; for context, `PrivateKey::parse`
   of Talkdesk's one-line Base64 form of the ES256 key, Base64 decoding included.
9. **Partner-app manager** at 10,000 installations, each its own ES256 client (events parsed and installed,
   a token each over loopback): a warm `TokenManager::token()` of one installation asked again and again ÷
   the provider's own warm hit; one cycling through every installation ÷ the same 10,000 providers held by
   the caller and asked in the same order (each call then touches memory no longer in cache, in both); its
   heap allocations per call; for context, the cycling manager ÷ the provider's warm hit. Heap bytes per installation held after install (the event parsed
   and installed, no token yet) and, for context, with its provider and token. A new provider (no fetch)
   into a full map of 10,000, which evicts the least recently used, ÷ one into a map with room.
10. **`td-oauth agent`** (the binary as a child process, over its Unix socket, against `td-oauth-testkit`):
   50 concurrent clients × 200 requests each, one keep-alive connection per client, several rounds: the
   token requests the server saw (goal: one per token lifetime), and the median and 99th-percentile
   latency ÷ those of a bare answer of the same size and headers from the same stack (hyper's HTTP/1
   server with the agent's settings on a tokio multi-thread runtime, a Unix socket, a child process), the
   rounds alternating between the two. The agent's resident memory (VmRSS) after 100,000 requests ÷ after
   1,000 (goal ≤ 1.10).
";

const BEGIN: &str = "<!-- xtask bench: results begin -->";
const END: &str = "<!-- xtask bench: results end -->";

/// The page with `results` between its markers, keeping every hand-written line outside them; a page
/// without both markers is replaced by the default introduction and the results.
pub(super) fn page_text(existing: &str, results: &str) -> String {
    if let (Some(begin), Some(end)) = (existing.find(BEGIN), existing.find(END))
        && begin < end
    {
        return format!("{}{BEGIN}\n{results}{}", &existing[..begin], &existing[end..]);
    }
    format!("{PAGE_INTRO}\n## Last full run\n\n{BEGIN}\n{results}{END}\n")
}

pub(super) fn render_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | metric | measured (median) | baseline (median) | ratio | goal | verdict |\n|---|---|---:|---:|---:|---|---|\n",
    );
    for row in rows {
        let measured = row.measured.map_or_else(|| "–".to_owned(), |v| row.unit.show(v));
        let baseline = match (row.baseline_name, row.baseline) {
            ("", _) => String::new(),
            (name, Some(v)) => format!("{} ({name})", row.unit.show(v)),
            (name, None) => format!("– ({name})"),
        };
        let ratio = row.ratio().map_or_else(String::new, |r| format!("{r:.2}"));
        let goal = match row.goal {
            Goal::RatioAtMost(g) => format!("≤ {g:.2}"),
            Goal::RatioAtLeast(g) => format!("≥ {g:.2}"),
            Goal::NsAtMost(g) => format!("≤ {}", Unit::Ns.show(g)),
            Goal::Exactly(g) => format!("= {}", row.unit.show(g)),
            Goal::AtMost(g) => format!("≤ {}", row.unit.show(g)),
            Goal::Context => "(context)".to_owned(),
        };
        let verdict = match row.verdict() {
            Verdict::Met => "met".to_owned(),
            Verdict::Missed(by) => match &row.caveat {
                Some(caveat) => format!("**MISSED** by {by} ({caveat})"),
                None => format!("**MISSED** by {by}"),
            },
            Verdict::NotMeasured => "not measured".to_owned(),
            Verdict::Context => String::new(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {measured} | {baseline} | {ratio} | {goal} | {verdict} |",
            row.section, row.metric
        );
    }
    out
}

/// Cores and CPU model, as `nproc` and `/proc/cpuinfo` tell.
pub(super) fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, m)| m.trim()))
        .unwrap_or("unknown CPU");
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default();
    format!("{cores} cores (nproc), {model} (/proc/cpuinfo), {rustc}")
}

pub(super) fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// The 1-minute load average from `/proc/loadavg`.
pub(super) fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
