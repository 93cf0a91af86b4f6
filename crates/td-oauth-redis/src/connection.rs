//! The Redis connection: made on first use, dropped after any failure and not tried again for a few
//! seconds, so that a Redis that is down costs callers nothing but a direct fetch. Every command has a
//! timeout: a slow Redis counts as a down one.

use std::fmt;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, FromRedisValue};
use tokio::sync::Mutex;

use crate::Error;

/// After a failure, how long callers skip Redis before one tries to connect again.
const RECONNECT_INTERVAL: Duration = Duration::from_secs(3);

/// Why Redis could not be used for this call. Says what failed, never a value.
#[derive(Debug, Clone)]
pub(crate) struct Unavailable(String);

impl Unavailable {
    pub(crate) fn new(reason: String) -> Self {
        Unavailable(reason)
    }
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

enum State {
    /// Not connected yet, or ready to try again.
    Idle,
    Ready(ConnectionManager),
    /// The last attempt or command failed at this time.
    Failed(Instant),
}

/// One Redis server, shared by clones of a fleet cache.
pub(crate) struct Redis {
    client: redis::Client,
    /// `host:port`: what events name (never the URL, which may hold a password).
    endpoint: String,
    timeout: Duration,
    state: Mutex<State>,
}

impl Redis {
    /// Checks the URL; connects later.
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Redis, Error> {
        let scheme = url.split_once("://").map(|(scheme, _)| scheme);
        let reason = match scheme {
            Some("redis") | Some("redis+unix") | Some("unix") => None,
            Some("rediss") => Some("`rediss://` (TLS) is not supported by this build; use a TLS tunnel or `redis://`"),
            _ => Some("it must start with `redis://`, e.g. `redis://:password@host:6379/0`"),
        };
        if let Some(reason) = reason {
            return Err(Error::InvalidUrl { reason: reason.to_owned() });
        }
        // redis's own message may quote the URL: say what kind of problem it is, not what it saw.
        let client = redis::Client::open(url).map_err(|err| Error::InvalidUrl {
            reason: format!(
                "it does not parse as a Redis URL ({:?}); expected `redis://[:password@]host[:port][/db]`",
                err.kind()
            ),
        })?;
        let endpoint = client.get_connection_info().addr().to_string();
        Ok(Redis { client, endpoint, timeout, state: Mutex::new(State::Idle) })
    }

    /// `host:port` of the server.
    pub(crate) fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A connection, made now if there is none; fails at once while a recent failure is fresh.
    pub(crate) async fn connection(&self) -> Result<ConnectionManager, Unavailable> {
        let mut state = self.state.lock().await;
        match &*state {
            State::Ready(manager) => return Ok(manager.clone()),
            State::Failed(at) if at.elapsed() < RECONNECT_INTERVAL => {
                return Err(Unavailable(format!(
                    "it failed {} ms ago; the next attempt is at most {} s after that",
                    at.elapsed().as_millis(),
                    RECONNECT_INTERVAL.as_secs()
                )));
            }
            State::Idle | State::Failed(_) => {}
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1);
        let connecting = ConnectionManager::new_with_config(self.client.clone(), config);
        match tokio::time::timeout(self.timeout, connecting).await {
            Ok(Ok(manager)) => {
                tracing::debug!(redis = %self.endpoint, "connected to Redis");
                *state = State::Ready(manager.clone());
                Ok(manager)
            }
            Ok(Err(err)) => {
                *state = State::Failed(Instant::now());
                Err(Unavailable(format!("connecting failed: {}", describe(&err))))
            }
            Err(_) => {
                *state = State::Failed(Instant::now());
                Err(Unavailable(format!("connecting took longer than {} ms", self.timeout.as_millis())))
            }
        }
    }

    /// Runs one command with the timeout. A failure drops the connection for a while (see the module docs).
    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        connection: &mut ConnectionManager,
        cmd: &Cmd,
        what: &str,
    ) -> Result<T, Unavailable> {
        let problem = match tokio::time::timeout(self.timeout, cmd.query_async::<T>(connection)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => format!("{what} failed: {}", describe(&err)),
            Err(_) => format!("{what} took longer than {} ms", self.timeout.as_millis()),
        };
        *self.state.lock().await = State::Failed(Instant::now());
        Err(Unavailable(problem))
    }
}

/// A Redis error's kind and, for I/O errors, the cause; never the command's arguments.
fn describe(err: &redis::RedisError) -> String {
    if err.is_io_error() || err.is_connection_refusal() || err.is_connection_dropped() || err.is_timeout() {
        format!("{err}")
    } else {
        format!("{:?}", err.kind())
    }
}
