//! The node's one writer: a task that commits queued appends in groups.
//!
//! It takes the first queued append, drains whatever else is queued (up to [`MAX_GROUP`])
//! and decides the whole group in one transaction: lock the head row (which serialises
//! commits across every node on the database), load the group's known event ids and stream
//! heads in two queries, decide each append in order with the shared planner, insert every
//! new row in one statement, move the head and notify in another, commit (one WAL flush).
//! The reads are sent only once the head's lock is held, so they see every commit that
//! came before it; statements whose order does not matter (the two reads; the insert and
//! the head's move) are pipelined on the connection, so a group costs five round trips,
//! not eight. Only then is
//! any caller answered; a failed commit answers every caller with an error, and since an
//! error may hide a commit that did happen, a caller's retry is answered by the idempotency
//! check.

use super::{storage, HeadSender};
use laras_commands::store::{
    AppendOutcome, AppendPlanner, AppendRequest, PlannedAppend, PlannedRow, Position, StoreError, StreamHead,
};
use laras_domain::envelope::Envelope;
use laras_domain::ids::EventId;
use laras_domain::stream::StreamId;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The most appends one transaction takes.
pub const MAX_GROUP: usize = 1024;

/// Appends that are committed together, answered together, in order.
pub struct Job {
    pub requests: Vec<AppendRequest>,
    pub reply: oneshot::Sender<Vec<Result<AppendOutcome, StoreError>>>,
}

/// Counters for benchmarks and tests.
#[derive(Default, Debug)]
pub struct Metrics {
    pub commits: AtomicU64,
    pub appends: AtomicU64,
}

/// Runs until every sender is dropped and the queue is empty.
pub async fn run(
    pool: deadpool_postgres::Pool,
    mut jobs: mpsc::Receiver<Job>,
    head: HeadSender,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = jobs.recv().await {
        let mut size = first.requests.len();
        let mut group = vec![first];
        while size < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => {
                    size += job.requests.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let requests: Vec<&AppendRequest> = group.iter().flat_map(|j| &j.requests).collect();
        let result = match pool.get().await {
            Ok(mut client) => commit_group(&mut client, &requests).await,
            Err(e) => Err(StoreError::Storage(format!("no connection to the log: {e}"))),
        };
        metrics.commits.fetch_add(1, Ordering::Relaxed);
        metrics.appends.fetch_add(size as u64, Ordering::Relaxed);
        metrics::histogram!("laras_log_commit_seconds", "store" => "postgres").record(started.elapsed().as_secs_f64());
        metrics::histogram!("laras_log_group_size", "store" => "postgres").record(size as f64);
        match result {
            Ok((results, last)) => {
                super::advance(&head, last);
                let mut results = results.into_iter();
                for job in group {
                    let answers: Vec<_> = results.by_ref().take(job.requests.len()).collect();
                    let _ = job.reply.send(answers);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, size, "group commit failed; no append in it is acknowledged");
                for job in group {
                    let _ = job.reply.send(job.requests.iter().map(|_| Err(e.clone())).collect());
                }
            }
        }
    }
}

type GroupResult = (Vec<Result<AppendOutcome, StoreError>>, Position);

async fn commit_group(
    client: &mut deadpool_postgres::Object,
    group: &[&AppendRequest],
) -> Result<GroupResult, StoreError> {
    let envelopes = || group.iter().flat_map(|r| &r.writes).flat_map(|w| &w.envelopes);
    let ids: Vec<Uuid> = envelopes().map(|e| e.header.event_id.0).collect::<HashSet<_>>().into_iter().collect();
    let streams: Vec<&str> =
        group.iter().flat_map(|r| &r.writes).map(|w| w.stream.as_str()).collect::<HashSet<_>>().into_iter().collect();
    let tx = client.transaction().await.map_err(storage)?;
    // The lock is awaited before the reads are sent: `try_join!` polls its futures in a
    // rotating order, so a read pipelined beside the lock could reach the server first and
    // miss a commit that the lock then waits for (a duplicate taken for a conflict).
    let head = lock_head(&tx).await?;
    let (known, heads) = tokio::try_join!(known_ids(&tx, &ids), stream_heads(&tx, &streams))?;
    let mut planner = AppendPlanner::new(head, known, heads);
    let mut results = Vec::with_capacity(group.len());
    let mut rows: Vec<(&Envelope, PlannedRow)> = Vec::new();
    for request in group {
        results.push(match planner.plan(request) {
            Ok(PlannedAppend::Duplicate(positions)) => Ok(AppendOutcome::Duplicate { positions }),
            Ok(PlannedAppend::Rows(planned)) => {
                let positions = planned.iter().map(|r| r.position).collect();
                rows.extend(planned.into_iter().map(|r| (&request.writes[r.write].envelopes[r.envelope], r)));
                Ok(AppendOutcome::Appended { positions })
            }
            Err(e) => Err(e),
        });
    }
    let last = planner.last_position();
    if !rows.is_empty() {
        tokio::try_join!(insert(&tx, &rows), move_head(&tx, last))?;
    }
    tx.commit().await.map_err(storage)?;
    Ok((results, last))
}

/// Waits for every other writer's transaction to end, then reads the head they left.
pub async fn lock_head(tx: &deadpool_postgres::Transaction<'_>) -> Result<Position, StoreError> {
    let head: i64 =
        tx.query_one("SELECT position FROM log_head WHERE only_row FOR UPDATE", &[]).await.map_err(storage)?.get(0);
    Ok(head as Position)
}

/// Sets the head and tells every listening node (delivered when the transaction commits).
pub async fn move_head(tx: &deadpool_postgres::Transaction<'_>, last: Position) -> Result<(), StoreError> {
    tx.execute(
        "WITH moved AS (UPDATE log_head SET position = $1 WHERE only_row RETURNING position)
         SELECT pg_notify($2, position::text) FROM moved",
        &[&(last as i64), &super::CHANNEL],
    )
    .await
    .map_err(storage)?;
    Ok(())
}

async fn known_ids(
    tx: &deadpool_postgres::Transaction<'_>,
    ids: &[Uuid],
) -> Result<HashMap<EventId, Position>, StoreError> {
    let rows =
        tx.query("SELECT event_id, position FROM events WHERE event_id = ANY($1)", &[&ids]).await.map_err(storage)?;
    rows.iter()
        .map(|r| {
            let id: Uuid = r.try_get(0).map_err(storage)?;
            let position: i64 = r.try_get(1).map_err(storage)?;
            Ok((EventId(id), position as Position))
        })
        .collect()
}

async fn stream_heads(
    tx: &deadpool_postgres::Transaction<'_>,
    streams: &[&str],
) -> Result<HashMap<StreamId, StreamHead>, StoreError> {
    let rows = tx
        .query(
            "SELECT s.stream_id, e.stream_version, e.hash FROM unnest($1::text[]) AS s(stream_id)
             CROSS JOIN LATERAL (SELECT stream_version, hash FROM events
                 WHERE events.stream_id = s.stream_id ORDER BY stream_version DESC LIMIT 1) e",
            &[&streams],
        )
        .await
        .map_err(storage)?;
    rows.iter()
        .map(|r| {
            let stream: String = r.try_get(0).map_err(storage)?;
            let version: i64 = r.try_get(1).map_err(storage)?;
            let hash: Vec<u8> = r.try_get(2).map_err(storage)?;
            let hash = hash
                .try_into()
                .map_err(|_| StoreError::Storage(format!("the stored hash of {stream} is malformed")))?;
            Ok((StreamId::from_stored(stream), StreamHead { version: version as u64, hash }))
        })
        .collect()
}

/// Inserts every row in one statement (one array per column).
pub async fn insert(
    tx: &deadpool_postgres::Transaction<'_>,
    rows: &[(&Envelope, PlannedRow)],
) -> Result<(), StoreError> {
    let h = |i: usize| &rows[i].0.header;
    let n = rows.len();
    let position: Vec<i64> = rows.iter().map(|(_, r)| r.position as i64).collect();
    let event_id: Vec<Uuid> = (0..n).map(|i| h(i).event_id.0).collect();
    let partner_id: Vec<Uuid> = (0..n).map(|i| h(i).partner_id.0).collect();
    let stream_id: Vec<&str> = (0..n).map(|i| h(i).stream_id.as_str()).collect();
    let stream_version: Vec<i64> = (0..n).map(|i| h(i).stream_version as i64).collect();
    let recorded_at: Vec<i64> = (0..n).map(|i| h(i).recorded_at.0).collect();
    let actor_kind: Vec<i16> = (0..n).map(|i| i16::from(h(i).actor.kind_code())).collect();
    let actor_id: Vec<String> = (0..n).map(|i| h(i).actor.id_text()).collect();
    let causation_id: Vec<Uuid> = (0..n).map(|i| h(i).causation_id).collect();
    let correlation_id: Vec<Uuid> = (0..n).map(|i| h(i).correlation_id).collect();
    let event_type: Vec<&str> = (0..n).map(|i| h(i).event_type.as_str()).collect();
    let event_version: Vec<i32> = (0..n).map(|i| i32::from(h(i).event_version)).collect();
    let key_id: Vec<&str> = (0..n).map(|i| h(i).key_id.as_str()).collect();
    let prev_hash: Vec<&[u8]> = (0..n).map(|i| h(i).prev_hash.as_slice()).collect();
    let payload: Vec<&[u8]> = rows.iter().map(|(e, _)| e.payload.as_slice()).collect();
    let signature: Vec<&[u8]> = rows.iter().map(|(e, _)| e.signature.as_slice()).collect();
    let hash: Vec<&[u8]> = rows.iter().map(|(_, r)| r.hash.as_slice()).collect();
    tx.execute(
        "INSERT INTO events (position, event_id, partner_id, stream_id, stream_version, recorded_at, actor_kind,
             actor_id, causation_id, correlation_id, event_type, event_version, key_id, prev_hash, payload,
             signature, hash)
         SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], $5::bigint[], $6::bigint[],
             $7::smallint[], $8::text[], $9::uuid[], $10::uuid[], $11::text[], $12::integer[], $13::text[],
             $14::bytea[], $15::bytea[], $16::bytea[], $17::bytea[])",
        &[
            &position,
            &event_id,
            &partner_id,
            &stream_id,
            &stream_version,
            &recorded_at,
            &actor_kind,
            &actor_id,
            &causation_id,
            &correlation_id,
            &event_type,
            &event_version,
            &key_id,
            &prev_hash,
            &payload,
            &signature,
            &hash,
        ],
    )
    .await
    .map_err(storage)?;
    Ok(())
}
