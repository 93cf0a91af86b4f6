//! The [`PostgresStore`](crate::PostgresStore)'s change notices: `LISTEN td_oauth_installations` on a
//! connection of its own, checked by a query now and then, and made again when it ends, with
//! [`Notice::Lost`] and [`Notice::Resumed`] around the gap.

use std::sync::Arc;
use std::time::Duration;

use td_oauth_partner::store::{Notice, NoticeSink, StoreError, Subscription};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client};

use crate::store::{CHANNEL, Inner};

/// How often a quiet listener checks that its connection still answers.
const CHECK_INTERVAL: Duration = Duration::from_secs(5);
/// The first wait before listening again, doubled after each failure up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(2);

/// A listening connection: its client, what its connection received, and the task driving it.
struct Listener {
    client: Client,
    messages: mpsc::UnboundedReceiver<AsyncMessage>,
    /// Held only to stop the driving task with the listener.
    _driver: AbortOnDrop,
}

/// Aborts a task when dropped, so that a dropped listener leaves nothing running.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Listens now (so that a write committed after this returns is heard), then hands the connection to a
/// task that delivers notices and reconnects until the [`Subscription`] is dropped.
pub(crate) async fn subscribe(inner: Arc<Inner>, sink: NoticeSink) -> Result<Subscription, StoreError> {
    let listener = listen(&inner).await?;
    let task = tokio::spawn(run(inner, listener, sink));
    Ok(Subscription::new(move || task.abort()))
}

async fn listen(inner: &Inner) -> Result<Listener, StoreError> {
    let (client, mut connection) = inner.postgres.connect_dedicated().await?;
    let (sender, messages) = mpsc::unbounded_channel();
    let driver = AbortOnDrop(tokio::spawn(async move {
        // Ends (dropping the sender) when the connection does.
        while let Some(Ok(message)) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            if sender.send(message).is_err() {
                return;
            }
        }
    }));
    let statement = format!("LISTEN {CHANNEL}");
    match tokio::time::timeout(inner.postgres.timeout(), client.batch_execute(&statement)).await {
        Ok(Ok(())) => Ok(Listener { client, messages, _driver: driver }),
        Ok(Err(err)) => Err(inner.postgres.error(&err, "LISTEN")),
        Err(_) => Err(StoreError::Unavailable {
            location: inner.postgres.location().to_owned(),
            reason: format!("LISTEN took longer than {} ms", inner.postgres.timeout().as_millis()),
        }),
    }
}

async fn run(inner: Arc<Inner>, mut listener: Listener, sink: NoticeSink) {
    loop {
        deliver(&inner, &mut listener, &sink).await;
        tracing::warn!(
            postgres = inner.postgres.location(),
            "the installation store's notices were cut off; reconnecting"
        );
        sink(Notice::Lost);
        let mut wait = FIRST_RETRY;
        listener = loop {
            tokio::time::sleep(wait).await;
            match listen(&inner).await {
                Ok(listener) => break listener,
                Err(err) => {
                    tracing::debug!(postgres = inner.postgres.location(), error = %err, "listening again failed");
                    wait = (wait * 2).min(MAX_RETRY);
                }
            }
        };
        tracing::info!(postgres = inner.postgres.location(), "the installation store's notices resumed");
        sink(Notice::Resumed);
    }
}

/// Sends every notice to `sink` until the connection ends or stops answering.
async fn deliver(inner: &Inner, listener: &mut Listener, sink: &NoticeSink) {
    let mut ticker = tokio::time::interval(CHECK_INTERVAL);
    ticker.tick().await;
    loop {
        tokio::select! {
            message = listener.messages.recv() => match message {
                Some(AsyncMessage::Notification(notification)) if notification.channel() == CHANNEL => {
                    match parse(notification.payload()) {
                        Some((version, key)) => sink(Notice::Changed { key, version }),
                        None => tracing::debug!(postgres = inner.postgres.location(), "ignoring a malformed notice"),
                    }
                }
                Some(_) => {}
                None => return,
            },
            _ = ticker.tick() => {
                let check = tokio::time::timeout(inner.postgres.timeout(), listener.client.batch_execute("SELECT 1"));
                if !matches!(check.await, Ok(Ok(()))) {
                    return;
                }
            }
        }
    }
}

/// `VERSION KEY`, as the writing statement notifies it.
fn parse(payload: &str) -> Option<(u64, String)> {
    let (version, key) = payload.split_once(' ')?;
    Some((version.parse().ok()?, key.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn notices_parse_as_the_statement_writes_them() {
        assert_eq!(parse("7 acme"), Some((7, "acme".to_owned())));
        assert_eq!(parse("12 key with spaces"), Some((12, "key with spaces".to_owned())));
        assert_eq!(parse("x acme"), None);
        assert_eq!(parse("7"), None);
    }
}
