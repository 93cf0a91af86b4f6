//! The Redis connection, to one server or to a Redis Cluster: made on first use, dropped after any failure
//! and not tried again for a few seconds, so that a Redis that is down costs callers nothing but a direct
//! fetch. Every command has a timeout: a slow Redis counts as a down one.
//!
//! Every command the fleet cache sends names one key, and a [`FleetKey`](crate::sealed::FleetKey)'s
//! token and lease keys share a hash tag, so on a cluster each operation (and each fleet key) is one slot.

use std::fmt;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, TlsCertificates, Value};
use tokio::sync::Mutex;

use crate::config::CaCertificates;
use crate::{Error, FleetConfig};

/// After a failure, how long callers skip Redis before one tries to connect again.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(3);

/// Why Redis could not be used for this call. Says what failed, never a value.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable {
    reason: String,
    /// The server answered and refused (credentials, permissions, memory, a replica), as opposed to not
    /// being reachable: retrying will not help until someone changes something.
    refused: bool,
}

impl Unavailable {
    pub(crate) fn new(reason: String) -> Self {
        Unavailable { reason, refused: false }
    }

    /// `what` failed with `err`: a refusal when the server refused (credentials, permissions, memory, a
    /// replica), described without the server's text.
    pub(crate) fn from_redis(what: &str, err: &redis::RedisError) -> Self {
        Unavailable { reason: format!("{what} failed: {}", describe(err)), refused: refusal(err) }
    }

    /// Whether the server answered with a refusal rather than not answering.
    #[cfg(feature = "partner")]
    fn is_refusal(&self) -> bool {
        self.refused
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

enum State {
    /// Not connected yet, or ready to try again.
    Idle,
    Ready(Connection),
    /// The last attempt or command failed at this time, for this reason.
    Failed(Instant, Unavailable),
}

/// What the fleet cache connects to.
enum Target {
    /// Boxed, as the cluster's client is: with TLS settings, redis-rs's client is large.
    Server(Box<redis::Client>),
    /// A Redis (or Valkey) Cluster, found from its seed nodes; commands go to the node serving their slot.
    Cluster(Box<ClusterClient>),
}

/// A connection to a server or a cluster: what every command is sent on.
#[derive(Clone)]
pub(crate) enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Server(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Server(connection) => connection.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Server(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// One Redis server or cluster, shared by clones of a fleet cache.
pub(crate) struct Redis {
    target: Target,
    /// Clients for one node each (the server, or each seed node of a cluster), for connections of their
    /// own, such as a pub/sub subscription.
    #[cfg_attr(not(feature = "partner"), allow(dead_code))]
    nodes: Vec<redis::Client>,
    /// `host:port` (of the first seed node, for a cluster): what events name (never the URL, which may hold
    /// a password).
    endpoint: String,
    timeout: Duration,
    state: Mutex<State>,
}

/// Checks one Redis URL's scheme and syntax, saying what is wrong without repeating it.
fn parse(url: &str) -> Result<redis::ConnectionInfo, Error> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    let reason = match scheme {
        Some("redis") | Some("rediss") | Some("redis+unix") | Some("unix") => None,
        _ => Some("it must start with `redis://` or `rediss://` (TLS), e.g. `rediss://:password@host:6380/0`"),
    };
    if let Some(reason) = reason {
        return Err(Error::InvalidUrl { reason: reason.to_owned() });
    }
    if url.contains('#') {
        // redis-rs reads `#insecure` as "accept any certificate": a token cache never does.
        return Err(Error::InvalidUrl {
            reason: "a `#` fragment (such as `#insecure`) is not accepted: the server's certificate is always \
                     checked; give its CA with FleetConfig::with_ca_certificates (TD_OAUTH_CACHE_CA_FILE for \
                     the command line)"
                .to_owned(),
        });
    }
    // redis's own message may quote the URL: say what kind of problem it is, not what it saw.
    redis::IntoConnectionInfo::into_connection_info(url).map_err(|err| Error::InvalidUrl {
        reason: format!(
            "it does not parse as a Redis URL ({:?}); expected `redis[s]://[:password@]host[:port][/db]`",
            err.kind()
        ),
    })
}

/// The CA certificates `config` names, for redis-rs (which then trusts only them); `None` for the system's.
fn certificates(ca_certificates: Option<&CaCertificates>) -> Result<Option<TlsCertificates>, Error> {
    let Some(pem) = ca_certificates else { return Ok(None) };
    // redis-rs reads PEM blocks and skips anything else: text without one would trust nothing, silently.
    if !pem.0.windows(CERTIFICATE_BLOCK.len()).any(|window| window == CERTIFICATE_BLOCK) {
        return Err(Error::InvalidUrl {
            reason: "the CA certificates given for it hold no PEM certificate (`-----BEGIN CERTIFICATE-----`)"
                .to_owned(),
        });
    }
    Ok(Some(TlsCertificates { client_tls: None, root_cert: Some(pem.0.clone()) }))
}

const CERTIFICATE_BLOCK: &[u8] = b"-----BEGIN CERTIFICATE-----";

fn tls_refused(err: &redis::RedisError) -> Error {
    Error::InvalidUrl {
        reason: format!(
            "its TLS setup was refused ({:?}): check the CA certificates (PEM) given with \
             FleetConfig::with_ca_certificates, or the system's CA bundle",
            err.kind()
        ),
    }
}

impl Redis {
    /// `problem` as td-oauth-partner's installation store reports it, located at this server: a refusal
    /// (credentials, permissions, a replica) is not worth retrying until someone changes something.
    #[cfg(feature = "partner")]
    pub(crate) fn store_error(&self, problem: &Unavailable) -> td_oauth_partner::store::StoreError {
        let location = self.endpoint().to_owned();
        let reason = problem.to_string();
        if problem.is_refusal() {
            td_oauth_partner::store::StoreError::Refused { location, reason }
        } else {
            td_oauth_partner::store::StoreError::Unavailable { location, reason }
        }
    }

    /// Checks the URL; connects later.
    pub(crate) fn new(url: &str, config: &FleetConfig) -> Result<Redis, Error> {
        Redis::server(url, config.redis_timeout, config.ca_certificates.as_ref())
    }

    /// One server at `url`, each command (and connecting) bounded by `timeout`, `rediss://` checked against
    /// `ca_certificates` (the system's if `None`).
    pub(crate) fn server(
        url: &str,
        timeout: Duration,
        ca_certificates: Option<&CaCertificates>,
    ) -> Result<Redis, Error> {
        let info = parse(url)?;
        let endpoint = shown(info.addr());
        let client = client(info, ca_certificates)?;
        Ok(Redis {
            nodes: vec![client.clone()],
            target: Target::Server(Box::new(client)),
            endpoint,
            timeout,
            state: Mutex::new(State::Idle),
        })
    }

    /// Checks the seed nodes' URLs; connects (and learns the cluster's slots) later.
    pub(crate) fn cluster(nodes: &[&str], config: &FleetConfig) -> Result<Redis, Error> {
        Redis::cluster_of(nodes, config.redis_timeout, config.ca_certificates.as_ref())
    }

    /// A cluster found from the seed nodes `urls`, with [`server`](Self::server)'s settings.
    pub(crate) fn cluster_of(
        nodes: &[&str],
        timeout: Duration,
        ca_certificates: Option<&CaCertificates>,
    ) -> Result<Redis, Error> {
        let infos = nodes.iter().map(|url| parse(url)).collect::<Result<Vec<_>, _>>()?;
        let Some(first) = infos.first() else {
            return Err(Error::InvalidUrl { reason: "a cluster needs at least one seed node's URL".to_owned() });
        };
        let endpoint = format!("{} (cluster)", shown(first.addr()));
        let seeds = infos.iter().map(|info| client(info.clone(), ca_certificates)).collect::<Result<Vec<_>, _>>()?;
        let mut builder =
            ClusterClient::builder(infos).connection_timeout(timeout).response_timeout(timeout).retries(1);
        if let Some(certificates) = certificates(ca_certificates)? {
            builder = builder.certs(certificates);
        }
        let client = builder.build().map_err(|err| Error::InvalidUrl {
            reason: format!(
                "the cluster's seed nodes were refused ({:?}); give every node the same password and scheme",
                err.kind()
            ),
        })?;
        Ok(Redis {
            target: Target::Cluster(Box::new(client)),
            nodes: seeds,
            endpoint,
            timeout,
            state: Mutex::new(State::Idle),
        })
    }

    /// Whether this is a cluster.
    #[cfg_attr(not(feature = "partner"), allow(dead_code))]
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self.target, Target::Cluster(_))
    }

    /// A client for each node given (the server, or each seed node of a cluster), to open connections of
    /// their own; a cluster's pub/sub messages reach every node, so any one of them will do.
    #[cfg_attr(not(feature = "partner"), allow(dead_code))]
    pub(crate) fn node_clients(&self) -> &[redis::Client] {
        &self.nodes
    }

    /// The per-command timeout.
    #[cfg_attr(not(feature = "partner"), allow(dead_code))]
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `host:port` of the server.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A connection, made now if there is none; fails at once while a recent failure is fresh.
    pub(crate) async fn connection(&self) -> Result<Connection, Unavailable> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Ready(manager) => return Ok(manager.clone()),
            State::Failed(at, problem) if at.elapsed() < RECONNECT_INTERVAL => {
                return Err(Unavailable {
                    reason: format!(
                        "{} ({} ms ago; the next attempt is at most {} s after that)",
                        problem.reason,
                        at.elapsed().as_millis(),
                        RECONNECT_INTERVAL.as_secs()
                    ),
                    refused: problem.refused,
                });
            }
            State::Idle | State::Failed(..) => {}
        }
        let connecting = async {
            match &self.target {
                Target::Server(client) => {
                    // One attempt: the manager's own retries wait 100 ms and more between attempts, for
                    // a refused connection as for any other; this cache's retry is the next call after
                    // RECONNECT_INTERVAL, and meanwhile callers fetch directly.
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.timeout))
                        .set_response_timeout(Some(self.timeout))
                        .set_number_of_retries(0);
                    ConnectionManager::new_with_config((**client).clone(), config).await.map(Connection::Server)
                }
                Target::Cluster(client) => client.get_async_connection().await.map(Connection::Cluster),
            }
        };
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(manager)) => {
                tracing::debug!(redis = %self.endpoint, "connected to Redis");
                *state = State::Ready(manager.clone());
                Ok(manager)
            }
            Ok(Err(err)) => {
                let problem = Unavailable::from_redis("connecting", &err);
                *state = State::Failed(Instant::now(), problem.clone());
                Err(problem)
            }
            Err(_) => {
                let problem = Unavailable::new(format!("connecting took longer than {} ms", self.timeout.as_millis()));
                *state = State::Failed(Instant::now(), problem.clone());
                Err(problem)
            }
        }
    }

    /// Runs one command with the timeout. A failure drops the connection for a while (see the module docs).
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        connection: &mut Connection,
        cmd: &Cmd,
        what: &str,
    ) -> Result<T, Unavailable> {
        let problem = match tokio::time::timeout(self.timeout, cmd.query_async::<T>(connection)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => Unavailable::from_redis(what, &err),
            Err(_) => Unavailable::new(format!("{what} took longer than {} ms", self.timeout.as_millis())),
        };
        *self.state.lock().await = State::Failed(Instant::now(), problem.clone());
        Err(problem)
    }

    /// Runs one command on the cluster node at `host:port` (a cluster's `SCAN` walks one node's keys), with
    /// [`run`](Self::run)'s timeout and failure handling.
    #[cfg_attr(not(feature = "partner"), allow(dead_code))]
    pub(crate) async fn run_on_node(
        &self,
        connection: &mut ClusterConnection,
        cmd: Cmd,
        host: &str,
        port: u16,
        what: &str,
    ) -> Result<Value, Unavailable> {
        use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
        let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host: host.to_owned(), port });
        let problem = match tokio::time::timeout(self.timeout, connection.route_command(cmd, routing)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => Unavailable::from_redis(what, &err),
            Err(_) => Unavailable::new(format!("{what} took longer than {} ms", self.timeout.as_millis())),
        };
        *self.state.lock().await = State::Failed(Instant::now(), problem.clone());
        Err(problem)
    }
}

/// A client for one node, with `rediss://` checked against `ca_certificates` if given.
fn client(info: redis::ConnectionInfo, ca_certificates: Option<&CaCertificates>) -> Result<redis::Client, Error> {
    match certificates(ca_certificates)? {
        Some(certificates) => redis::Client::build_with_tls(info, certificates).map_err(|err| tls_refused(&err)),
        None => redis::Client::open(info)
            .map_err(|err| Error::InvalidUrl { reason: format!("it was refused ({:?})", err.kind()) }),
    }
}

/// Whether the server refused (credentials, permission, memory, a replica) rather than failed to answer.
fn refusal(err: &redis::RedisError) -> bool {
    matches!(err.code(), Some("NOAUTH" | "WRONGPASS" | "NOPERM" | "OOM" | "READONLY"))
        || err.kind() == redis::ErrorKind::AuthenticationFailed
}

/// `host:port` as a URL writes it (an IPv6 address in brackets), or a socket's path.
fn shown(addr: &redis::ConnectionAddr) -> String {
    let (host, port) = match addr {
        redis::ConnectionAddr::Tcp(host, port) | redis::ConnectionAddr::TcpTls { host, port, .. } => (host, *port),
        other => return other.to_string(),
    };
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// What went wrong, for a warning: the server's error code (`OOM`, `NOAUTH`, `WRONGPASS`, …) when the server
/// answered with one, with what to do for the usual ones; the cause of an I/O error; else the client's error
/// kind. Never the command's arguments, nor the server's own text.
pub(crate) fn describe(err: &redis::RedisError) -> String {
    // A server's error code is one word in capitals; anything else is not shown.
    let code = err.code().filter(|code| {
        (1..=32).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_' || b == b'-')
    });
    match code {
        Some("NOAUTH") => "the server answered NOAUTH: it needs a password; give it in the URL \
                           (`redis://:PASSWORD@host:6379/0`, or `redis://USER:PASSWORD@…` for an ACL user)"
            .to_owned(),
        Some("WRONGPASS") => wrong_password(),
        Some("NOPERM") => "the server answered NOPERM: the ACL user may not run the fleet cache's commands \
                           (GET, SET, DEL, EVALSHA/EVAL) on its keys"
            .to_owned(),
        Some("OOM") => "the server answered OOM: it is out of memory (maxmemory reached) and refuses writes".to_owned(),
        Some("READONLY") => "the server answered READONLY: it is a replica; give the primary's URL".to_owned(),
        Some(code) => format!("the server answered {code}"),
        // redis-rs reports a refused AUTH at connection time without the server's code.
        None if err.kind() == redis::ErrorKind::AuthenticationFailed => wrong_password(),
        None if err.is_io_error() || err.is_connection_refusal() || err.is_connection_dropped() || err.is_timeout() => {
            format!("{err}")
        }
        None => format!("{:?}", err.kind()),
    }
}

fn wrong_password() -> String {
    "the server refused the user or password (WRONGPASS): check the ones in the URL; a password with `@`, `:` \
     or `/` must be percent-encoded"
        .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_ipv6_host_is_shown_in_brackets() {
        let shown_of = |url: &str| shown(parse(url).unwrap().addr());
        assert_eq!(shown_of("redis://[::1]:6380/0"), "[::1]:6380");
        assert_eq!(shown_of("redis://127.0.0.1:6379"), "127.0.0.1:6379");
        assert_eq!(shown_of("redis://cache.internal/0"), "cache.internal:6379");
    }
}
