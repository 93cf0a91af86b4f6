//! The [`PostgresStore`](crate::PostgresStore)'s change notices: `LISTEN td_oauth_installations` on a
//! connection of its own, relayed by td-oauth-partner's [`relay_notices`] (checked by a query now and
//! then, made again when it ends, with `Lost` and `Resumed` around the gap).

use std::sync::Arc;

use async_trait::async_trait;
use td_oauth_partner::store::{NoticeConnection, NoticeSink, StoreError, Subscription, relay_notices};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_postgres::{AsyncMessage, Client};

use crate::connection::Postgres;
use crate::statements::CHANNEL;

/// A listening connection: its client, what its connection received, and the task driving it.
struct Listener {
    client: Client,
    messages: mpsc::UnboundedReceiver<AsyncMessage>,
    postgres: Arc<Postgres>,
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

#[async_trait]
impl NoticeConnection for Listener {
    async fn next_payload(&mut self) -> Option<Vec<u8>> {
        loop {
            match self.messages.recv().await? {
                AsyncMessage::Notification(notification) if notification.channel() == CHANNEL => {
                    return Some(notification.payload().as_bytes().to_vec());
                }
                _ => {}
            }
        }
    }

    async fn still_answers(&mut self) -> bool {
        let check = tokio::time::timeout(self.postgres.timeout(), self.client.batch_execute("SELECT 1"));
        matches!(check.await, Ok(Ok(())))
    }
}

/// Listens now (so that a write committed after this returns is heard), then hands the connection to a
/// task that relays notices and reconnects until the [`Subscription`] is dropped.
pub(crate) async fn subscribe(postgres: Arc<Postgres>, sink: NoticeSink) -> Result<Subscription, StoreError> {
    let listener = listen(Arc::clone(&postgres)).await?;
    let location = postgres.location().to_owned();
    let task = tokio::spawn(relay_notices(listener, move || listen(Arc::clone(&postgres)), sink, location));
    Ok(Subscription::new(move || task.abort()))
}

async fn listen(postgres: Arc<Postgres>) -> Result<Listener, StoreError> {
    let (client, mut connection) = postgres.connect_dedicated().await?;
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
    match tokio::time::timeout(postgres.timeout(), client.batch_execute(&statement)).await {
        Ok(Ok(())) => Ok(Listener { client, messages, postgres, _driver: driver }),
        Ok(Err(err)) => Err(postgres.error(&err, "LISTEN")),
        Err(_) => Err(StoreError::Unavailable {
            location: postgres.location().to_owned(),
            reason: format!("LISTEN took longer than {} ms", postgres.timeout().as_millis()),
        }),
    }
}
