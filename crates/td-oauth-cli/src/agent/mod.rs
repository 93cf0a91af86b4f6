//! `td-oauth agent`: access tokens for local processes in any language, over a Unix socket.
//!
//! One process holds the credentials and keeps tokens fresh (a [`td_oauth_reqwest::TokenProvider`] per
//! client: single flight, refresh ahead, backoff, the fleet cache when configured); every other process
//! asks it with a plain HTTP request. The pieces: [`config`] (the TOML file of named clients), [`clients`]
//! (building providers from the same settings as `token`), [`socket`] (where it listens, and the checks on
//! the socket's directory), [`guard`] (the checks every request passes), [`routes`] (the answers),
//! [`server`] (hyper on tokio, stopping cleanly), [`reload`] (SIGHUP).

mod clients;
mod config;
mod guard;
mod reload;
mod routes;
mod server;
mod socket;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;

use crate::args::Connection;
use crate::error::CliError;
use crate::output::{self, out};

use clients::{Clients, Sources};
use config::ClientDef;
use server::Shared;

/// How long a stop waits for the requests in flight (a cold fetch is bounded by its own deadline first).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// The command line of `td-oauth agent`.
pub(crate) struct Options {
    pub(crate) connection: Connection,
    pub(crate) scope: Option<String>,
    pub(crate) cache: Option<String>,
    pub(crate) config: Option<PathBuf>,
    pub(crate) socket: Option<PathBuf>,
    pub(crate) listen: Option<String>,
}

pub(crate) fn agent(options: Options) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("td-oauth-agent")
        .build()
        .map_err(|err| CliError::Failed(format!("cannot start the agent's runtime: {err}")))?;
    runtime.block_on(run(options))
}

async fn run(options: Options) -> Result<(), CliError> {
    let flags = clients::flags_name_a_client(&options.connection).then_some(ClientDef {
        connection: options.connection,
        scope: options.scope,
        cache: options.cache,
    });
    let sources = Arc::new(Sources { flags, config: options.config });
    let clients = Clients::load(&sources, None)?;
    let tcp = options.listen.as_deref().map(socket::loopback_addr).transpose()?;
    let socket_path = socket::socket_path(options.socket)?;

    // Signals first: from here on a SIGTERM is a clean stop, not the default death.
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|err| CliError::Failed(format!("cannot listen for {name}: {err}")))
    };
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;
    let hangups = reload::hangups()?;

    let uid = socket::current_uid()?;
    let (unix_listener, unix_socket) = socket::bind_unix(&socket_path, uid)?;
    let tcp_listener = match tcp {
        Some(addr) => Some(socket::bind_tcp(addr).await?),
        None => None,
    };

    log_clients("serving", &clients, None);
    let shared = Arc::new(Shared { clients: ArcSwap::from_pointee(clients) });
    let graceful = Arc::new(GracefulShutdown::new());
    let (stop_tx, stop_rx) = watch::channel(false);

    // What a script or a test waits for: one line per listener, then `ready`.
    out!("listening on unix:{}", unix_socket.path().display())?;
    let mut tasks = vec![tokio::spawn(server::serve_unix(
        unix_listener,
        Arc::clone(&shared),
        Arc::clone(&graceful),
        stop_rx.clone(),
    ))];
    if let Some(listener) = tcp_listener {
        let addr =
            listener.local_addr().map_err(|err| CliError::Failed(format!("cannot read the TCP address: {err}")))?;
        out!("listening on http://{addr}")?;
        tasks.push(tokio::spawn(server::serve_tcp(
            listener,
            Arc::clone(&shared),
            Arc::clone(&graceful),
            stop_rx.clone(),
        )));
    }
    out!("ready")?;
    output::flush()?;
    let reloads = tokio::spawn(reload::on_hangup(hangups, Arc::clone(&sources), Arc::clone(&shared), stop_rx));

    let which = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!("{which}: no new connections; letting the requests in flight finish");
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    // The socket goes at once: a new agent may start while this one finishes its requests.
    unix_socket.remove();
    let _ = reloads.await;
    match Arc::try_unwrap(graceful) {
        Ok(graceful) => {
            if tokio::time::timeout(STOP_GRACE, graceful.shutdown()).await.is_err() {
                tracing::warn!("requests still running after {} s: stopping anyway", STOP_GRACE.as_secs());
            }
        }
        Err(_) => tracing::warn!("connections could not be waited for: stopping anyway"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Logs which clients are served, by name only.
pub(crate) fn log_clients(what: &str, clients: &Clients, kept: Option<usize>) {
    let names = clients.names().collect::<Vec<_>>().join(", ");
    let default = if clients.has_default() { "a default client" } else { "no default client" };
    let kept = kept.map(|n| format!("; {n} kept their tokens")).unwrap_or_default();
    tracing::info!("{what}: {default}; named clients: [{names}]{kept}");
}
