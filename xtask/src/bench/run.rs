//! Running the benches: every bench binary built by one `cargo bench --no-run`, then each run as `cargo bench`
//! runs it, in its package's directory, with the output directory in the environment.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    Target { krate: "td-oauth-core", bench: "key", criterion: true },
    Target { krate: "td-oauth-core", bench: "memory", criterion: false },
    Target { krate: "td-oauth-pkcs11", bench: "assertion", criterion: true },
    Target { krate: "td-oauth-reqwest", bench: "provider", criterion: true },
    Target { krate: "td-oauth-reqwest", bench: "herd", criterion: false },
    Target { krate: "td-oauth-reqwest", bench: "memory", criterion: false },
    Target { krate: "td-oauth-partner", bench: "manager", criterion: false },
    Target { krate: "td-oauth-partner", bench: "fleet", criterion: false },
    Target { krate: "td-oauth-reqwest", bench: "api", criterion: true },
    Target { krate: "td-oauth-ureq", bench: "provider", criterion: true },
    Target { krate: "td-oauth-ureq", bench: "herd", criterion: false },
    Target { krate: "td-oauth-ureq", bench: "memory", criterion: false },
    Target { krate: "td-oauth-ureq", bench: "api", criterion: true },
    Target { krate: "td-oauth-redis", bench: "fleet", criterion: true },
    Target { krate: "td-oauth-cli", bench: "agent", criterion: false },
];

const QUICK_CRITERION: &[&str] =
    &["--warm-up-time", "0.3", "--measurement-time", "1", "--sample-size", "20", "--nresamples", "2000", "--noplot"];
const FULL_CRITERION: &[&str] = &["--warm-up-time", "2", "--measurement-time", "5", "--noplot"];

/// What a run produced besides the result files: how long the build took, and the benches that failed.
pub(super) struct Outcome {
    pub(super) built: Duration,
    pub(super) failed: Vec<String>,
}

/// Builds and runs every bench that exists in the workspace; `Err` when the build fails.
pub(super) fn run(root: &Path, target_dir: &Path, out_dir: &Path, quick: bool) -> Result<Outcome, String> {
    let started = Instant::now();
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
    let executables = build_benches(root, &build, &targets)?;
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
            .env("CARGO_TARGET_DIR", target_dir)
            .env("TD_OAUTH_BENCH_OUT", out_dir)
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
    Ok(Outcome { built, failed })
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

/// The target directory cargo builds into (`CARGO_TARGET_DIR`, or `target/`).
pub(super) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}
