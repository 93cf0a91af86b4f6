//! The store's connection to PostgreSQL: made on first use and again after it closes, each attempt and
//! each statement bounded by the store's timeout; after a failure, callers are answered at once for a
//! moment instead of each waiting for a server that is down. Errors name `host:port` and a SQLSTATE,
//! never the URL (which holds the password) nor the server's own text.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use td_oauth_partner::store::StoreError;
use tokio::sync::{Mutex, OnceCell};
use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, Config, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::Error;
use crate::statements::Statements;
use crate::tls;

/// A connection to drive (until it ends), as tokio-postgres hands it over with the client.
pub(crate) type Connection = tokio_postgres::Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// After a failure, how long callers are answered with it before one tries to connect again.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// What to run when the tables are missing.
pub(crate) const MIGRATION_HINT: &str = "td-oauth's tables are missing: create them once with \
     td_oauth_postgres::migrate (or PostgresStore::migrate), or run the SQL in docs/installation-store.md \
     (`psql -f`), as a user allowed to CREATE TABLE";

enum State {
    Idle,
    Ready(Arc<Connected>),
    Failed(Instant, StoreError),
}

/// The shared connection: its client and the store's statements, prepared on it at first use (not at
/// connecting: on a database without the tables, preparing fails, and the migration must still run).
pub(crate) struct Connected {
    pub(crate) client: Client,
    statements: OnceCell<Statements>,
}

impl Connected {
    /// The store's statements, prepared now if they are not yet.
    pub(crate) async fn statements(&self) -> Result<&Statements, tokio_postgres::Error> {
        self.statements.get_or_try_init(|| Statements::prepare(&self.client)).await
    }
}

/// One PostgreSQL database, shared by clones of a store.
pub(crate) struct Postgres {
    config: Config,
    tls: MakeRustlsConnect,
    location: String,
    timeout: Duration,
    state: Mutex<State>,
}

impl Postgres {
    /// Checks `url` (`postgres://user:password@host:port/database?…`) and sets TLS up, checking the server
    /// against `ca_certificates` (PEM) or else the system's CAs; connects later.
    pub(crate) fn new(url: &str, timeout: Duration, ca_certificates: Option<&[u8]>) -> Result<Postgres, Error> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(Error::InvalidUrl {
                reason: "it must start with `postgres://` or `postgresql://`, e.g. \
                         `postgres://td_oauth:PASSWORD@db.internal:5432/partner_app`"
                    .to_owned(),
            });
        }
        // tokio-postgres's message may quote the URL: say what kind of problem it is, not what it saw.
        let mut config: Config = libpq_compatible(url)?.parse().map_err(|_| Error::InvalidUrl {
            reason: "it does not parse as a PostgreSQL URL; expected \
                     `postgres://USER:PASSWORD@HOST[:PORT]/DATABASE[?sslmode=disable]`, with `@`, `:` and `/` in \
                     the password percent-encoded"
                .to_owned(),
        })?;
        let tls = tls::connector(config.get_ssl_mode(), ca_certificates)?;
        config.connect_timeout(timeout).keepalives(true).keepalives_idle(Duration::from_secs(30));
        if config.get_application_name().is_none() {
            config.application_name("td-oauth-postgres");
        }
        let location = location(&config);
        Ok(Postgres { config, tls, location, timeout, state: Mutex::new(State::Idle) })
    }

    /// `host:port` of the (first) server, or its socket directory.
    pub(crate) fn location(&self) -> &str {
        &self.location
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// A connection of its own (for LISTEN): the client, and the connection to drive.
    pub(crate) async fn connect_dedicated(&self) -> Result<(Client, Connection), StoreError> {
        match tokio::time::timeout(self.timeout, self.config.connect(self.tls.clone())).await {
            Ok(Ok(pair)) => Ok(pair),
            Ok(Err(err)) => Err(self.error(&err, "connecting")),
            Err(_) => Err(self.unavailable(format!("connecting took longer than {} ms", self.timeout.as_millis()))),
        }
    }

    /// The shared client, connected now if there is none (or it closed); fails at once while a recent
    /// failure is fresh.
    pub(crate) async fn client(&self) -> Result<Arc<Connected>, StoreError> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Ready(connected) if !connected.client.is_closed() => return Ok(Arc::clone(connected)),
            State::Failed(at, err) if at.elapsed() < RECONNECT_INTERVAL => return Err(err.clone()),
            State::Idle | State::Ready(_) | State::Failed(..) => {}
        }
        match self.connect_dedicated().await {
            Ok((client, connection)) => {
                let location = self.location.clone();
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        // The error's text may quote the server: only whether it is the server's or the connection's.
                        let side = if err.code().is_some() { "the server ended it" } else { "the connection failed" };
                        tracing::debug!(postgres = %location, reason = side, "the store's connection ended");
                    }
                });
                tracing::debug!(postgres = %self.location, "connected to PostgreSQL");
                let connected = Arc::new(Connected { client, statements: OnceCell::new() });
                *state = State::Ready(Arc::clone(&connected));
                Ok(connected)
            }
            Err(err) => {
                *state = State::Failed(Instant::now(), err.clone());
                Err(err)
            }
        }
    }

    /// Runs `statement` on the shared client with the timeout; a failure that is the connection's drops it.
    pub(crate) async fn run<T>(
        &self,
        what: &str,
        statement: impl AsyncFnOnce(Arc<Connected>) -> Result<T, tokio_postgres::Error>,
    ) -> Result<T, StoreError> {
        let client = self.client().await?;
        let result = tokio::time::timeout(self.timeout, statement(client)).await;
        let err = match result {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => self.error(&err, what),
            Err(_) => self.unavailable(format!("{what} took longer than {} ms", self.timeout.as_millis())),
        };
        if err.is_retryable() {
            *self.state.lock().await = State::Failed(Instant::now(), err.clone());
        }
        Err(err)
    }

    fn unavailable(&self, reason: String) -> StoreError {
        StoreError::Unavailable { location: self.location.clone(), reason }
    }

    /// What went wrong, by SQLSTATE when the server answered one (never its text), else the client's
    /// description of the connection's failure.
    pub(crate) fn error(&self, err: &tokio_postgres::Error, what: &str) -> StoreError {
        let location = self.location.clone();
        let Some(code) = err.code() else {
            if let Some(tls) = tls::refusal(err) {
                // The same certificate will be refused again: someone must give the right CA.
                return StoreError::Refused {
                    location,
                    reason: format!(
                        "{what}: the server's TLS certificate was refused ({tls}): give the CA it chains to with \
                         StoreConfig::with_ca_certificates (TD_OAUTH_STORE_CA_FILE for the reference app), and reach \
                         the server by a name its certificate holds"
                    ),
                };
            }
            // A failure of the connection itself: refused, reset, closed, timed out.
            return StoreError::Unavailable { location, reason: format!("{what} failed: {err}") };
        };
        let refused = |reason: String| StoreError::Refused { location: location.clone(), reason };
        match code {
            c if *c == SqlState::UNDEFINED_TABLE => {
                StoreError::NotMigrated { location, hint: MIGRATION_HINT.to_owned() }
            }
            c if *c == SqlState::INVALID_PASSWORD => refused(format!(
                "the server refused the user or password (SQLSTATE {}): check the ones in the URL; a password \
                 with `@`, `:` or `/` must be percent-encoded",
                c.code()
            )),
            c if *c == SqlState::INVALID_AUTHORIZATION_SPECIFICATION => refused(format!(
                "the server's pg_hba.conf has no entry for this connection (SQLSTATE {}): check the user and \
                 database in the URL, and whether the server accepts only TLS (then drop sslmode=disable)",
                c.code()
            )),
            c if *c == SqlState::INVALID_CATALOG_NAME => refused(format!(
                "the database named in the URL does not exist (SQLSTATE {}): create it, or name another",
                c.code()
            )),
            c if *c == SqlState::INSUFFICIENT_PRIVILEGE => refused(format!(
                "the user may not use td-oauth's tables (SQLSTATE {}): GRANT SELECT, INSERT, UPDATE, DELETE ON \
                 td_oauth_installations, td_oauth_events to it",
                c.code()
            )),
            c if *c == SqlState::READ_ONLY_SQL_TRANSACTION => refused(format!(
                "the server is read-only (SQLSTATE {}), a standby perhaps: give the primary's address",
                c.code()
            )),
            // Connection exceptions (08), too many connections or no space (53), shutting down or starting
            // up (57), serialization failures and deadlocks (40): the same call may succeed later.
            c if ["08", "53", "57", "40"].iter().any(|class| c.code().starts_with(class)) => StoreError::Unavailable {
                location,
                reason: format!("{what}: the server answered SQLSTATE {}", c.code()),
            },
            c => refused(format!("{what}: the server answered SQLSTATE {}", c.code())),
        }
    }
}

/// `host:port` of the first host (an IPv6 address in brackets), or a socket directory and port.
/// `url` with libpq's `sslmode=verify-full` and `verify-ca` read as tokio-postgres's `require`, which this
/// crate always checks as `verify-full` does (chain and host name), so that a URL copied from a libpq
/// program keeps working and is no weaker. libpq's file options are refused with what to do instead.
fn libpq_compatible(url: &str) -> Result<Cow<'_, str>, Error> {
    let Some((base, query)) = url.split_once('?') else { return Ok(Cow::Borrowed(url)) };
    let mut changed = false;
    let mut parameters = Vec::new();
    for parameter in query.split('&') {
        let name = parameter.split_once('=').map_or(parameter, |(name, _)| name);
        if matches!(name, "sslrootcert" | "sslcert" | "sslkey" | "sslpassword") {
            return Err(Error::InvalidUrl {
                reason: format!(
                    "`{name}` is libpq's and is not read here: give the server's CA certificates with \
                     StoreConfig::with_ca_certificates (TD_OAUTH_STORE_CA_FILE for the reference app); client \
                     certificates are not supported"
                ),
            });
        }
        if matches!(parameter, "sslmode=verify-full" | "sslmode=verify-ca") {
            changed = true;
            parameters.push("sslmode=require");
        } else {
            parameters.push(parameter);
        }
    }
    Ok(if changed { Cow::Owned(format!("{base}?{}", parameters.join("&"))) } else { Cow::Borrowed(url) })
}

fn location(config: &Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let more = config.get_hosts().len().saturating_sub(1);
    let first = match config.get_hosts().first() {
        Some(Host::Tcp(host)) if host.contains(':') => format!("[{host}]:{port}"),
        Some(Host::Tcp(host)) => format!("{host}:{port}"),
        #[cfg(unix)]
        Some(Host::Unix(path)) => format!("{}/.s.PGSQL.{port}", path.display()),
        None => match config.get_hostaddrs().first() {
            Some(addr) if addr.is_ipv6() => format!("[{addr}]:{port}"),
            Some(addr) => format!("{addr}:{port}"),
            None => format!("localhost:{port}"),
        },
    };
    if more > 0 { format!("{first} (and {more} more)") } else { first }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn location_of(url: &str) -> String {
        Postgres::new(url, Duration::from_secs(1), None).unwrap().location().to_owned()
    }

    #[test]
    fn the_location_is_host_and_port_without_the_password() {
        assert_eq!(location_of("postgres://u:secret@db.internal:6543/app"), "db.internal:6543");
        assert_eq!(location_of("postgres://u:secret@db.internal/app"), "db.internal:5432");
        assert_eq!(location_of("postgres://u:secret@[::1]:5433/app"), "[::1]:5433");
        assert_eq!(location_of("postgres://u@a:1,b:2/app"), "a:1 (and 1 more)");
    }

    #[test]
    fn bad_urls_are_refused_without_repeating_them() {
        for url in ["mysql://u:secret@h/db", "postgres://u:secret@h:notaport/db", "secret"] {
            let err = Postgres::new(url, Duration::from_secs(1), None).err().unwrap();
            assert!(matches!(err, Error::InvalidUrl { .. }), "{url}: {err:?}");
            assert!(!err.to_string().contains("secret"), "{err}");
        }
    }

    #[test]
    fn libpq_sslmodes_are_read_as_require_and_its_file_options_refused() {
        let read = |url| libpq_compatible(url).map(Cow::into_owned);
        assert_eq!(read("postgres://u@h/db").unwrap(), "postgres://u@h/db");
        assert_eq!(read("postgres://u@h/db?sslmode=verify-full").unwrap(), "postgres://u@h/db?sslmode=require");
        assert_eq!(
            read("postgres://u@h/db?application_name=a&sslmode=verify-ca").unwrap(),
            "postgres://u@h/db?application_name=a&sslmode=require"
        );
        let config: Config = read("postgres://u@h/db?sslmode=verify-full").unwrap().parse().unwrap();
        assert_eq!(config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
        let err = read("postgres://u:secret@h/db?sslrootcert=/etc/ca.pem").unwrap_err().to_string();
        assert!(err.contains("with_ca_certificates") && !err.contains("secret"), "{err}");
        assert!(!err.contains("  "), "{err}");
    }

    #[test]
    fn unusable_ca_certificates_are_refused_when_the_store_is_made() {
        let url = "postgres://u:secret@h/db?sslmode=require";
        let err = Postgres::new(url, Duration::from_secs(1), Some(b"not pem")).err().unwrap();
        assert!(matches!(err, Error::Tls { .. }), "{err:?}");
        assert!(err.to_string().contains("BEGIN CERTIFICATE") && !err.to_string().contains("secret"), "{err}");
        // Without TLS, no CA is needed nor read.
        assert!(Postgres::new("postgres://u@h/db?sslmode=disable", Duration::from_secs(1), Some(b"x")).is_ok());
    }
}
