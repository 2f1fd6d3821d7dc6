//! The one writer: a thread that owns the write connection and commits groups.
//!
//! It takes the first queued append, drains whatever else is queued (up to
//! [`MAX_GROUP`]), runs them in one transaction, each inside its own savepoint so a
//! conflict rolls back only that append, commits once (one fsync) and only then
//! answers every caller. A failed commit answers every caller in the group with an
//! error: nothing unacknowledged is ever reported as stored.
//!
//! The writer remembers the head of each stream it committed ([`Heads`]), so checking
//! an append's expected version is a map lookup, not a query. Memory is trusted only to
//! say yes: a mismatch is confirmed by a query before it is answered as a conflict, and
//! a head that another handle moved behind our back makes the insert hit the table's
//! `UNIQUE (stream_id, stream_version)`, which is answered as a conflict and forgets
//! the remembered head.

use laras_commands::store::{continues, AppendOutcome, AppendRequest, ExpectedVersion, Position, StoreError};
use laras_domain::envelope::{Hash32, ZERO_HASH};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{oneshot, watch};

/// The most appends one transaction takes.
pub const MAX_GROUP: usize = 512;

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

fn storage(e: rusqlite::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

/// How many stream heads the writer remembers before it starts over.
const MAX_HEADS: usize = 256 * 1024;

/// Stream heads as committed by this writer.
#[derive(Default)]
pub struct Heads {
    committed: HashMap<String, (u64, Hash32)>,
}

impl Heads {
    fn remember(&mut self, moved: HashMap<String, (u64, Hash32)>) {
        if self.committed.len() + moved.len() > MAX_HEADS {
            // Starting over costs one query per stream the next time it is written.
            self.committed.clear();
        }
        self.committed.extend(moved);
    }
}

/// Runs until every sender is dropped, then returns after the last group is committed.
pub fn run(mut conn: Connection, jobs: Receiver<Job>, head: watch::Sender<Position>, metrics: Arc<Metrics>) {
    let mut heads = Heads::default();
    while let Ok(first) = jobs.recv() {
        let mut size = first.requests.len();
        let mut group = vec![first];
        while size < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => {
                    size += job.requests.len();
                    group.push(job);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let started = Instant::now();
        let requests: Vec<&AppendRequest> = group.iter().flat_map(|j| &j.requests).collect();
        let results = commit_group(&mut conn, &requests, &mut heads);
        let took = started.elapsed();
        metrics.commits.fetch_add(1, Ordering::Relaxed);
        metrics.appends.fetch_add(size as u64, Ordering::Relaxed);
        metrics::histogram!("laras_log_commit_seconds", "store" => "sqlite").record(took.as_secs_f64());
        metrics::histogram!("laras_log_group_size", "store" => "sqlite").record(size as f64);
        match results {
            Ok((results, last)) => {
                if let Some(last) = last {
                    head.send_if_modified(|h| {
                        let moved = last > *h;
                        *h = (*h).max(last);
                        moved
                    });
                }
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
        tracing::debug!(size, micros = took.as_micros() as u64, "group committed");
    }
}

type GroupResult = (Vec<Result<AppendOutcome, StoreError>>, Option<Position>);

fn commit_group(conn: &mut Connection, group: &[&AppendRequest], heads: &mut Heads) -> Result<GroupResult, StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(storage)?;
    let mut results = Vec::with_capacity(group.len());
    let mut last = None;
    // Heads moved by this group's appends so far; remembered only once the commit is durable.
    let mut staged: HashMap<String, (u64, Hash32)> = HashMap::new();
    for request in group {
        tx.execute_batch("SAVEPOINT append").map_err(storage)?;
        let mut moved = HashMap::new();
        let result = append(&tx, request, &staged, heads, &mut moved);
        match &result {
            Ok(AppendOutcome::Appended { positions }) => {
                tx.execute_batch("RELEASE append").map_err(storage)?;
                last = last.max(positions.iter().copied().max());
                staged.extend(moved);
            }
            _ => tx.execute_batch("ROLLBACK TO append; RELEASE append").map_err(storage)?,
        }
        results.push(result);
    }
    tx.commit().map_err(storage)?;
    heads.remember(staged);
    Ok((results, last))
}

fn stream_head(tx: &Transaction, stream: &str) -> Result<Option<(u64, Hash32)>, StoreError> {
    let row: Option<(i64, Vec<u8>)> = tx
        .prepare_cached(
            "SELECT stream_version, hash FROM events WHERE stream_id = ?1 ORDER BY stream_version DESC LIMIT 1",
        )
        .and_then(|mut s| s.query_row([stream], |r| Ok((r.get(0)?, r.get(1)?))).optional())
        .map_err(storage)?;
    match row {
        None => Ok(None),
        Some((v, h)) => {
            let hash: Hash32 =
                h.try_into().map_err(|_| StoreError::Storage(format!("stored hash of {stream} is malformed")))?;
            Ok(Some((v as u64, hash)))
        }
    }
}

fn append(
    tx: &Transaction,
    request: &AppendRequest,
    staged: &HashMap<String, (u64, Hash32)>,
    heads: &mut Heads,
    moved: &mut HashMap<String, (u64, Hash32)>,
) -> Result<AppendOutcome, StoreError> {
    if request.event_count() == 0 {
        return Err(StoreError::InvalidAppend("an append needs at least one event".into()));
    }
    let mut known = Vec::new();
    let mut ids = BTreeSet::new();
    {
        let mut find = tx.prepare_cached("SELECT position FROM events WHERE event_id = ?1").map_err(storage)?;
        for e in request.writes.iter().flat_map(|w| &w.envelopes) {
            if !ids.insert(e.header.event_id) {
                return Err(StoreError::InvalidAppend("an event id appears twice in one append".into()));
            }
            let found: Option<i64> = find
                .query_row([e.header.event_id.0.as_bytes().as_slice()], |r| r.get(0))
                .optional()
                .map_err(storage)?;
            if let Some(p) = found {
                known.push(p as u64);
            }
        }
    }
    if !known.is_empty() {
        return if known.len() == ids.len() {
            Ok(AppendOutcome::Duplicate { positions: known })
        } else {
            Err(StoreError::PartialDuplicate)
        };
    }
    let mut positions = Vec::with_capacity(ids.len());
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO events (event_id, partner_id, stream_id, stream_version, recorded_at, actor_kind, actor_id, causation_id,
             correlation_id, event_type, event_version, key_id, prev_hash, payload, signature, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
        )
        .map_err(storage)?;
    for write in &request.writes {
        let stream = write.stream.as_str();
        let matches = |head: Option<(u64, Hash32)>| match write.expected {
            ExpectedVersion::NoStream => head.is_none(),
            ExpectedVersion::Exact(v) => head.map(|h| h.0) == Some(v),
        };
        let remembered = moved.get(stream).or_else(|| staged.get(stream)).or_else(|| heads.committed.get(stream));
        let mut head = match remembered {
            Some(h) => Some(*h),
            None => stream_head(tx, stream)?,
        };
        if !matches(head) && remembered.is_some() && !moved.contains_key(stream) {
            // Memory only ever says yes: a mismatch is confirmed against the table.
            head = stream_head(tx, stream)?;
        }
        if !matches(head) {
            return Err(StoreError::VersionConflict {
                stream: write.stream.clone(),
                expected: write.expected,
                actual: head.map(|h| h.0),
            });
        }
        let mut prev = head.map_or(ZERO_HASH, |h| h.1);
        for (version, e) in (write.expected.next_version()..).zip(&write.envelopes) {
            let hash = continues(e, write, version, prev)?;
            let h = &e.header;
            insert
                .execute(params![
                    h.event_id.0.as_bytes().as_slice(),
                    h.partner_id.0.as_bytes().as_slice(),
                    h.stream_id.as_str(),
                    h.stream_version as i64,
                    h.recorded_at.0,
                    i64::from(h.actor.kind_code()),
                    h.actor.id_text(),
                    h.causation_id.as_bytes().as_slice(),
                    h.correlation_id.as_bytes().as_slice(),
                    h.event_type,
                    i64::from(h.event_version),
                    h.key_id.as_str(),
                    h.prev_hash.as_slice(),
                    e.payload,
                    e.signature.as_slice(),
                    hash.as_slice(),
                ])
                .map_err(|e| match e.sqlite_error_code() {
                    // Another handle moved the stream past the head we remembered.
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        heads.committed.remove(stream);
                        StoreError::VersionConflict {
                            stream: write.stream.clone(),
                            expected: write.expected,
                            actual: None,
                        }
                    }
                    _ => storage(e),
                })?;
            positions.push(tx.last_insert_rowid() as u64);
            prev = hash;
            moved.insert(stream.to_owned(), (version, hash));
        }
    }
    Ok(AppendOutcome::Appended { positions })
}
