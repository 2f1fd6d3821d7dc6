//! Copying a log in with its positions: how an embedded deployment moves to PostgreSQL.

use super::{storage, writer, PgEventStore};
use laras_commands::store::{PlannedRow, Position, StoreError, StoredEnvelope};

/// What one imported page did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// Rows written now.
    pub copied: u64,
    /// Rows that were already there, identical.
    pub already: u64,
}

impl PgEventStore {
    /// Stores `page` (consecutive positions, in order) at exactly its positions. Rows the
    /// log already holds must be the same events with the same hashes (a rerun); new rows
    /// must continue the log's head without a gap. Anything else stores nothing.
    pub async fn import(&self, page: &[StoredEnvelope]) -> Result<Imported, StoreError> {
        if page.windows(2).any(|w| w[1].position != w[0].position + 1) {
            return Err(StoreError::InvalidAppend("the imported positions are not consecutive".into()));
        }
        let mut hashed = Vec::with_capacity(page.len());
        for s in page {
            let hash = s.envelope.hash().map_err(|e| StoreError::InvalidAppend(e.to_string()))?;
            hashed.push((s, hash));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(storage)?;
        let head = writer::lock_head(&tx).await?;
        let (old, new): (Vec<_>, Vec<_>) = hashed.into_iter().partition(|(s, _)| s.position <= head);
        let positions: Vec<i64> = old.iter().map(|(s, _)| s.position as i64).collect();
        let rows = tx
            .query(
                "SELECT position, event_id, hash FROM events WHERE position = ANY($1) ORDER BY position",
                &[&positions],
            )
            .await
            .map_err(storage)?;
        for ((s, hash), row) in old.iter().zip(&rows) {
            let position: i64 = row.try_get(0).map_err(storage)?;
            let id: uuid::Uuid = row.try_get(1).map_err(storage)?;
            let stored_hash: Vec<u8> = row.try_get(2).map_err(storage)?;
            if position as Position != s.position || id != s.envelope.header.event_id.0 || stored_hash != hash {
                return Err(StoreError::InvalidAppend(format!(
                    "the target log holds another event at position {}",
                    s.position
                )));
            }
        }
        if rows.len() != old.len() {
            return Err(StoreError::Storage("the target log has a gap below its head".into()));
        }
        if let Some((first, _)) = new.first() {
            if first.position != head + 1 {
                return Err(StoreError::InvalidAppend(format!(
                    "the copy would leave a gap: the target ends at {head}, the next event is at {}",
                    first.position
                )));
            }
            let rows: Vec<_> = new
                .iter()
                .map(|(s, hash)| (&s.envelope, PlannedRow { position: s.position, write: 0, envelope: 0, hash: *hash }))
                .collect();
            writer::insert(&tx, &rows).await?;
            writer::move_head(&tx, head + new.len() as Position).await?;
        }
        tx.commit().await.map_err(storage)?;
        Ok(Imported { copied: new.len() as u64, already: old.len() as u64 })
    }
}
