//! Start-up and shutdown: the settings checked before anything connects, the store opened, both listeners
//! bound, one line each on standard output and then `ready`; SIGTERM or SIGINT stops accepting, lets the
//! requests in flight finish, and returns.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::watch;
use zeroize::Zeroizing;

use td_oauth_api::GatewayAllowList;
use td_oauth_core::Scopes;
use td_oauth_core::crypto::SealingKey;
use td_oauth_core::random::{OsRandom, RandomSource as _};
use td_oauth_partner::FleetTokenManager;
use td_oauth_partner::record::SealingKeys;
use td_oauth_partner::store::{InstallationStore, MemoryStore, StoreError};
use td_oauth_postgres::PostgresStore;
use td_oauth_redis::{RedisStore, StoreConfig};

use crate::args::{Args, CALLBACK_SECRET_VAR, STORE_CA_FILE_VAR, STORE_VAR};
use crate::error::StartupError;
use crate::fleet::Fleet;
use crate::routes::{AppState, admin_router, events_router};
use crate::store_url::StoreUrl;

/// Everything [`run`] needs, checked: made from the command line and the environment.
#[derive(Debug)]
pub struct Settings {
    /// The command line.
    pub args: Args,
    /// `--store`.
    pub store: StoreUrl,
    /// The sealing keys (`None`: the memory store without a key, which then seals with a random one).
    pub keys: Option<SealingKeys>,
    /// The origins events may name as `_links.root`.
    pub gateways: GatewayAllowList,
    /// The callback secret, or `None` with `--no-verification`.
    pub callback_secret: Option<Zeroizing<String>>,
    /// `--status-scopes`.
    pub status_scopes: Scopes,
}

impl Settings {
    /// Checks the command line and reads the environment; nothing is connected yet.
    pub fn from_args(args: Args) -> Result<Settings, StartupError> {
        let store = StoreUrl::parse(&args.store, args.redis_cluster)?;
        if args.store_on_command_line && store.has_password() {
            return Err(password_on_command_line());
        }
        let keys = crate::keys::from_env(!store.is_memory())?;
        let mut gateways = GatewayAllowList::default();
        for origin in &args.allow_gateways {
            gateways =
                gateways.with_origin(origin).map_err(|err| StartupError::Config(format!("--allow-gateway: {err}")))?;
        }
        let callback_secret =
            std::env::var(CALLBACK_SECRET_VAR).ok().filter(|secret| !secret.trim().is_empty()).map(Zeroizing::new);
        if callback_secret.is_none() && !args.no_verification {
            return Err(StartupError::Config(format!(
                "no way to tell AppConnect's deliveries from forged ones: set {CALLBACK_SECRET_VAR} to a random \
                 secret and register the callback URL as https://YOUR-HOST/events?secret=THAT-SECRET, or give \
                 --no-verification when something in front of the app authenticates deliveries"
            )));
        }
        let status_scopes = args
            .status_scopes
            .parse::<Scopes>()
            .map_err(|err| StartupError::Config(format!("--status-scopes: {err}")))?;
        Ok(Settings { args, store, keys, gateways, callback_secret, status_scopes })
    }
}

/// How long a stop waits for the requests in flight (a token fetch is bounded by its own deadline first).
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The largest CA file read (a bundle of a few hundred certificates).
const MAX_CA_FILE_BYTES: u64 = 1024 * 1024;

/// The key read once at start-up to check the store answers (no installation is ever stored under it).
const PROBE_KEY: &str = "td-oauth-partner-app:start-up-check";

/// Runs the app until SIGTERM or SIGINT.
pub async fn run(settings: Settings) -> Result<(), StartupError> {
    let Settings { args, store, keys, gateways, callback_secret, status_scopes } = settings;
    // Signals first: from here on a SIGTERM is a clean stop, not the default death.
    let listen = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|err| StartupError::Runtime(format!("cannot listen for {name}: {err}")))
    };
    let mut terminate = listen(SignalKind::terminate(), "SIGTERM")?;
    let mut interrupt = listen(SignalKind::interrupt(), "SIGINT")?;

    let fleet = open(store, keys, gateways).await?;
    let state = Arc::new(AppState { fleet, callback_secret, status_scopes });

    let bind = |what: &'static str, addr| async move {
        TcpListener::bind(addr).await.map_err(|source| StartupError::Listen { what, addr, source })
    };
    let events = bind("events", args.listen).await?;
    let admin = bind("admin", args.admin_listen).await?;
    let local = |listener: &TcpListener, what: &'static str, addr| {
        listener.local_addr().map_err(|source| StartupError::Listen { what, addr, source })
    };
    let events_addr = local(&events, "events", args.listen)?;
    let admin_addr = local(&admin, "admin", args.admin_listen)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let events_task = tokio::spawn(
        axum::serve(events, events_router(Arc::clone(&state)))
            .with_graceful_shutdown(stopped(stop_rx.clone()))
            .into_future(),
    );
    let admin_task = tokio::spawn(
        axum::serve(admin, admin_router(Arc::clone(&state))).with_graceful_shutdown(stopped(stop_rx)).into_future(),
    );

    tracing::info!(store = %state.fleet.store().location(), "serving events on {events_addr}, the operator endpoint on {admin_addr}");
    // What a supervisor or a test waits for: one line per listener, then `ready`.
    let mut out = std::io::stdout().lock();
    writeln!(out, "events http://{events_addr}\nadmin http://{admin_addr}\nready")
        .and_then(|()| out.flush())
        .map_err(|err| StartupError::Runtime(format!("cannot write to standard output: {err}")))?;
    drop(out);

    let which = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!("{which}: no new connections; letting the requests in flight finish");
    let _ = stop_tx.send(true);
    let finished = async {
        for task in [events_task, admin_task] {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::warn!("a listener stopped with an error: {err}"),
                Err(err) => tracing::warn!("a listener's task failed: {err}"),
            }
        }
    };
    // A delivery cut here is answered by no one, and AppConnect delivers it again: the store's record says
    // how far its steps got.
    if tokio::time::timeout(STOP_GRACE, finished).await.is_err() {
        tracing::warn!("requests still running after {} s: stopping anyway", STOP_GRACE.as_secs());
    }
    tracing::info!("stopped");
    Ok(())
}

/// The store `store` names, checked by one read, and the fleet manager over it.
async fn open(store: StoreUrl, keys: Option<SealingKeys>, gateways: GatewayAllowList) -> Result<Fleet, StartupError> {
    let location = store.location();
    let unavailable = |reason: String| StartupError::StoreUnavailable { location: location.clone(), reason };
    let refused = |err: td_oauth_redis::Error| StartupError::Store(format!("--store: {err}"));
    let shared: Arc<dyn InstallationStore> = match &store {
        StoreUrl::Memory => Arc::new(MemoryStore::new()),
        StoreUrl::Redis { url } => Arc::new(RedisStore::with_config(url, redis_config()?).map_err(refused)?),
        StoreUrl::RedisCluster { nodes } => {
            let nodes: Vec<&str> = nodes.iter().map(String::as_str).collect();
            Arc::new(RedisStore::cluster_with_config(&nodes, redis_config()?).map_err(refused)?)
        }
        StoreUrl::Postgres { url } => Arc::new(postgres(url)?),
    };
    // One read now, so that a store that is down or not set up is said at start-up, not on the first event.
    match shared.get(PROBE_KEY).await {
        Ok(_) => {}
        Err(err @ StoreError::NotMigrated { .. }) => {
            return Err(StartupError::Store(format!(
                "{err}; `td-oauth-partner-app --migrate` with the same store creates the tables"
            )));
        }
        Err(err) => return Err(unavailable(err.to_string())),
    }
    let keys = match keys {
        Some(keys) => keys,
        None => SealingKeys::new(random_key().map_err(StartupError::Runtime)?),
    };
    let current_key = keys.current_id();
    let manager = FleetTokenManager::new(td_oauth_reqwest::Config::default(), shared, keys)
        .await
        .map_err(|err| StartupError::Runtime(format!("cannot start the token manager: {err}")))?;
    // Every record into memory now: the first token of each needs no store round trip, and a record this
    // replica cannot open (a key missing) is said now rather than on its first use.
    let held = manager.preload().await.map_err(|err| match err {
        td_oauth_partner::Error::Store(err @ StoreError::Unreadable { .. }) => StartupError::Key(err.to_string()),
        err => StartupError::StoreUnavailable { location: location.clone(), reason: err.to_string() },
    })?;
    tracing::info!(store = %location, "{held} installations read from the store");
    let fleet = Fleet::new(store, gateways, manager, current_key);
    // The listing remembers which account each installation id is, for `token-status` while the store is down.
    fleet.installations().await.map_err(|err| unavailable(err.to_string()))?;
    Ok(fleet)
}

/// The PostgreSQL store at `url` (checked; it connects on first use), its TLS checked against the CA file
/// of TD_OAUTH_STORE_CA_FILE when set.
fn postgres(url: &str) -> Result<PostgresStore, StartupError> {
    let mut config = td_oauth_postgres::StoreConfig::new();
    if let Some(pem) = store_ca_file()? {
        config = config.with_ca_certificates(pem);
    }
    PostgresStore::with_config(url, config).map_err(|err| StartupError::Store(format!("--store: {err}")))
}

/// `--migrate`: creates the store's tables (PostgreSQL; idempotent) and returns what to print.
pub async fn migrate(args: &Args) -> Result<String, StartupError> {
    let store = StoreUrl::parse(&args.store, args.redis_cluster)?;
    if args.store_on_command_line && store.has_password() {
        return Err(password_on_command_line());
    }
    match &store {
        StoreUrl::Postgres { url } => {
            postgres(url)?.migrate().await.map_err(|err| match err {
                err @ StoreError::Unavailable { .. } => {
                    StartupError::StoreUnavailable { location: store.location(), reason: err.to_string() }
                }
                err => StartupError::Store(err.to_string()),
            })?;
            Ok(format!("the installation store at {} is set up", store.location()))
        }
        _ => Ok(format!("nothing to migrate: {} keeps no schema", store.location())),
    }
}

fn password_on_command_line() -> StartupError {
    StartupError::Store(format!(
        "--store holds a password on the command line, where every user of the machine can read it (ps, /proc): \
         give the URL in {STORE_VAR} instead"
    ))
}

/// Redis's settings: the CA file of TD_OAUTH_STORE_CA_FILE, when set.
fn redis_config() -> Result<StoreConfig, StartupError> {
    let config = StoreConfig::new();
    Ok(match store_ca_file()? {
        Some(pem) => config.with_ca_certificates(pem),
        None => config,
    })
}

/// The PEM file TD_OAUTH_STORE_CA_FILE names, when set: the CAs a store's TLS certificate must chain to.
fn store_ca_file() -> Result<Option<Vec<u8>>, StartupError> {
    let Some(path) = std::env::var_os(STORE_CA_FILE_VAR).filter(|path| !path.is_empty()) else {
        return Ok(None);
    };
    let shown = std::path::Path::new(&path).display().to_string();
    let cannot = |err: std::io::Error| StartupError::Config(format!("{STORE_CA_FILE_VAR}: cannot read {shown}: {err}"));
    // Read through a cap, not after a size check: a FIFO or /dev/stdin has no size.
    let mut pem = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::fs::File::open(&path).map_err(cannot)?, MAX_CA_FILE_BYTES + 1),
        &mut pem,
    )
    .map_err(cannot)?;
    if pem.len() as u64 > MAX_CA_FILE_BYTES {
        return Err(StartupError::Config(format!(
            "{STORE_CA_FILE_VAR}: {shown} is larger than {MAX_CA_FILE_BYTES} bytes; give a PEM file of CA certificates"
        )));
    }
    Ok(Some(pem))
}

/// The key a memory store seals with when none is given: its values never leave the process.
fn random_key() -> Result<SealingKey, String> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    OsRandom::new().fill(bytes.as_mut()).map_err(|err| format!("no random key for the memory store: {err}"))?;
    Ok(SealingKey::new(*bytes))
}
