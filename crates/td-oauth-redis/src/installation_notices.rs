//! The [`RedisStore`](crate::RedisStore)'s change notices: a pub/sub connection of its own on the store's
//! channel, kept alive by a ping, and made again (the server's, or the next seed node's of a cluster) when
//! it drops, with [`Notice::Lost`] and [`Notice::Resumed`] around the gap. A cluster's `PUBLISH` reaches
//! subscribers on every node, so one node is enough.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use td_oauth_partner::store::{Notice, NoticeSink, StoreError, Subscription};

use crate::connection::Unavailable;
use crate::installations::Inner;

/// How often a quiet subscription pings the server, so that a dead connection is noticed.
const PING_INTERVAL: Duration = Duration::from_secs(5);
/// The first wait before subscribing again, doubled after each failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// Subscribes now (so that a write made after this returns is heard), then hands the connection to a task
/// that delivers notices and reconnects until the [`Subscription`] is dropped.
pub(crate) async fn subscribe(inner: Arc<Inner>, sink: NoticeSink) -> Result<Subscription, StoreError> {
    let (pings, messages) = open(&inner, 0).await.map_err(|problem| inner.store_error(&problem))?;
    let task = tokio::spawn(listen(inner, pings, messages, sink));
    Ok(Subscription::new(move || task.abort()))
}

/// A subscribed connection to node `node` (modulo the nodes given).
async fn open(inner: &Inner, node: usize) -> Result<(PubSubSink, PubSubStream), Unavailable> {
    let nodes = inner.redis.node_clients();
    let Some(client) = nodes.get(node % nodes.len().max(1)) else {
        return Err(Unavailable::new("no node to subscribe on".to_owned()));
    };
    let timeout = inner.redis.timeout();
    let subscribing = async {
        let (mut pings, messages) = client.get_async_pubsub().await?.split();
        pings.subscribe(&inner.channel).await?;
        Ok::<_, redis::RedisError>((pings, messages))
    };
    match tokio::time::timeout(timeout, subscribing).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(Unavailable::new(format!("subscribing failed: {}", crate::connection::describe(&err)))),
        Err(_) => Err(Unavailable::new(format!("subscribing took longer than {} ms", timeout.as_millis()))),
    }
}

async fn listen(inner: Arc<Inner>, mut pings: PubSubSink, mut messages: PubSubStream, sink: NoticeSink) {
    let mut node = 0;
    loop {
        deliver(&inner, &mut pings, &mut messages, &sink).await;
        tracing::warn!(redis = inner.redis.endpoint(), "the installation store's notices were cut off; reconnecting");
        sink(Notice::Lost);
        let mut wait = FIRST_RETRY;
        loop {
            tokio::time::sleep(wait).await;
            node += 1;
            match open(&inner, node).await {
                Ok((new_pings, new_messages)) => {
                    (pings, messages) = (new_pings, new_messages);
                    tracing::info!(redis = inner.redis.endpoint(), "the installation store's notices resumed");
                    sink(Notice::Resumed);
                    break;
                }
                Err(problem) => {
                    tracing::debug!(redis = inner.redis.endpoint(), problem = %problem, "resubscribing failed");
                    wait = (wait * 2).min(MAX_RETRY);
                }
            }
        }
    }
}

/// Sends every notice to `sink` until the connection ends or a ping goes unanswered.
async fn deliver(inner: &Inner, pings: &mut PubSubSink, messages: &mut PubSubStream, sink: &NoticeSink) {
    let mut ticker = tokio::time::interval(PING_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return };
                match parse(message.get_payload_bytes()) {
                    Some((version, key)) => sink(Notice::Changed { key, version }),
                    None => tracing::debug!(redis = inner.redis.endpoint(), "ignoring a malformed notice"),
                }
            }
            _ = ticker.tick() => {
                let ping = tokio::time::timeout(inner.redis.timeout(), pings.ping::<redis::Value>()).await;
                if !matches!(ping, Ok(Ok(_))) {
                    return;
                }
            }
        }
    }
}

/// `VERSION KEY`, as the compare-and-set script publishes it.
fn parse(payload: &[u8]) -> Option<(u64, String)> {
    let text = std::str::from_utf8(payload).ok()?;
    let (version, key) = text.split_once(' ')?;
    Some((version.parse().ok()?, key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn notices_parse_as_the_script_writes_them() {
        assert_eq!(parse(b"7 acme"), Some((7, "acme".to_owned())));
        assert_eq!(parse(b"7 key with spaces"), Some((7, "key with spaces".to_owned())));
        assert_eq!(parse(b"seven acme"), None);
        assert_eq!(parse(b"7"), None);
        assert_eq!(parse(&[0xff, b' ', b'a']), None);
    }
}
