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
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await.map_err(storage)?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().parse::<Position>().ok()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => return Err(storage(e)),
            }
        }
        Ok(())
    });
    client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(storage)?;
    // Listening first, then reading the head: a commit in between is seen one way or the other.
    let now: i64 = client.query_one("SELECT position FROM log_head", &[]).await.map_err(storage)?.get(0);
    advance(head, now as Position);
    while let Some(position) = rx.recv().await {
        if let Some(p) = position {
            advance(head, p);
        }
    }
    driver.await.map_err(storage)?
}
