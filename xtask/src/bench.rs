//! `cargo xtask bench [--quick]`: runs the workspace's benchmarks and reports every figure as a ratio to a
//! baseline measured in the same run, with the absolute medians beside it.
//!
//! All bench binaries are built by one `cargo bench --no-run` (one feature resolution, nothing rebuilt per
//! bench), then run one after the other as `cargo bench` runs them (`--bench`, in the package directory).
//!
//! Criterion benches leave their medians in `target/criterion/<group>/<id>/new/estimates.json`; the custom
//! benches (herd, throughput, memory) write JSON files to `target/td-oauth-bench/`. Only results written
//! during this run are used: a bench that did not run shows as "not measured", never as an old figure.
//! A full run writes the table to `docs/performance.md`, between two markers, so the text around them is
//! kept; a quick run to `target/td-oauth-bench/performance-quick.md`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Instant, SystemTime};

use serde_json::Value;

/// One benchmark binary to run.
struct Target {
    krate: &'static str,
    bench: &'static str,
    /// Criterion bench (takes criterion's arguments), or a custom `fn main` bench.
    criterion: bool,
}

const TARGETS: &[Target] = &[
    Target { krate: "td-oauth-core", bench: "assertion", criterion: true },
    Target { krate: "td-oauth-core", bench: "response", criterion: true },
    Target { krate: "td-oauth-core", bench: "memory", criterion: false },
    Target { krate: "td-oauth-reqwest", bench: "provider", criterion: true },
    Target { krate: "td-oauth-reqwest", bench: "herd", criterion: false },
    Target { krate: "td-oauth-reqwest", bench: "memory", criterion: false },
    Target { krate: "td-oauth-ureq", bench: "provider", criterion: true },
    Target { krate: "td-oauth-ureq", bench: "herd", criterion: false },
    Target { krate: "td-oauth-ureq", bench: "memory", criterion: false },
    Target { krate: "td-oauth-redis", bench: "fleet", criterion: true },
];

const QUICK_CRITERION: &[&str] =
    &["--warm-up-time", "0.3", "--measurement-time", "1", "--sample-size", "20", "--nresamples", "2000", "--noplot"];
const FULL_CRITERION: &[&str] = &["--warm-up-time", "2", "--measurement-time", "5", "--noplot"];

pub(crate) fn bench(args: &[String]) -> ExitCode {
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            other => {
                eprintln!("xtask bench: unknown argument `{other}` (expected: --quick)");
                return ExitCode::from(2);
            }
        }
    }
    let root = crate::workspace_root();
    let target_dir = target_dir(&root);
    let out_dir = target_dir.join("td-oauth-bench");
    if let Err(err) = std::fs::create_dir_all(&out_dir) {
        eprintln!("xtask bench: cannot create {}: {err}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let load_before = load_average();
    let started = Instant::now();
    let since = SystemTime::now();
    let targets: Vec<&Target> = TARGETS
        .iter()
        .filter(|t| root.join("crates").join(t.krate).join("benches").join(format!("{}.rs", t.bench)).is_file())
        .collect();

    // Build every bench binary first, in one cargo call (one feature resolution, so nothing is rebuilt
    // per bench), then run the binaries as `cargo bench` would, so the timings are not shared with rustc.
    let mut build =
        vec!["bench".to_owned(), "--no-run".to_owned(), "--message-format=json-render-diagnostics".to_owned()];
    for target in &targets {
        build.extend(["-p".to_owned(), target.krate.to_owned(), "--bench".to_owned(), target.bench.to_owned()]);
    }
    println!("\n==> xtask bench: building: cargo {}", build.join(" "));
    let executables = match build_benches(&root, &build, &targets) {
        Ok(executables) => executables,
        Err(why) => {
            println!("xtask bench: the build failed ({why})");
            return ExitCode::FAILURE;
        }
    };
    let built = started.elapsed();

    let mut failed = Vec::new();
    for (target, executable) in targets.iter().zip(&executables) {
        let name = format!("{}/{}", target.krate, target.bench);
        let Some(executable) = executable else {
            println!("\n==> {name}: cargo built no such bench; its rows show as not measured");
            failed.push(name);
            continue;
        };
        let mut args = vec!["--bench"];
        if target.criterion {
            args.extend(if quick { QUICK_CRITERION } else { FULL_CRITERION });
        }
        println!("\n==> xtask bench: {name}: {} {}", executable.display(), args.join(" "));
        let _ = std::io::stdout().flush();
        let step = Instant::now();
        let status = Command::new(executable)
            .args(&args)
            // As `cargo bench` runs it: in the package's directory.
            .current_dir(root.join("crates").join(target.krate))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env("TD_OAUTH_BENCH_OUT", &out_dir)
            .env("TD_OAUTH_BENCH_QUICK", if quick { "1" } else { "0" })
            .status();
        match status {
            Ok(status) if status.success() => println!("==> {name} ok ({:.0} s)", step.elapsed().as_secs_f64()),
            Ok(status) => {
                println!("==> {name} FAILED ({status}); its rows show as not measured");
                failed.push(name);
            }
            Err(err) => {
                println!("==> {name} could not start ({err}); its rows show as not measured");
                failed.push(name);
            }
        }
    }

    let results = Results { criterion: target_dir.join("criterion"), custom: out_dir.clone(), since };
    let rows = rows(&results);
    let table = render_table(&rows);
    let elapsed = started.elapsed();
    let machine = machine();
    let mode = if quick { "quick" } else { "full" };
    let summary = format!(
        "{mode} run, {:.0} s in all ({:.0} s building, {:.0} s measuring), {}; load average (1 min) {} before, {} \
         after (other processes on the machine: the higher, the noisier)",
        elapsed.as_secs_f64(),
        built.as_secs_f64(),
        (elapsed - built).as_secs_f64(),
        utc_now(),
        load_before,
        load_average()
    );
    println!("\n{table}\nMachine: {machine}\n{summary}");
    let missed = rows.iter().filter(|r| matches!(r.verdict(), Verdict::Missed(_))).count();
    let unmeasured = rows.iter().filter(|r| matches!(r.verdict(), Verdict::NotMeasured)).count();
    println!(
        "{} rows: {} met, {missed} missed, {unmeasured} not measured",
        rows.len(),
        rows.len() - missed - unmeasured
    );

    let page = if quick { out_dir.join("performance-quick.md") } else { root.join("docs/performance.md") };
    let results = format!("Machine: {machine}.  \n{summary}.\n\n{table}");
    let text = page_text(&std::fs::read_to_string(&page).unwrap_or_default(), &results);
    match std::fs::write(&page, text) {
        Ok(()) => println!("wrote {}", page.display()),
        Err(err) => {
            println!("xtask bench: cannot write {}: {err}", page.display());
            return ExitCode::FAILURE;
        }
    }
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("xtask bench: these benches failed: {}", failed.join(", "));
        ExitCode::FAILURE
    }
}

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
   the same claims with the same key. ES256 and PS256 (RSA 2048).
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
   a miss is marked inconclusive, as a core was busy.
4. **Cold fetch**: a whole token fetch over loopback against `td-oauth-testkit` ÷ a bare POST of the same
   prepared body with the same HTTP client (reqwest, and ureq with Basic and with signed-JWT
   authentication; with a JWT the bare POST signs a fresh assertion too, as the server refuses a replay).
5. **Thundering herd**: 1,000 callers on one cold provider (tokio tasks, or OS threads for ureq): the token
   requests the server saw (worst of all rounds), and the time from their start until the last one
   holds its token ÷ one caller's cold fetch. The same herd on a warm cache is shown for context: it is
   the cost of releasing and scheduling 1,000 callers on this machine, with no fetch at all; the herd ÷
   (one fetch + that floor) is what the provider adds on top.
6. **Memory**: heap allocations and bytes per call, counted by an instrumented global allocator
   (`stats_alloc`): per assertion (with ring's own signature as context), per response parse, per warm hit.
7. **Fleet cache** (td-oauth-redis, against a `redis-server` the bench starts), for the async
   (`FleetCache`) and the blocking (`BlockingFleetCache`) transport: a provider's warm hit with a fleet cache
   (answered in-process) and a cold `get_or_fetch` with the token in Redis (one round trip and an AES-GCM
   open), each ÷ the warm hit of the same transport's provider without one. Not measured without
   `redis-server`.
";

const BEGIN: &str = "<!-- xtask bench: results begin -->";
const END: &str = "<!-- xtask bench: results end -->";

/// The page with `results` between its markers, keeping every hand-written line outside them; a page
/// without both markers is replaced by the default introduction and the results.
fn page_text(existing: &str, results: &str) -> String {
    if let (Some(begin), Some(end)) = (existing.find(BEGIN), existing.find(END))
        && begin < end
    {
        return format!("{}{BEGIN}\n{results}{}", &existing[..begin], &existing[end..]);
    }
    format!("{PAGE_INTRO}\n## Last full run\n\n{BEGIN}\n{results}{END}\n")
}

/// Where benchmark results come from, and since when they count.
struct Results {
    criterion: PathBuf,
    custom: PathBuf,
    since: SystemTime,
}

impl Results {
    /// The median, in ns, of the first criterion benchmark in `ids` (`group/id` directories) written this run.
    fn median(&self, ids: &[&str]) -> Option<f64> {
        ids.iter().find_map(|id| {
            let value = self.fresh_json(&self.criterion.join(id).join("new/estimates.json"))?;
            value.get("median")?.get("point_estimate")?.as_f64()
        })
    }

    /// A number from a custom bench's JSON file, at the path of keys `keys`.
    fn custom(&self, file: &str, keys: &[&str]) -> Option<f64> {
        let json = self.fresh_json(&self.custom.join(file))?;
        let mut value = &json;
        for key in keys {
            value = value.get(*key)?;
        }
        value.as_f64()
    }

    fn fresh_json(&self, path: &Path) -> Option<Value> {
        let modified = std::fs::metadata(path).ok()?.modified().ok()?;
        if modified < self.since {
            return None;
        }
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }
}

#[derive(Clone, Copy)]
enum Goal {
    /// The ratio is at most this.
    RatioAtMost(f64),
    /// The ratio is at least this.
    RatioAtLeast(f64),
    /// The measured time is at most this many ns.
    NsAtMost(f64),
    /// The measured count is exactly this.
    Exactly(f64),
    /// No goal: shown for context.
    Context,
}

enum Verdict {
    Met,
    Missed(String),
    NotMeasured,
    Context,
}

/// What a row shows in its measured and baseline columns.
#[derive(Clone, Copy)]
enum Unit {
    Ns,
    Count,
    Bytes,
    OpsPerSecond,
}

struct Row {
    section: &'static str,
    metric: String,
    measured: Option<f64>,
    baseline: Option<f64>,
    /// The baseline's name, shown with its value.
    baseline_name: &'static str,
    unit: Unit,
    goal: Goal,
    /// Why a missed goal may say more about the machine than the code, when it may.
    caveat: Option<String>,
}

impl Row {
    fn new(section: &'static str, metric: impl Into<String>, measured: Option<f64>, unit: Unit, goal: Goal) -> Self {
        Row { section, metric: metric.into(), measured, baseline: None, baseline_name: "", unit, goal, caveat: None }
    }

    fn against(mut self, baseline_name: &'static str, baseline: Option<f64>) -> Self {
        self.baseline_name = baseline_name;
        self.baseline = baseline;
        self
    }

    fn caveat(mut self, caveat: Option<String>) -> Self {
        self.caveat = caveat;
        self
    }

    fn ratio(&self) -> Option<f64> {
        match (self.measured, self.baseline) {
            (Some(m), Some(b)) if b > 0.0 => Some(m / b),
            _ => None,
        }
    }

    fn verdict(&self) -> Verdict {
        let Some(measured) = self.measured else { return Verdict::NotMeasured };
        match self.goal {
            Goal::Context => Verdict::Context,
            Goal::RatioAtMost(goal) => match self.ratio() {
                None => Verdict::NotMeasured,
                Some(r) if r <= goal => Verdict::Met,
                Some(r) => Verdict::Missed(format!("{:.0} %", (r / goal - 1.0) * 100.0)),
            },
            Goal::RatioAtLeast(goal) => match self.ratio() {
                None => Verdict::NotMeasured,
                Some(r) if r >= goal => Verdict::Met,
                Some(r) => Verdict::Missed(format!("{:.0} %", (1.0 - r / goal) * 100.0)),
            },
            Goal::NsAtMost(goal) if measured <= goal => Verdict::Met,
            Goal::NsAtMost(goal) => Verdict::Missed(format!("{:.0} %", (measured / goal - 1.0) * 100.0)),
            Goal::Exactly(goal) if (measured - goal).abs() < f64::EPSILON => Verdict::Met,
            Goal::Exactly(_) => Verdict::Missed(format!("{} instead", format_value(measured, self.unit))),
        }
    }
}

fn rows(r: &Results) -> Vec<Row> {
    use Goal::*;
    use Unit::*;
    let mut rows = Vec::new();

    // 1. Assertions.
    for (alg, group) in [("ES256", "es256"), ("PS256", "ps256")] {
        let assertion = r.median(&[&format!("{group}/assertion")]);
        rows.push(
            Row::new("1", format!("{alg} assertion ÷ bare ring signature"), assertion, Ns, RatioAtMost(1.15))
                .against("ring", r.median(&[&format!("{group}/ring_sign")])),
        );
        rows.push(
            Row::new("1", format!("{alg} assertion ÷ jsonwebtoken::encode"), assertion, Ns, RatioAtMost(0.7))
                .against("jsonwebtoken", r.median(&[&format!("{group}/jsonwebtoken_encode")])),
        );
    }

    // 2. Response parsing.
    rows.push(
        Row::new(
            "2",
            "token response parse ÷ bare serde_json",
            r.median(&["response/from_http"]),
            Ns,
            RatioAtMost(1.5),
        )
        .against("serde_json", r.median(&["response/serde_json_bare"])),
    );
    rows.push(
        Row::new(
            "2",
            "token response parse ÷ bare serde_json + wiping the token on drop (context)",
            r.median(&["response/from_http"]),
            Ns,
            Context,
        )
        .against("serde_json + wipe", r.median(&["response/serde_json_bare_zeroizing"])),
    );

    // 3. Warm hits.
    rows.push(Row::new(
        "3",
        "warm hit, async `token().await`",
        r.median(&["warm_hit/token().await", "warm_hit/token"]),
        Ns,
        NsAtMost(100.0),
    ));
    rows.push(Row::new(
        "3",
        "warm hit, async `try_token_now()`",
        r.median(&["warm_hit/try_token_now()", "warm_hit/try_token_now"]),
        Ns,
        NsAtMost(100.0),
    ));
    rows.push(Row::new(
        "3",
        "warm hit, blocking `token()`",
        r.median(&["provider_warm_hit", "provider/warm_hit", "warm_hit/token()"]),
        Ns,
        NsAtMost(100.0),
    ));
    for (name, file) in [("async", "herd-reqwest.json"), ("blocking", "herd-ureq.json")] {
        rows.push(
            Row::new(
                "3",
                format!("warm hits, {name}: 2 threads ÷ 1 thread (throughput)"),
                r.custom(file, &["throughput", "two_threads_ops_per_s"]),
                OpsPerSecond,
                RatioAtLeast(1.6),
            )
            .against("1 thread", r.custom(file, &["throughput", "one_thread_ops_per_s"]))
            .caveat(
                match (
                    r.custom(file, &["throughput", "private_two_threads_ops_per_s"]),
                    r.custom(file, &["throughput", "private_one_thread_ops_per_s"]),
                ) {
                    (Some(two), Some(one)) if two / one < 1.5 => Some(format!(
                        "inconclusive: work with nothing shared reached only {:.2} ×, so a core was busy",
                        two / one
                    )),
                    _ => None,
                },
            ),
        );
        for (control, key) in
            [("nothing shared", "private"), ("one shared `Arc`", "shared_arc"), ("`arc_swap` guard", "guard")]
        {
            rows.push(
                Row::new(
                    "3",
                    format!("control for the above, {name}: {control}, 2 threads ÷ 1"),
                    r.custom(file, &["throughput", &format!("{key}_two_threads_ops_per_s")]),
                    OpsPerSecond,
                    Context,
                )
                .against("1 thread", r.custom(file, &["throughput", &format!("{key}_one_thread_ops_per_s")])),
            );
        }
    }

    // 4. Cold fetches.
    rows.push(
        Row::new(
            "4",
            "cold fetch ÷ bare POST, reqwest (Basic)",
            r.median(&["loopback_fetch/Client__fetch", "loopback_fetch/fetch", "fetch/client_fetch"]),
            Ns,
            RatioAtMost(1.10),
        )
        .against("bare POST", r.median(&["loopback_fetch/bare POST", "loopback_fetch/bare_post"])),
    );
    rows.push(
        Row::new("4", "cold fetch ÷ bare POST, ureq (Basic)", r.median(&["fetch/client_fetch"]), Ns, RatioAtMost(1.10))
            .against("bare POST", r.median(&["fetch/bare_post"])),
    );
    rows.push(
        Row::new(
            "4",
            "cold fetch ÷ bare POST, ureq (signed JWT)",
            r.median(&["fetch_jwt/client_fetch"]),
            Ns,
            RatioAtMost(1.10),
        )
        .against("bare POST", r.median(&["fetch_jwt/bare_post"])),
    );

    // 5. Thundering herd.
    for (name, file) in [("reqwest", "herd-reqwest.json"), ("ureq", "herd-ureq.json")] {
        rows.push(Row::new(
            "5",
            format!("herd of 1,000, {name}: token requests (worst round)"),
            r.custom(file, &["herd", "requests_max"]),
            Count,
            Exactly(1.0),
        ));
        rows.push(
            Row::new(
                "5",
                format!("herd of 1,000, {name}: last token ÷ one fetch"),
                r.custom(file, &["herd", "cold_ns"]),
                Ns,
                RatioAtMost(1.5),
            )
            .against("one fetch", r.custom(file, &["herd", "single_fetch_ns"])),
        );
        rows.push(
            Row::new(
                "5",
                format!("herd of 1,000, {name}: the same herd on a warm cache (context: no fetch at all)"),
                r.custom(file, &["herd", "warm_ns"]),
                Ns,
                Context,
            )
            .against("one fetch", r.custom(file, &["herd", "single_fetch_ns"])),
        );
        let floor = match (r.custom(file, &["herd", "single_fetch_ns"]), r.custom(file, &["herd", "warm_ns"])) {
            (Some(fetch), Some(warm)) => Some(fetch + warm),
            _ => None,
        };
        rows.push(
            Row::new(
                "5",
                format!("herd of 1,000, {name}: last token ÷ (one fetch + warm herd) (context)"),
                r.custom(file, &["herd", "cold_ns"]),
                Ns,
                Context,
            )
            .against("sum", floor),
        );
    }

    // 6. Memory.
    for (alg, key) in [("ES256", "es256"), ("PS256", "ps256")] {
        for (what, field, unit) in [("allocations", "allocations", Count), ("bytes", "bytes", Bytes)] {
            rows.push(
                Row::new(
                    "6",
                    format!("{alg} assertion: heap {what}"),
                    r.custom("memory-core.json", &[&format!("{key}_assertion"), field]),
                    unit,
                    Context,
                )
                .against("ring", r.custom("memory-core.json", &[&format!("{key}_ring_sign"), field])),
            );
        }
    }
    rows.push(Row::new(
        "6",
        "token response parse: heap allocations",
        r.custom("memory-core.json", &["response_from_http", "allocations"]),
        Count,
        Context,
    ));
    for (name, file) in [("async `token().await`", "memory-reqwest.json"), ("blocking `token()`", "memory-ureq.json")] {
        rows.push(Row::new(
            "6",
            format!("warm hit, {name}: heap allocations"),
            r.custom(file, &["warm_hit", "allocations"]),
            Count,
            Exactly(0.0),
        ));
    }

    // 7. Fleet cache, for each transport.
    for (name, prefix) in [("async", ""), ("blocking", "blocking_")] {
        let in_process = r.median(&[&format!("fleet/{prefix}in_process_warm")]);
        rows.push(
            Row::new(
                "7",
                format!("fleet cache, {name}: warm hit ÷ in-process warm hit"),
                r.median(&[&format!("fleet/{prefix}fleet_warm")]),
                Ns,
                RatioAtMost(1.1),
            )
            .against("in-process", in_process),
        );
        rows.push(
            Row::new(
                "7",
                format!("fleet cache, {name}: cold hit (one Redis round trip) ÷ in-process warm hit (context)"),
                r.median(&[&format!("fleet/{prefix}fleet_cold")]),
                Ns,
                Context,
            )
            .against("in-process", in_process),
        );
    }
    rows
}

fn render_table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | metric | measured (median) | baseline (median) | ratio | goal | verdict |\n|---|---|---:|---:|---:|---|---|\n",
    );
    for row in rows {
        let measured = row.measured.map_or_else(|| "–".to_owned(), |v| format_value(v, row.unit));
        let baseline = match (row.baseline_name, row.baseline) {
            ("", _) => String::new(),
            (name, Some(v)) => format!("{} ({name})", format_value(v, row.unit)),
            (name, None) => format!("– ({name})"),
        };
        let ratio = row.ratio().map_or_else(String::new, |r| format!("{r:.2}"));
        let goal = match row.goal {
            Goal::RatioAtMost(g) => format!("≤ {g:.2}"),
            Goal::RatioAtLeast(g) => format!("≥ {g:.2}"),
            Goal::NsAtMost(g) => format!("≤ {}", format_value(g, Unit::Ns)),
            Goal::Exactly(g) => format!("= {}", format_value(g, row.unit)),
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

fn format_value(value: f64, unit: Unit) -> String {
    match unit {
        Unit::Ns if value < 1_000.0 => format!("{value:.1} ns"),
        Unit::Ns if value < 1_000_000.0 => format!("{:.1} µs", value / 1e3),
        Unit::Ns => format!("{:.2} ms", value / 1e6),
        Unit::Count if value.fract() == 0.0 => format!("{value:.0}"),
        Unit::Count => format!("{value:.2}"),
        Unit::Bytes => format!("{value:.0} B"),
        Unit::OpsPerSecond => format!("{:.1} M/s", value / 1e6),
    }
}

/// Runs the build and returns, for each target, the bench executable cargo reported for it.
fn build_benches(root: &Path, args: &[String], targets: &[&Target]) -> Result<Vec<Option<PathBuf>>, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(args)
        .current_dir(root)
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not start cargo: {err}"))?;
    if !output.status.success() {
        return Err(output.status.to_string());
    }
    let mut executables = vec![None; targets.len()];
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<Value>(line) else { continue };
        if message.get("reason").and_then(Value::as_str) != Some("compiler-artifact") {
            continue;
        }
        let (Some(executable), Some(name), Some(manifest)) = (
            message.get("executable").and_then(Value::as_str),
            message.pointer("/target/name").and_then(Value::as_str),
            message.get("manifest_path").and_then(Value::as_str),
        ) else {
            continue;
        };
        let manifest = Path::new(manifest);
        for (index, target) in targets.iter().enumerate() {
            if target.bench == name && manifest == root.join("crates").join(target.krate).join("Cargo.toml") {
                executables[index] = Some(PathBuf::from(executable));
            }
        }
    }
    Ok(executables)
}

fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Cores and CPU model, as `nproc` and `/proc/cpuinfo` tell.
fn machine() -> String {
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

fn utc_now() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// The 1-minute load average from `/proc/loadavg`.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|text| text.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "unknown".to_owned())
}
