//! The two transports offer one public API: the names at the roots of td-oauth-reqwest and td-oauth-ureq are
//! the same, but for the async-only and blocking-only pieces that docs/transports.md lists, with why, under
//! [`HEADING`]. The test below reads both crate roots and that list, and fails when they disagree: a name
//! added to one transport alone must be added to the other, or listed (and there are at most
//! [`MAX_DIFFERENCES`] such rows).

use std::collections::BTreeSet;
use std::path::Path;

/// The section of docs/transports.md that lists what only one transport has.
pub(crate) const HEADING: &str = "## What only one transport has";

/// How many rows that list may have.
pub(crate) const MAX_DIFFERENCES: usize = 6;

/// The public names at the root of the crate whose `lib.rs` is `source`: items, modules and re-exports
/// (under the name they are exported as), leaving out `#[doc(hidden)]` ones.
pub(crate) fn root_names(source: &str) -> Result<BTreeSet<String>, String> {
    let file = syn::parse_file(source).map_err(|err| format!("lib.rs does not parse: {err}"))?;
    let mut names = BTreeSet::new();
    for item in &file.items {
        let (vis, attrs, name) = match item {
            syn::Item::Use(item) => {
                if is_public(&item.vis) && !is_hidden(&item.attrs) {
                    use_names(&item.tree, &mut names)?;
                }
                continue;
            }
            syn::Item::Mod(item) => (&item.vis, &item.attrs, &item.ident),
            syn::Item::Fn(item) => (&item.vis, &item.attrs, &item.sig.ident),
            syn::Item::Struct(item) => (&item.vis, &item.attrs, &item.ident),
            syn::Item::Enum(item) => (&item.vis, &item.attrs, &item.ident),
            syn::Item::Trait(item) => (&item.vis, &item.attrs, &item.ident),
            syn::Item::Type(item) => (&item.vis, &item.attrs, &item.ident),
            syn::Item::Const(item) => (&item.vis, &item.attrs, &item.ident),
            syn::Item::Static(item) => (&item.vis, &item.attrs, &item.ident),
            _ => continue,
        };
        if is_public(vis) && !is_hidden(attrs) {
            names.insert(name.to_string());
        }
    }
    Ok(names)
}

fn is_public(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

fn is_hidden(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        attr.path().is_ident("doc")
            && matches!(&attr.meta, syn::Meta::List(list) if list.tokens.to_string().trim() == "hidden")
    })
}

fn use_names(tree: &syn::UseTree, names: &mut BTreeSet<String>) -> Result<(), String> {
    match tree {
        syn::UseTree::Path(path) => use_names(&path.tree, names),
        syn::UseTree::Name(name) if name.ident == "self" => {
            Err("`pub use …::{self}`: export the module by name".into())
        }
        syn::UseTree::Name(name) => {
            names.insert(name.ident.to_string());
            Ok(())
        }
        syn::UseTree::Rename(rename) => {
            names.insert(rename.rename.to_string());
            Ok(())
        }
        syn::UseTree::Glob(_) => Err("a glob re-export at the root: name what is exported".into()),
        syn::UseTree::Group(group) => group.items.iter().try_for_each(|tree| use_names(tree, names)),
    }
}

/// One row of the list: its names, and the crates they belong to.
type Row = (BTreeSet<String>, BTreeSet<String>);

/// The names the list under [`HEADING`] gives each crate: every backquoted name of a row's first column,
/// for the crates its second column names (`td-oauth-reqwest`, `td-oauth-ureq`), one set per row.
pub(crate) fn listed(doc: &str) -> Result<Vec<Row>, String> {
    let section = doc
        .split_once(HEADING)
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or_default())
        .ok_or_else(|| format!("docs/transports.md has no `{HEADING}` section"))?;
    let mut rows = Vec::new();
    for line in section.lines().filter(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 || cells[0] == "name" || cells[0].starts_with("---") {
            continue;
        }
        let names: BTreeSet<String> = cells[0].split('`').skip(1).step_by(2).map(str::to_owned).collect();
        let crates: BTreeSet<String> = ["td-oauth-reqwest", "td-oauth-ureq"]
            .into_iter()
            .filter(|c| cells[1].contains(c))
            .map(str::to_owned)
            .collect();
        if names.is_empty() || crates.is_empty() {
            return Err(format!("a row of `{HEADING}` names no item or no crate: {line}"));
        }
        rows.push((names, crates));
    }
    Ok(rows)
}

/// What is wrong with the two roots and the list, or nothing.
pub(crate) fn check(reqwest: &BTreeSet<String>, ureq: &BTreeSet<String>, doc: &str) -> Vec<String> {
    let rows = match listed(doc) {
        Ok(rows) => rows,
        Err(err) => return vec![err],
    };
    let mut problems = Vec::new();
    if rows.len() > MAX_DIFFERENCES {
        problems.push(format!("{} rows under `{HEADING}`; at most {MAX_DIFFERENCES}", rows.len()));
    }
    let only_reqwest: BTreeSet<&String> = reqwest.difference(ureq).collect();
    let only_ureq: BTreeSet<&String> = ureq.difference(reqwest).collect();
    for (krate, only) in [("td-oauth-reqwest", &only_reqwest), ("td-oauth-ureq", &only_ureq)] {
        let allowed: BTreeSet<&String> =
            rows.iter().filter(|(_, crates)| crates.contains(krate)).flat_map(|(names, _)| names).collect();
        for name in only.difference(&allowed) {
            problems.push(format!(
                "`{name}` is at {krate}'s root only: give the other transport the same name, or list it with why"
            ));
        }
    }
    // A row may name one piece of each crate (their HTTP libraries): each name must be at one root alone.
    for name in rows.iter().flat_map(|(names, _)| names) {
        if !only_reqwest.contains(name) && !only_ureq.contains(name) {
            problems.push(format!("`{name}` is listed, but it is not at one transport's root alone"));
        }
    }
    problems
}

/// Reads the two crate roots and docs/transports.md under `root` and checks them.
pub(crate) fn check_workspace(root: &Path) -> Vec<String> {
    let read = |path: &str| std::fs::read_to_string(root.join(path)).map_err(|err| format!("{path}: {err}"));
    let loaded = (|| {
        let reqwest = root_names(&read("crates/td-oauth-reqwest/src/lib.rs")?)?;
        let ureq = root_names(&read("crates/td-oauth-ureq/src/lib.rs")?)?;
        Ok::<_, String>((reqwest, ureq, read("docs/transports.md")?))
    })();
    match loaded {
        Ok((reqwest, ureq, doc)) => check(&reqwest, &ureq, &doc),
        Err(err) => vec![err],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transports_roots_differ_only_by_the_listed_pieces() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let problems = check_workspace(&root);
        assert!(problems.is_empty(), "the transports' public APIs drifted apart:\n{}", problems.join("\n"));
    }

    #[test]
    fn a_name_at_one_root_alone_and_unlisted_is_found() {
        let lib = |extra: &str| {
            root_names(&format!(
                "pub mod shared; pub use x::{{A, B as C}}; {extra} mod private; #[doc(hidden)] pub fn hidden() {{}}"
            ))
            .unwrap()
        };
        let doc =
            format!("{HEADING}\n\n| name | crate | why |\n|---|---|---|\n| `stream` | td-oauth-reqwest | async |\n");
        assert_eq!(lib(""), ["A", "C", "shared"].map(String::from).into());
        assert!(check(&lib("pub mod stream;"), &lib(""), &doc).is_empty());
        let drift = check(&lib("pub mod stream; pub fn extra() {}"), &lib(""), &doc);
        assert_eq!(drift.len(), 1, "{drift:?}");
        assert!(drift[0].contains("`extra`"));
        let stale = check(&lib(""), &lib(""), &doc);
        assert!(stale[0].contains("`stream` is listed"), "{stale:?}");
        let pair = format!("{HEADING}\n\n| `stream` / `iter` | td-oauth-reqwest / td-oauth-ureq | each |\n");
        assert!(check(&lib("pub mod stream;"), &lib("pub mod iter;"), &pair).is_empty());
        assert!(root_names("pub use x::*;").is_err());
    }
}
