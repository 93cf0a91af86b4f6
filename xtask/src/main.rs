//! Project automation for td-oauth, run as `cargo xtask <command>`.
//!
//! `cargo xtask test` is the one test command: the same steps run on a laptop, in `.ci/run` and in GitHub
//! Actions, in order, stopping at the first failure.

// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod fuzz;
mod msrv;
mod parity;
mod prerequisites;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  test    the rust-version check, fmt check, clippy, workspace tests (all features), each
          library crate with --no-default-features, td-oauth-redis with each transport alone,
          the CLI demo, doc tests, rustdoc with warnings denied
  bench   the benchmarks, reported as ratios to baselines measured in the same run; writes
          docs/performance.md (`--quick`: a shorter pass, table in target/td-oauth-bench/)
  fuzz [SECS]
          every cargo-fuzz target in fuzz/ for SECS seconds each (default 60; needs nightly,
          installs cargo-fuzz if missing), then executions and coverage per target
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("bench") => bench::bench(&args[1..]),
        Some("fuzz") => fuzz::fuzz(&workspace_root(), &args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        other => {
            if let Some(command) = other {
                eprintln!("xtask: unknown command `{command}`\n");
            }
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Totals read from `cargo test`'s `test result:` lines.
#[derive(Default)]
struct Counts {
    passed: u64,
    failed: u64,
    ignored: u64,
}

impl Counts {
    fn add_line(&mut self, line: &str) {
        let Some(rest) = line.trim().strip_prefix("test result: ") else { return };
        for part in rest.split(';') {
            let mut words = part.split_whitespace().rev();
            let (Some(label), Some(number)) = (words.next(), words.next()) else { continue };
            let Ok(n) = number.parse::<u64>() else { continue };
            match label {
                "passed" => self.passed += n,
                "failed" => self.failed += n,
                "ignored" => self.ignored += n,
                _ => {}
            }
        }
    }
}

struct Step {
    name: String,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
    /// Whether the step's stdout carries `test result:` lines to count.
    counts_tests: bool,
}

impl Step {
    fn new(name: impl Into<String>, args: &[&str]) -> Self {
        Step {
            name: name.into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env: Vec::new(),
            counts_tests: false,
        }
    }
}

fn test() -> ExitCode {
    let root = workspace_root();
    if let Err(why) = prerequisites::ensure_redis_server() {
        println!("xtask test: {why}");
        return ExitCode::FAILURE;
    }
    prerequisites::ensure_chromium();
    prerequisites::ensure_postgres();
    prerequisites::ensure_secret_service();
    prerequisites::ensure_snippet_runtimes();
    prerequisites::ensure_softhsm();
    println!("\n==> xtask test: rust-version, derived from the lockfile, the editions and the syntax in use");
    if let Err(why) = msrv::check(&root) {
        println!("\nxtask test: rust-version: {why}");
        return ExitCode::FAILURE;
    }
    println!("\n==> xtask test: the transports' public roots differ only as docs/transports.md lists");
    let drift = parity::check_workspace(&root);
    if !drift.is_empty() {
        println!("\nxtask test: transport parity:\n{}", drift.join("\n"));
        return ExitCode::FAILURE;
    }
    let mut steps = vec![
        Step::new("fmt", &["fmt", "--all", "--check"]),
        Step::new("clippy", &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"]),
        Step {
            counts_tests: true,
            ..Step::new("tests", &["test", "--workspace", "--all-features", "--lib", "--bins", "--tests", "--examples"])
        },
    ];
    for krate in library_crates(&root) {
        steps.push(Step::new(
            format!("{krate} --no-default-features"),
            &["check", "-p", &krate, "--no-default-features"],
        ));
    }
    // td-oauth-redis's two faces, each alone: a program on one transport builds only that one.
    for face in ["reqwest", "ureq"] {
        steps.push(Step::new(
            format!("td-oauth-redis --features {face} alone"),
            &["check", "-p", "td-oauth-redis", "--no-default-features", "--features", face],
        ));
    }
    // td-oauth-redis's installation store alone: a partner backend on it builds neither transport's face.
    steps.push(Step::new(
        "td-oauth-redis --features partner alone",
        &["check", "-p", "td-oauth-redis", "--no-default-features", "--features", "partner"],
    ));
    if root.join("crates/td-oauth-cli").is_dir() {
        // The README's first command, as a smoke test: the whole flow against the in-process server.
        steps.push(Step::new("demo", &["run", "--quiet", "-p", "td-oauth-cli", "--", "demo"]));
    }
    steps.push(Step {
        counts_tests: true,
        ..Step::new("doctests", &["test", "--workspace", "--all-features", "--doc"])
    });
    steps.push(Step {
        env: vec![("RUSTDOCFLAGS", "-D warnings")],
        ..Step::new("docs", &["doc", "--workspace", "--no-deps", "--all-features"])
    });

    let started = Instant::now();
    let mut counts = Counts::default();
    let total = steps.len();
    for (index, step) in steps.iter().enumerate() {
        println!("\n==> xtask test [{}/{total}] {}: cargo {}", index + 1, step.name, step.args.join(" "));
        let _ = std::io::stdout().flush();
        let step_started = Instant::now();
        match run(&root, step, &mut counts) {
            Ok(()) => println!("==> {} ok ({:.0} s)", step.name, step_started.elapsed().as_secs_f64()),
            Err(why) => {
                println!(
                    "\nxtask test: step `{}` failed ({why}) after {:.0} s; {} passed, {} failed so far",
                    step.name,
                    started.elapsed().as_secs_f64(),
                    counts.passed,
                    counts.failed
                );
                return ExitCode::FAILURE;
            }
        }
    }
    println!("\nxtask test: all {total} steps passed in {:.0} s", started.elapsed().as_secs_f64());
    if counts.ignored > 0 {
        println!("summary: {} passed, {} failed, {} skipped", counts.passed, counts.failed, counts.ignored);
    } else {
        println!("summary: {} passed, {} failed", counts.passed, counts.failed);
    }
    ExitCode::SUCCESS
}

fn run(root: &Path, step: &Step, counts: &mut Counts) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = Command::new(cargo);
    command.args(&step.args).current_dir(root).envs(step.env.iter().copied());
    if !step.counts_tests {
        let status = command.status().map_err(|err| format!("could not start cargo: {err}"))?;
        return if status.success() { Ok(()) } else { Err(status.to_string()) };
    }
    let mut child = command.stdout(Stdio::piped()).spawn().map_err(|err| format!("could not start cargo: {err}"))?;
    if let Some(stdout) = child.stdout.take() {
        let mut out = std::io::stdout();
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|err| format!("reading cargo's output: {err}"))?;
            counts.add_line(&line);
            let _ = writeln!(out, "{line}");
        }
    }
    let status = child.wait().map_err(|err| format!("waiting for cargo: {err}"))?;
    if status.success() { Ok(()) } else { Err(status.to_string()) }
}

fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir.parent().map(Path::to_path_buf).unwrap_or(manifest_dir)
}

/// Every crate under `crates/` with a library target; by convention the directory is the package name.
fn library_crates(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root.join("crates")) else { return Vec::new() };
    let mut crates: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("src/lib.rs").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    crates.sort();
    crates
}
