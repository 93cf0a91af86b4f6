//! `td-oauth-partner-app`: see the library's documentation and `docs/partner-apps.md`.

use std::io::Write as _;
use std::process::ExitCode;

use tracing_subscriber::filter::LevelFilter;

use td_oauth_partner_app::serve::migrate;
use td_oauth_partner_app::{Args, Settings, StartupError, run};

fn main() -> ExitCode {
    let args = Args::from_env_and_command_line();
    init_logging();
    let runtime = || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("td-oauth-partner-app")
            .build()
            .map_err(|err| StartupError::Runtime(format!("cannot start the runtime: {err}")))
    };
    let result = if args.migrate {
        runtime().and_then(|runtime| runtime.block_on(migrate(&args))).and_then(|done| {
            writeln!(std::io::stdout(), "{done}")
                .map_err(|err| StartupError::Runtime(format!("cannot write to standard output: {err}")))
        })
    } else {
        Settings::from_args(args).and_then(|settings| runtime()?.block_on(run(settings)))
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "td-oauth-partner-app: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn init_logging() {
    // An unknown level is not worth refusing to start over: the default is used, and said.
    let asked = std::env::var("TD_OAUTH_LOG").ok();
    let level = asked.as_deref().and_then(|text| text.trim().parse::<LevelFilter>().ok());
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level.unwrap_or(LevelFilter::INFO))
        .with_target(false)
        .init();
    if asked.is_some() && level.is_none() {
        tracing::warn!("TD_OAUTH_LOG is not one of error, warn, info, debug, trace: logging at info");
    }
}
