//! The doc-test harness covers every guide: each Markdown file a user reads (the README, everything under
//! `docs/`, each crate's README) is in `td_oauth_doctests::FILES`, and none of their snippets opts out of
//! compiling with `ignore`. A new guide that is not added to the list fails here.

#![allow(clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `dir`'s Markdown files, in subdirectories too, as paths relative to the workspace root.
fn markdown_under(root: &Path, dir: &str, found: &mut Vec<String>) {
    let Ok(entries) = fs::read_dir(root.join(dir)) else { return };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let relative = format!("{dir}/{name}");
        if entry.path().is_dir() {
            markdown_under(root, &relative, found);
        } else if name.ends_with(".md") {
            found.push(relative);
        }
    }
}

/// The guides: the README, `docs/**/*.md`, and `crates/*/README.md`.
fn guides(root: &Path) -> Vec<String> {
    let mut found = vec!["README.md".to_owned()];
    markdown_under(root, "docs", &mut found);
    let crates = fs::read_dir(root.join("crates")).expect("the workspace has a crates/ directory");
    for entry in crates.filter_map(Result::ok) {
        if entry.path().join("README.md").is_file() {
            found.push(format!("crates/{}/README.md", entry.file_name().to_string_lossy()));
        }
    }
    found.sort();
    found
}

#[test]
fn every_guide_is_a_doc_test_source() {
    let root = workspace_root();
    let missing: Vec<String> =
        guides(&root).into_iter().filter(|file| !td_oauth_doctests::FILES.contains(&file.as_str())).collect();
    assert!(
        missing.is_empty(),
        "these Markdown files' snippets are not compiled: add them to the `markdown!` list in \
         crates/td-oauth-doctests/src/lib.rs: {missing:?}"
    );
    for file in td_oauth_doctests::FILES {
        assert!(root.join(file).is_file(), "{file} is in the doc-test list but does not exist: remove it");
    }
}

#[test]
fn no_snippet_is_ignored() {
    let root = workspace_root();
    let mut ignored = Vec::new();
    for file in td_oauth_doctests::FILES {
        let text = fs::read_to_string(root.join(file)).expect("a listed file is readable");
        let mut open = false;
        for (index, line) in text.lines().enumerate() {
            let Some(info) = line.trim_start().strip_prefix("```") else { continue };
            if !open && info.split(',').any(|attribute| attribute.trim() == "ignore") {
                ignored.push(format!("{file}:{}", index + 1));
            }
            open = !open;
        }
    }
    assert!(
        ignored.is_empty(),
        "snippets marked `ignore` are never compiled: make them compile (`no_run` if they need a server) \
         at {ignored:?}"
    );
}
