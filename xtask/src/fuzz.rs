//! `cargo xtask fuzz [SECS]`: every cargo-fuzz target in `fuzz/` for SECS seconds each (default 60), seeded
//! from `fuzz/seeds/`, then a table of executions and coverage. A crash stops with the artifact's path; copy
//! it into `crates/<crate>/tests/fuzz-regressions/<target>/` (the crate whose `fuzz_regressions` test replays
//! that target: [`replaying_crate`]) so `cargo xtask test` replays it forever.

use std::path::Path;
use std::process::{Command, ExitCode, Stdio};

/// What one target's run reported.
struct Outcome {
    target: String,
    executions: Option<u64>,
    coverage: Option<u64>,
    features: Option<u64>,
    crashed: bool,
}

pub(crate) fn fuzz(root: &Path, args: &[String]) -> ExitCode {
    let seconds = match args.first().map(|s| s.parse::<u64>()) {
        None => 60,
        Some(Ok(seconds)) if seconds > 0 => seconds,
        Some(_) => {
            eprintln!("xtask fuzz: SECS must be a positive number of seconds per target");
            return ExitCode::from(2);
        }
    };
    if let Err(why) = ensure_tools() {
        eprintln!("xtask fuzz: {why}");
        return ExitCode::FAILURE;
    }
    let targets = match targets(root) {
        Ok(targets) if !targets.is_empty() => targets,
        Ok(_) => {
            eprintln!("xtask fuzz: no targets in fuzz/fuzz_targets/");
            return ExitCode::FAILURE;
        }
        Err(err) => {
            eprintln!("xtask fuzz: cannot list fuzz/fuzz_targets/: {err}");
            return ExitCode::FAILURE;
        }
    };

    let mut outcomes = Vec::new();
    for target in &targets {
        println!("\n==> xtask fuzz: {target} for {seconds} s");
        let corpus = root.join("fuzz/corpus").join(target);
        if let Err(err) = std::fs::create_dir_all(&corpus) {
            eprintln!("xtask fuzz: cannot create {}: {err}", corpus.display());
            return ExitCode::FAILURE;
        }
        let output = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", target])
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(target))
            .args(["--", &format!("-max_total_time={seconds}"), "-print_final_stats=1"])
            .current_dir(root)
            .stdout(Stdio::inherit())
            .stderr(Stdio::piped())
            .output();
        let output = match output {
            Ok(output) => output,
            Err(err) => {
                eprintln!("xtask fuzz: could not start cargo fuzz: {err}");
                return ExitCode::FAILURE;
            }
        };
        let log = String::from_utf8_lossy(&output.stderr);
        let outcome = read_outcome(target, &log, !output.status.success());
        if outcome.crashed {
            // libFuzzer's own report says what and where; show its tail.
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            for line in tail.into_iter().rev() {
                eprintln!("{line}");
            }
            eprintln!(
                "\nxtask fuzz: {target} found a crash: copy the artifact named above from fuzz/artifacts/{target}/ \
                 into crates/{}/tests/fuzz-regressions/{target}/, fix it, and run cargo xtask test",
                replaying_crate(target)
            );
        }
        outcomes.push(outcome);
    }

    println!("\n| target | executions | coverage (edges) | features | result |\n|---|---|---|---|---|");
    let show = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
    for o in &outcomes {
        let result = if o.crashed { "CRASH" } else { "ok" };
        println!("| {} | {} | {} | {} | {result} |", o.target, show(o.executions), show(o.coverage), show(o.features));
    }
    if outcomes.iter().any(|o| o.crashed) { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// Nightly and cargo-fuzz, installing cargo-fuzz from crates.io when it is missing.
fn ensure_tools() -> Result<(), String> {
    let nightly = Command::new("cargo").args(["+nightly", "--version"]).output();
    if !nightly.is_ok_and(|o| o.status.success()) {
        return Err("fuzzing needs the nightly toolchain: rustup toolchain install nightly".into());
    }
    let fuzz = Command::new("cargo").args(["fuzz", "--version"]).output();
    if fuzz.is_ok_and(|o| o.status.success()) {
        return Ok(());
    }
    println!("==> installing cargo-fuzz");
    let status = Command::new("cargo").args(["install", "cargo-fuzz", "--locked"]).status();
    match status {
        Ok(status) if status.success() => Ok(()),
        _ => Err("could not install cargo-fuzz (cargo install cargo-fuzz --locked)".into()),
    }
}

fn targets(root: &Path) -> std::io::Result<Vec<String>> {
    let mut targets: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_owned)
        })
        .collect();
    targets.sort();
    Ok(targets)
}

/// Reads libFuzzer's closing statistics (`-print_final_stats=1`) and its last status line.
fn read_outcome(target: &str, log: &str, failed: bool) -> Outcome {
    let stat = |name: &str| {
        log.lines()
            .rev()
            .filter_map(|line| line.strip_prefix(name))
            .find_map(|rest| rest.trim_start_matches(':').trim().parse::<u64>().ok())
    };
    // "#770628	DONE   cov: 1403 ft: 4257 corp: ..." and friends.
    let field = |name: &str| {
        log.lines().rev().filter(|line| line.starts_with('#')).find_map(|line| {
            let mut words = line.split_whitespace();
            words.by_ref().find(|w| *w == name)?;
            words.next()?.parse::<u64>().ok()
        })
    };
    Outcome {
        target: target.to_owned(),
        executions: stat("stat::number_of_executed_units"),
        coverage: field("cov:"),
        features: field("ft:"),
        crashed: failed,
    }
}

/// The crate whose `tests/fuzz_regressions.rs` replays `target`'s saved crashes: the crate its body lives in.
fn replaying_crate(target: &str) -> &'static str {
    match target {
        "installation_event" => "td-oauth-partner",
        "sealed_open" => "td-oauth-redis",
        "pkcs11_uri" => "td-oauth-pkcs11",
        _ => "td-oauth-core",
    }
}
