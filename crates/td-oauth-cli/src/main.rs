//! `td-oauth`: Talkdesk access tokens from the shell.
//!
//! A thin command over the td-oauth crates: td-oauth-core builds and checks everything, td-oauth-ureq sends
//! it, td-oauth-redis shares tokens across machines for `token --cache`, td-oauth-testkit runs the local
//! server behind `serve` and `demo` (the default `local-server` feature). Secrets come from files, standard
//! input or the environment, never from the command line the help shows; errors go to standard error as
//! `td-oauth: …` with an exit status that says what the answer meant (see `td-oauth --help`).

#![forbid(unsafe_code)]
// A command-line tool: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[cfg(all(feature = "agent", unix))]
mod agent;
mod api;
mod args;
mod assertion;
mod auth_status;
mod authorize;
mod browser;
mod clock_hint;
mod connection;
#[cfg(feature = "local-server")]
mod demo;
mod doctor;
mod dry_run;
mod error;
mod file_cache;
mod fleet;
mod inspect;
mod keyring_store;
mod login;
mod login_store;
mod logout;
mod loopback;
mod output;
mod paste;
mod redact;
mod secrets;
#[cfg(feature = "local-server")]
mod serve;
mod store;
mod token;
mod token_key;
mod whoami;

use std::process::ExitCode;

use clap::Parser as _;

use crate::args::{AuthCommand, Cli, Command};
use crate::error::CliError;
use crate::output::report;
use crate::secrets::SecretArg;

/// The variable that turns on diagnostics on standard error: `error`, `warn`, `info`, `debug` or `trace`.
const LOG_VAR: &str = "TD_OAUTH_LOG";

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = init_logging(default_log_level(&cli.command)).and_then(|()| run(cli)).and_then(|()| output::flush());
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::Closed) => CliError::Closed.exit_code(),
        Err(err) => {
            report(format_args!("{err}"));
            err.exit_code()
        }
    }
}

/// The diagnostics a command shows without TD_OAUTH_LOG: with a fleet cache, a warning when Redis could not
/// be used (the token still comes); the agent, a long-running service, says what it serves and reloads.
fn default_log_level(command: &Command) -> Option<tracing::Level> {
    match command {
        Command::Token { cache: Some(_), .. } => Some(tracing::Level::WARN),
        #[cfg(all(feature = "agent", unix))]
        Command::Agent { .. } => Some(tracing::Level::INFO),
        _ => None,
    }
}

/// Logs the library's `tracing` events (fetches, retries, refreshes; never a secret) to standard error when
/// TD_OAUTH_LOG names a level, else at `default` if given; nothing otherwise. Standard output stays the
/// token alone either way.
fn init_logging(default: Option<tracing::Level>) -> Result<(), CliError> {
    let level = match std::env::var(LOG_VAR) {
        Ok(level) => level
            .trim()
            .parse()
            .map_err(|_| CliError::Input(format!("{LOG_VAR} must be one of error, warn, info, debug, trace")))?,
        Err(_) => match default {
            Some(level) => level,
            None => return Ok(()),
        },
    };
    tracing_subscriber::fmt().with_writer(|| output::Diagnostics).with_max_level(level).with_target(true).init();
    Ok(())
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Token { connection, scope, json, dry_run, cache, user } => {
            token::token(&connection, scope.as_deref(), json, dry_run, cache.as_deref(), user)
        }
        Command::Doctor { connection, scope, cache, offline, json } => doctor::doctor(
            &connection,
            &doctor::Options { scope: scope.as_deref(), cache: cache.as_deref(), offline, json },
        ),
        Command::Login { connection, scope, authorize_url, no_browser, headless, storage, prompt, wait } => {
            let options = login::Options {
                scope: scope.as_deref(),
                authorize_url: authorize_url.as_deref(),
                no_browser,
                headless,
                wait: std::time::Duration::from_secs(wait),
                prompt: &prompt,
                storage,
            };
            login::login(&connection, &options)
        }
        Command::Logout { connection, all } => logout::logout(&connection, all),
        Command::Auth { command: AuthCommand::Status { connection, check, json } } => {
            auth_status::status(&connection, check, json)
        }
        Command::Assertion { connection } => assertion::assertion(&connection),
        Command::AuthorizeUrl { connection, redirect_uri, scope, state, nonce, pkce, authorize_url, prompt, json } => {
            let options = authorize::Options {
                redirect_uri: &redirect_uri,
                scope: scope.as_deref(),
                state: state.as_deref(),
                nonce: nonce.as_deref(),
                pkce,
                authorize_url: authorize_url.as_deref(),
                prompt: &prompt,
                json,
            };
            authorize::authorize_url(&connection, &options)
        }
        Command::Exchange { connection, code, code_file, redirect_uri, code_verifier, code_verifier_file, json } => {
            let input = token::ExchangeInput {
                code: SecretArg {
                    what: "authorization code",
                    flag: "--code",
                    value: code.as_deref(),
                    file: code_file.as_deref(),
                    var: "TALKDESK_CODE",
                },
                code_verifier: SecretArg {
                    what: "PKCE code verifier",
                    flag: "--code-verifier",
                    value: code_verifier.as_deref(),
                    file: code_verifier_file.as_deref(),
                    var: "TALKDESK_CODE_VERIFIER",
                },
                redirect_uri: &redirect_uri,
            };
            token::exchange(&connection, &input, json)
        }
        Command::Refresh { connection, refresh_token, refresh_token_file, scope, json } => {
            let refresh_token = SecretArg {
                what: "refresh token",
                flag: "--refresh-token",
                value: refresh_token.as_deref(),
                file: refresh_token_file.as_deref(),
                var: "TALKDESK_REFRESH_TOKEN",
            };
            token::refresh(&connection, &refresh_token, scope.as_deref(), json)
        }
        Command::Inspect { token } => inspect::inspect(token.as_deref()),
        Command::Api { connection, target, args, fields, input, paginate, include } => {
            let call = api::Call { args: &args, fields: &fields, input: input.as_deref(), paginate, include };
            api::api(&connection, &target, &call)
        }
        Command::Whoami { connection, target, json } => whoami::whoami(&connection, &target, json),
        #[cfg(feature = "local-server")]
        Command::Serve { port, https } => serve::serve(port, https),
        #[cfg(feature = "local-server")]
        Command::Demo => demo::demo(),
        #[cfg(all(feature = "agent", unix))]
        Command::Agent { connection, scope, cache, config, socket, listen } => {
            agent::agent(agent::Options { connection, scope, cache, config, socket, listen })
        }
    }
}
