//! Keeps this node's head up to date with commits made by any node, through LISTEN/NOTIFY.

use super::{advance, storage, HeadSender, CHANNEL};
use futures_util::StreamExt;
use laras_commands::store::{Position, StoreError};
use std::time::Duration;
use tokio_postgres::AsyncMessage;

/// Listens until the store is dropped; reconnects after a pause when the connection fails.
pub async fn run(config: tokio_postgres::Config, head: HeadSender) {
    loop {
        if let Err(e) = listen(&config, &head).await {
            tracing::warn!(error = %e, "lost the log's notifications; reconnecting");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn listen(config: &tokio_postgres::Config, head: &HeadSender) -> Result<(), StoreError> {
    let mut listening = Listening::start(config, CHANNEL).await.map_err(storage)?;
    // Listening first, then reading the head: a commit in between is seen one way or the other.
    let now: i64 = listening.client.query_one("SELECT position FROM log_head", &[]).await.map_err(storage)?.get(0);
    advance(head, now as Position);
    while let Some(payload) = listening.payloads.recv().await {
        if let Ok(p) = payload.parse::<Position>() {
            advance(head, p);
        }
    }
    listening.end().await.map_err(storage)
}

/// A session of its own that has said `LISTEN channel`: every notification sent on it
/// from then on arrives in `payloads`, until the connection fails.
pub(crate) struct Listening {
    pub client: tokio_postgres::Client,
    pub payloads: tokio::sync::mpsc::UnboundedReceiver<String>,
    driver: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
}

impl Listening {
    pub async fn start(config: &tokio_postgres::Config, channel: &str) -> Result<Self, tokio_postgres::Error> {
        let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
        let (tx, payloads) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = messages.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(n.payload().to_owned()).is_err() {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(Self { client, payloads, driver })
    }

    /// Closes the session and answers why the notifications stopped.
    pub async fn end(self) -> Result<(), tokio_postgres::Error> {
        drop(self.client);
        self.driver.await.unwrap_or(Ok(()))
    }
}
