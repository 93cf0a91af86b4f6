//! The README's, the guides' (`docs/`) and the crate READMEs' Rust snippets, compiled (and, where they
//! need no server, run) as this crate's doc tests: `cargo test --doc -p td-oauth-doctests`, part of
//! `cargo xtask test`. Snippets that need a Talkdesk account or a Redis are `no_run`: compiled, not run.
//! `tests/coverage.rs` fails when a Markdown file of the workspace is missing from the list below.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// Generates one doc-test holder per Markdown file, so that a failing snippet names its file.
macro_rules! markdown {
    ($($name:ident => $path:literal,)*) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!(concat!("../../../", $path))]
            struct $name;
        )*

        /// Every Markdown file whose snippets are doc tests here, relative to the workspace root.
        pub const FILES: &[&str] = &[$($path),*];
    };
}

markdown! {
    Readme => "README.md",
    DocsAgent => "docs/agent.md",
    DocsArchitecture => "docs/architecture.md",
    DocsCli => "docs/cli.md",
    DocsClock => "docs/clock.md",
    DocsFleetCache => "docs/fleet-cache.md",
    DocsInstallationStore => "docs/installation-store.md",
    DocsPartnerApps => "docs/partner-apps.md",
    DocsPerformance => "docs/performance.md",
    DocsPkcs11 => "docs/pkcs11.md",
    DocsReqwest => "docs/reqwest.md",
    DocsSecurity => "docs/security.md",
    DocsSigners => "docs/signers.md",
    DocsTalkdeskApi => "docs/talkdesk-api.md",
    DocsTalkdesk => "docs/talkdesk.md",
    DocsTransports => "docs/transports.md",
    DocsUreq => "docs/ureq.md",
    CoreReadme => "crates/td-oauth-core/README.md",
    ApiReadme => "crates/td-oauth-api/README.md",
    PartnerReadme => "crates/td-oauth-partner/README.md",
    ReqwestReadme => "crates/td-oauth-reqwest/README.md",
    UreqReadme => "crates/td-oauth-ureq/README.md",
    RedisReadme => "crates/td-oauth-redis/README.md",
    PostgresReadme => "crates/td-oauth-postgres/README.md",
}
