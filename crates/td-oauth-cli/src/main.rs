//! `td-oauth`: Talkdesk access tokens from the shell.
//!
//! A thin command over the td-oauth crates: td-oauth-core builds and checks everything, td-oauth-ureq sends
//! it, td-oauth-testkit runs the local server behind `serve` and `demo`. Secrets come from files or the
//! environment, never from flags; errors go to standard error as `td-oauth: …` with an exit status that
//! says what kind of failure it was (see `td-oauth --help`).

#![forbid(unsafe_code)]
// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod assertion;
mod authorize;
mod connection;
mod demo;
mod error;
mod inspect;
mod serve;
mod token;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("td-oauth: {err}");
            err.exit_code()
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Token { connection, scope, json, dry_run } => {
            token::token(&connection, scope.as_deref(), json, dry_run)
        }
        Command::Assertion { connection } => assertion::assertion(&connection),
        Command::AuthorizeUrl { connection, redirect_uri, scope, state, nonce, pkce, authorize_url, json } => {
            let options = authorize::Options {
                redirect_uri: &redirect_uri,
                scope: scope.as_deref(),
                state: state.as_deref(),
                nonce: nonce.as_deref(),
                pkce,
                authorize_url: authorize_url.as_deref(),
                json,
            };
            authorize::authorize_url(&connection, &options)
        }
        Command::Exchange { connection, code, redirect_uri, code_verifier, json } => {
            token::exchange(&connection, &code, &redirect_uri, code_verifier.as_deref(), json)
        }
        Command::Refresh { connection, refresh_token, scope, json } => {
            token::refresh(&connection, &refresh_token, scope.as_deref(), json)
        }
        Command::Inspect { token } => inspect::inspect(token.as_deref()),
        Command::Serve { port, https } => serve::serve(port, https),
        Command::Demo => demo::demo(),
    }
}
