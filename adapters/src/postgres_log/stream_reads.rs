//! Stream reads batched: the `read_stream` calls that arrive while the readers' queries
//! are in flight ride the next query together, one round trip and one statement for up
//! to `MAX_BATCH` of them. A command loads three or four streams, each usually just the
//! empty tail after its cached version, so under load one statement a read is what the
//! server spends most of its time on; batched, that cost is shared. Nothing is cached
//! here: each read is answered by a query sent after it arrived, so it sees every commit
//! that preceded it, as a query of its own would.

use super::row::{self, envelope_from_row};
use super::schema::COLUMNS;
use super::storage;
use laras_commands::store::{StoreError, StoredEnvelope};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Mutex};

/// Reads one query answers at most: the arrays stay small enough to plan as a nested
/// loop over the `(stream_id, stream_version)` index.
pub const MAX_BATCH: usize = 256;
/// Queries in flight at once; the rest of the pool stays free for the writer and scans.
pub const READERS: usize = 4;
/// Reads that may wait before callers wait to enqueue.
const QUEUE: usize = 16 * 1024;

pub struct Read {
    pub stream: String,
    pub from_version: i64,
    pub reply: oneshot::Sender<Result<Vec<StoredEnvelope>, StoreError>>,
}

/// Starts the readers; they end once the returned sender and its clones are dropped.
pub fn spawn(pool: deadpool_postgres::Pool) -> mpsc::Sender<Read> {
    let (reads, queue) = mpsc::channel(QUEUE);
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..READERS {
        tokio::spawn(reader(pool.clone(), queue.clone()));
    }
    reads
}

/// One reader: takes what is queued (waiting for the first), answers it with one query.
async fn reader(pool: deadpool_postgres::Pool, queue: Arc<Mutex<mpsc::Receiver<Read>>>) {
    loop {
        let mut batch = Vec::new();
        {
            let mut queue = queue.lock().await;
            match queue.recv().await {
                Some(first) => batch.push(first),
                None => return,
            }
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        answer(&pool, batch).await;
    }
}

async fn answer(pool: &deadpool_postgres::Pool, batch: Vec<Read>) {
    // Callers that gave up (a dropped future) need no answer and no query.
    let batch: Vec<Read> = batch.into_iter().filter(|r| !r.reply.is_closed()).collect();
    if batch.is_empty() {
        return;
    }
    match query(pool, &batch).await {
        Ok(mut found) => {
            for (i, read) in batch.into_iter().enumerate() {
                let rows = found.remove(&(i as i64)).unwrap_or_default();
                // Each read's rows are decoded on their own: a malformed row fails only
                // the read it belongs to.
                let _ = read.reply.send(rows.iter().map(envelope_from_row).collect());
            }
        }
        Err(e) => {
            for read in batch {
                let _ = read.reply.send(Err(e.clone()));
            }
        }
    }
}

/// The rows of every read, by the read's index in the batch, in stream order.
async fn query(
    pool: &deadpool_postgres::Pool,
    batch: &[Read],
) -> Result<BTreeMap<i64, Vec<tokio_postgres::Row>>, StoreError> {
    let streams: Vec<&str> = batch.iter().map(|r| r.stream.as_str()).collect();
    let versions: Vec<i64> = batch.iter().map(|r| r.from_version).collect();
    let client = pool.get().await.map_err(|e| StoreError::Storage(format!("no connection to the log: {e}")))?;
    let statement = client.prepare_cached(&select_batch()).await.map_err(storage)?;
    let rows = client.query(&statement, &[&streams, &versions]).await.map_err(storage)?;
    let index = COLUMNS.split(',').count();
    let mut found: BTreeMap<i64, Vec<tokio_postgres::Row>> = BTreeMap::new();
    for row in rows {
        // The ordinal is 1-based.
        let i: i64 = row.try_get(index).map_err(storage)?;
        found.entry(i - 1).or_default().push(row);
    }
    Ok(found)
}

/// The columns `envelope_from_row` reads, then the read's ordinal in the batch.
fn select_batch() -> String {
    row::select(
        "JOIN unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS wanted(stream, from_version, ordinal) \
         ON events.stream_id = wanted.stream AND events.stream_version >= wanted.from_version \
         ORDER BY wanted.ordinal, events.stream_version",
    )
    .replacen(" FROM events", ", wanted.ordinal FROM events", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ordinal_comes_after_the_columns_envelope_from_row_reads() {
        let sql = select_batch();
        let columns = sql.split(" FROM ").next().unwrap_or_default();
        assert!(columns.ends_with(", wanted.ordinal"), "{sql}");
        assert!(columns.starts_with(&format!("SELECT {COLUMNS}")), "{sql}");
    }
}
