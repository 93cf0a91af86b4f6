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

mod goals;
mod report;
mod results;
mod run;

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

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
    let target_dir = run::target_dir(&root);
    let out_dir = target_dir.join("td-oauth-bench");
    if let Err(err) = std::fs::create_dir_all(&out_dir) {
        eprintln!("xtask bench: cannot create {}: {err}", out_dir.display());
        return ExitCode::FAILURE;
    }
    let load_before = report::load_average();
    let started = Instant::now();
    let since = SystemTime::now();
    let outcome = match run::run(&root, &target_dir, &out_dir, quick) {
        Ok(outcome) => outcome,
        Err(why) => {
            println!("xtask bench: the build failed ({why})");
            return ExitCode::FAILURE;
        }
    };

    let results = results::Results { criterion: target_dir.join("criterion"), custom: out_dir.clone(), since };
    let rows = goals::rows(&results);
    let table = report::render_table(&rows);
    let elapsed = started.elapsed();
    let machine = report::machine();
    let mode = if quick { "quick" } else { "full" };
    let summary = format!(
        "{mode} run, {:.0} s in all ({:.0} s building, {:.0} s measuring), {}; load average (1 min) {} before, {} \
         after (other processes on the machine: the higher, the noisier)",
        elapsed.as_secs_f64(),
        outcome.built.as_secs_f64(),
        (elapsed - outcome.built).as_secs_f64(),
        report::utc_now(),
        load_before,
        report::load_average()
    );
    println!("\n{table}\nMachine: {machine}\n{summary}");
    let missed = rows.iter().filter(|r| matches!(r.verdict(), goals::Verdict::Missed(_))).count();
    let unmeasured = rows.iter().filter(|r| matches!(r.verdict(), goals::Verdict::NotMeasured)).count();
    println!(
        "{} rows: {} met, {missed} missed, {unmeasured} not measured",
        rows.len(),
        rows.len() - missed - unmeasured
    );

    let page = if quick { out_dir.join("performance-quick.md") } else { root.join("docs/performance.md") };
    let results = format!("Machine: {machine}.  \n{summary}.\n\n{table}");
    let text = report::page_text(&std::fs::read_to_string(&page).unwrap_or_default(), &results);
    match std::fs::write(&page, text) {
        Ok(()) => println!("wrote {}", page.display()),
        Err(err) => {
            println!("xtask bench: cannot write {}: {err}", page.display());
            return ExitCode::FAILURE;
        }
    }
    if outcome.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("xtask bench: these benches failed: {}", outcome.failed.join(", "));
        ExitCode::FAILURE
    }
}
