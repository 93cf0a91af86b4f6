//! SIGHUP: the configuration and key files read again, and the new clients swapped in whole. Requests
//! already running finish with the clients they started with; a configuration that does not load leaves
//! the running one in place, and the log says why.

use std::sync::Arc;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;

use super::clients::{Clients, Sources};
use super::server::Shared;
use crate::error::CliError;

/// SIGHUP, caught from now on (its default action would end the agent).
pub(crate) fn hangups() -> Result<Signal, CliError> {
    signal(SignalKind::hangup()).map_err(|err| CliError::Failed(format!("cannot listen for SIGHUP: {err}")))
}

/// Reloads on every SIGHUP until `stop` says so.
pub(crate) async fn on_hangup(
    mut hangups: Signal,
    sources: Arc<Sources>,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            received = hangups.recv() => {
                if received.is_none() {
                    return;
                }
                reload(&sources, &shared).await;
            }
            _ = stop.changed() => return,
        }
    }
}

/// Builds the new set off the runtime's workers (files are read, TLS roots loaded), then swaps it in.
async fn reload(sources: &Arc<Sources>, shared: &Shared) {
    let current = shared.clients.load_full();
    let (sources, previous) = (Arc::clone(sources), Arc::clone(&current));
    let loaded = tokio::task::spawn_blocking(move || Clients::load(&sources, Some(&previous)))
        .await
        .unwrap_or_else(|err| Err(CliError::Failed(format!("the reload stopped: {err}"))));
    match loaded {
        Ok(clients) => {
            let kept = clients.kept_from(&current);
            super::log_clients("reloaded", &clients, Some(kept));
            shared.clients.store(Arc::new(clients));
        }
        Err(err) => tracing::error!("reload failed, still serving the previous configuration: {err}"),
    }
}
