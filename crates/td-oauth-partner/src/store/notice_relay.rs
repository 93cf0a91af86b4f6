//! The loop a networked store's change notices run in, written once for every store (Redis pub/sub,
//! PostgreSQL `LISTEN`): hand what the connection hears to the sink, check now and then that a quiet
//! connection still answers, and when it ends, send [`Notice::Lost`], connect again with a doubling wait,
//! and send [`Notice::Resumed`].

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;

use crate::store::seam::{Notice, NoticeSink, StoreError};

/// How often a quiet connection is checked, so that a dead one is noticed.
pub const CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// The first wait before connecting again, doubled after each failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// A store's connection that hears change notices, as [`relay_notices`] drives it.
#[async_trait]
pub trait NoticeConnection: Send + 'static {
    /// The next notice's payload, `VERSION KEY` (see [`parse_notice`]), or `None` once the connection
    /// ended. Messages that are not the store's notices are skipped here. Must be cancel-safe: the relay
    /// drops it when the check interval comes.
    async fn next_payload(&mut self) -> Option<Vec<u8>>;

    /// Whether the connection still answers (a ping, a query), within the store's timeout.
    async fn still_answers(&mut self) -> bool;
}

/// A notice's payload as a store writes it beside the value (`VERSION KEY`, the version in decimal).
pub fn parse_notice(payload: &[u8]) -> Option<Notice> {
    let text = std::str::from_utf8(payload).ok()?;
    let (version, key) = text.split_once(' ')?;
    Some(Notice::Changed { key: key.to_owned(), version: version.parse().ok()? })
}

/// Relays `connection`'s notices to `sink` for ever (spawn it, and abort the task to stop), connecting
/// again with `connect` whenever the connection ends or stops answering. `location` names the store in
/// logs (`host:port`, never a password).
pub async fn relay_notices<C, F, Fut>(mut connection: C, mut connect: F, sink: NoticeSink, location: String)
where
    C: NoticeConnection,
    F: FnMut() -> Fut + Send,
    Fut: Future<Output = Result<C, StoreError>> + Send,
{
    loop {
        deliver(&mut connection, &sink, &location).await;
        tracing::warn!(store = location.as_str(), "the installation store's notices were cut off; reconnecting");
        sink(Notice::Lost);
        let mut wait = FIRST_RETRY;
        connection = loop {
            tokio::time::sleep(wait).await;
            match connect().await {
                Ok(connection) => break connection,
                Err(error) => {
                    tracing::debug!(store = location.as_str(), %error, "listening for notices again failed");
                    wait = wait.saturating_mul(2).min(MAX_RETRY);
                }
            }
        };
        tracing::info!(store = location.as_str(), "the installation store's notices resumed");
        sink(Notice::Resumed);
    }
}

/// Sends every notice to `sink` until the connection ends or stops answering.
async fn deliver<C: NoticeConnection>(connection: &mut C, sink: &NoticeSink, location: &str) {
    let mut ticker = tokio::time::interval(CHECK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            payload = connection.next_payload() => match payload {
                Some(payload) => match parse_notice(&payload) {
                    Some(notice) => sink(notice),
                    None => tracing::debug!(store = location, "ignoring a malformed notice"),
                },
                None => return,
            },
            _ = ticker.tick() => {
                if !connection.still_answers().await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_parse_as_stores_write_them() {
        let changed = |key: &str, version| Some(Notice::Changed { key: key.to_owned(), version });
        assert_eq!(parse_notice(b"7 acme"), changed("acme", 7));
        assert_eq!(parse_notice(b"12 key with spaces"), changed("key with spaces", 12));
        assert_eq!(parse_notice(b"seven acme"), None);
        assert_eq!(parse_notice(b"7"), None);
        assert_eq!(parse_notice(&[0xff, b' ', b'a']), None);
    }
}
