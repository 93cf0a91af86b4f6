//! The [`RedisStore`](crate::RedisStore)'s change notices: a pub/sub connection of its own on the store's
//! channel, relayed by td-oauth-partner's [`relay_notices`] (pinged now and then, made again when it drops
//! on the next node given, with `Lost` and `Resumed` around the gap). A cluster's `PUBLISH` reaches
//! subscribers on every node, so one node is enough.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{PubSubSink, PubSubStream};
use td_oauth_partner::store::{NoticeConnection, NoticeSink, StoreError, Subscription, relay_notices};

use crate::connection::{Redis, Unavailable};

/// A subscribed connection: its command half (for pings) and its message half.
struct Subscribed {
    pings: PubSubSink,
    messages: PubSubStream,
    redis: Arc<Redis>,
}

#[async_trait]
impl NoticeConnection for Subscribed {
    async fn next_payload(&mut self) -> Option<Vec<u8>> {
        self.messages.next().await.map(|message| message.get_payload_bytes().to_vec())
    }

    async fn still_answers(&mut self) -> bool {
        let ping = tokio::time::timeout(self.redis.timeout(), self.pings.ping::<redis::Value>()).await;
        matches!(ping, Ok(Ok(_)))
    }
}

/// Subscribes now (so that a write made after this returns is heard), then hands the connection to a task
/// that relays notices and reconnects, each time on the next node, until the [`Subscription`] is dropped.
pub(crate) async fn subscribe(
    redis: Arc<Redis>,
    channel: String,
    sink: NoticeSink,
) -> Result<Subscription, StoreError> {
    let channel = Arc::new(channel);
    let first = open(Arc::clone(&redis), Arc::clone(&channel), 0).await?;
    let location = redis.endpoint().to_owned();
    let mut node = 0;
    let reconnect = move || {
        node += 1;
        open(Arc::clone(&redis), Arc::clone(&channel), node)
    };
    let task = tokio::spawn(relay_notices(first, reconnect, sink, location));
    Ok(Subscription::new(move || task.abort()))
}

/// A connection subscribed to `channel` on node `node` (modulo the nodes given).
async fn open(redis: Arc<Redis>, channel: Arc<String>, node: usize) -> Result<Subscribed, StoreError> {
    match subscribed(&redis, &channel, node).await {
        Ok((pings, messages)) => Ok(Subscribed { pings, messages, redis }),
        Err(problem) => Err(redis.store_error(&problem)),
    }
}

async fn subscribed(redis: &Redis, channel: &str, node: usize) -> Result<(PubSubSink, PubSubStream), Unavailable> {
    let nodes = redis.node_clients();
    let Some(client) = nodes.get(node % nodes.len().max(1)) else {
        return Err(Unavailable::new("no node to subscribe on".to_owned()));
    };
    let timeout = redis.timeout();
    let subscribing = async {
        let (mut pings, messages) = client.get_async_pubsub().await?.split();
        pings.subscribe(channel).await?;
        Ok::<_, redis::RedisError>((pings, messages))
    };
    match tokio::time::timeout(timeout, subscribing).await {
        Ok(Ok(connection)) => Ok(connection),
        Ok(Err(err)) => Err(Unavailable::from_redis("subscribing", &err)),
        Err(_) => Err(Unavailable::new(format!("subscribing took longer than {} ms", timeout.as_millis()))),
    }
}
