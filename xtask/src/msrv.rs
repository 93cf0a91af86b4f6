//! The `rust-version` check of `cargo xtask test`: the workspace's declared minimum Rust version must be at
//! least what it needs, derived rather than guessed, since only one toolchain is installed to test with.
//!
//! What it needs is the highest of:
//! - the `rust-version` every package in the resolved lockfile declares (`cargo metadata`: normal, build and
//!   dev dependencies on every platform, since all of them build for the tests);
//! - the first release of the edition the members use;
//! - the syntax the sources use that is newer than that edition ([`SYNTAX`], found by scanning them).
//!
//! Library APIs newer than the declared version (`LazyLock`, `as_chunks`, …) are clippy's
//! `incompatible_msrv` lint's job: it reads the same `rust-version`, and the clippy step denies warnings.
//! Not seen by either: language changes without syntax of their own, such as trait upcasting (1.86).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// A Rust release, `major.minor.patch`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Version(u64, u64, u64);

impl Version {
    fn parse(text: &str) -> Option<Version> {
        let mut parts = text.trim().split('.').map(str::parse::<u64>);
        let major = parts.next()?.ok()?;
        let minor = parts.next().unwrap_or(Ok(0)).ok()?;
        let patch = parts.next().unwrap_or(Ok(0)).ok()?;
        parts.next().is_none().then_some(Version(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.2 {
            0 => write!(f, "{}.{}", self.0, self.1),
            patch => write!(f, "{}.{}.{patch}", self.0, self.1),
        }
    }
}

/// The first release of each edition.
const EDITIONS: [(&str, Version); 4] =
    [("2015", Version(1, 0, 0)), ("2018", Version(1, 31, 0)), ("2021", Version(1, 56, 0)), ("2024", Version(1, 85, 0))];

/// Whether a line uses a piece of syntax, given the line and the one before it (both trimmed).
type Detector = fn(&str, &str) -> bool;

/// Syntax stabilised after edition 2024's first release (1.85), with its detector.
const SYNTAX: [(&str, Version, Detector); 2] = [
    ("let chains (`if let … && …`)", Version(1, 88, 0), uses_let_chain),
    ("boolean literals in `cfg` (`cfg(true)`)", Version(1, 88, 0), uses_cfg_literal),
];

fn uses_let_chain(line: &str, previous: &str) -> bool {
    let starts_let = |text: &str| ["if let ", "} else if let ", "while let "].iter().any(|p| text.starts_with(p));
    line.starts_with("&& let ")
        || (starts_let(line) && line.split_once(" && ").is_some_and(|(_, rest)| rest.contains('{')))
        || (line.starts_with("&& ") && starts_let(previous) && !previous.contains('{'))
}

fn uses_cfg_literal(line: &str, _previous: &str) -> bool {
    ["cfg(true)", "cfg(false)", "cfg_attr(true", "cfg_attr(false"].iter().any(|form| line.contains(form))
}

/// One reason the workspace needs at least some version.
struct Need {
    version: Version,
    why: String,
}

/// Runs the check, printing what was derived; `Err` says what is wrong and what to do.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    let metadata = metadata(root)?;
    let members: Vec<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let packages = metadata["packages"].as_array().ok_or("cargo metadata lists no packages")?;

    let mut needs = Vec::new();
    let mut declared = Vec::new();
    for package in packages {
        let name = package["name"].as_str().unwrap_or("?");
        let rust_version = package["rust_version"].as_str().and_then(Version::parse);
        if members.contains(&package["id"].as_str().unwrap_or_default()) {
            declared.push((name.to_owned(), rust_version));
            let edition = package["edition"].as_str().unwrap_or("2015");
            if let Some((_, first)) = EDITIONS.iter().find(|(e, _)| *e == edition) {
                needs.push(Need { version: *first, why: format!("edition {edition} ({name})") });
            }
        } else if let Some(version) = rust_version {
            let release = package["version"].as_str().unwrap_or("?");
            needs.push(Need { version, why: format!("dependency {name} {release}") });
        }
    }
    needs.extend(syntax_needs(root));

    let needed = needs.iter().map(|n| n.version).max().ok_or("nothing to derive a rust-version from")?;
    let (mut dependencies, mut others): (Vec<&Need>, Vec<&Need>) =
        needs.iter().filter(|n| n.version == needed).partition(|n| n.why.starts_with("dependency "));
    dependencies.sort_by(|a, b| a.why.cmp(&b.why));
    others.sort_by(|a, b| a.why.cmp(&b.why));
    let mut reasons: Vec<String> = others.iter().map(|n| n.why.clone()).collect();
    if !dependencies.is_empty() {
        let named: Vec<&str> = dependencies.iter().take(3).map(|n| &n.why["dependency ".len()..]).collect();
        let more = if dependencies.len() > named.len() { ", …" } else { "" };
        reasons.push(format!("{} dependencies ({}{more})", dependencies.len(), named.join(", ")));
    }
    println!("rust-version needed: {needed}, by {}", reasons.join("; "));

    let mut low = Vec::new();
    for (name, version) in &declared {
        match version {
            Some(version) if *version >= needed => {}
            Some(version) => low.push(format!("{name} declares {version}")),
            None => low.push(format!("{name} declares none")),
        }
    }
    if !low.is_empty() {
        return Err(format!(
            "{}; set `rust-version = \"{needed}\"` in [workspace.package] of Cargo.toml (and the README's toolchain line)",
            low.join(", ")
        ));
    }
    // Every member declares at least `needed` here; some (a binary using a newer std API) may declare more.
    let above: Vec<String> = declared
        .iter()
        .filter_map(|(name, version)| version.filter(|v| *v > needed).map(|v| format!("{name} {v}")))
        .collect();
    if above.is_empty() {
        println!("rust-version declared: {needed} by every member");
    } else {
        println!(
            "rust-version declared: {needed} or more; above what the lockfile and the syntax need: {}; clippy's \
             incompatible_msrv checks library APIs against each package's own",
            above.join(", ")
        );
    }
    Ok(())
}

fn metadata(root: &Path) -> Result<Value, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .map_err(|err| format!("could not run cargo metadata: {err}"))?;
    if !output.status.success() {
        return Err(format!("cargo metadata failed: {}", String::from_utf8_lossy(&output.stderr).trim()));
    }
    serde_json::from_slice(&output.stdout).map_err(|err| format!("cargo metadata printed no JSON: {err}"))
}

/// The first use of each [`SYNTAX`] feature in the workspace's Rust sources.
fn syntax_needs(root: &Path) -> Vec<Need> {
    let mut files = Vec::new();
    for dir in ["crates", "xtask"] {
        collect_rust_files(&root.join(dir), &mut files);
    }
    files.sort();
    let mut needs = Vec::new();
    for (feature, version, uses) in SYNTAX {
        let found = files.iter().find_map(|path| {
            let text = std::fs::read_to_string(path).ok()?;
            let mut previous = "";
            for (number, line) in text.lines().enumerate() {
                let line = line.trim();
                // This file names the syntax in order to find it.
                if !path.ends_with("xtask/src/msrv.rs") && !line.starts_with("//") && uses(line, previous) {
                    let shown = path.strip_prefix(root).unwrap_or(path).display().to_string();
                    return Some(format!("{shown}:{}", number + 1));
                }
                previous = line;
            }
            None
        });
        if let Some(place) = found {
            needs.push(Need { version, why: format!("{feature} at {place}") });
        }
    }
    needs
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name != "target") {
                collect_rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(Version::parse("1.88"), Some(Version(1, 88, 0)));
        assert_eq!(Version::parse("1.88.1"), Some(Version(1, 88, 1)));
        assert_eq!(Version::parse("1.x"), None);
        assert!(Version(1, 88, 0) > Version(1, 85, 3));
        assert_eq!(Version(1, 88, 0).to_string(), "1.88");
    }

    #[test]
    fn let_chains_are_found_in_every_layout() {
        assert!(uses_let_chain("if let Some(a) = x && a > 0 {", ""));
        assert!(uses_let_chain("&& *claimed != client_id", "if let Some(claimed) = form.get(\"client_id\")"));
        assert!(uses_let_chain("&& let Some(b) = y", "if a > 0"));
        assert!(!uses_let_chain("if let Some(a) = x {", ""));
        assert!(!uses_let_chain("if a && b {", ""));
        assert!(!uses_let_chain("&& b", "if a"));
        assert!(!uses_let_chain("&& b", "if let Some(a) = x { y"));
    }

    #[test]
    fn cfg_literals_are_found() {
        assert!(uses_cfg_literal("#[cfg(false)]", ""));
        assert!(!uses_cfg_literal("#[cfg(test)]", ""));
    }
}
