//! `ReadModels`: the read-model database and search index, how a batch of events is
//! applied to them, and how far they have got.

use crate::changes::ReadModelChange;
use crate::error::ProjectionError;
use crate::indexer::{Indexer, Job};
use crate::project::{self, content_text, stream_subject, Effects};
use crate::search::{SearchDoc, SearchIndex, SearchOp};
use crate::segments;
use laras_commands::keys::ContactKeys;
use laras_commands::store::{Position, StoredEnvelope};
use laras_domain::event::DomainEvent;
use laras_domain::ids::DataKeyId;
use laras_domain::sealed::{Sealed, SecretKey};
use rusqlite::{Connection, OptionalExtension};
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

const READERS: usize = 4;
const CHECKPOINT: &str = "read_models";
/// The read models' layout (`PRAGMA user_version`). Read models made by an older layout
/// lack rows the newer one derives from old events, so they are emptied and caught up
/// from the log again on open.
const LAYOUT: i64 = 3;
/// A batch this large comes from catching up, not from live traffic.
const BACKLOG_BATCH: usize = 1_000;
/// Search writes held back while the indexer's queue is full, beyond which the runner waits.
const HELD_OPS: usize = 20_000;
/// Indexes that projecting an event never reads (queries do, and erasures): while the read
/// models load from empty they are left out and built at the end, one sort each instead
/// of a random insert per row (three of an inbound message's eight b-tree writes).
const DEFERRED_INDEXES: [&str; 7] = [
    "conversations_inbox",
    "conversations_contact",
    "items_contact",
    "timeline_contact",
    "attachments_contact",
    "sends_in_doubt",
    "stage_history_partner",
];

/// The read side: cheap to clone, shared by the runner and the API.
#[derive(Clone)]
pub struct ReadModels {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    search: Arc<SearchIndex>,
    indexer: Indexer,
    _checkpointer: Checkpointer,
    position: watch::Sender<Position>,
    searchable: watch::Sender<Position>,
    changes: broadcast::Sender<ReadModelChange>,
    /// The highest position whose search writes went to the indexer.
    search_sent: Mutex<Position>,
    /// Loading from empty without [`DEFERRED_INDEXES`].
    bulk: AtomicBool,
    /// Search writes (and the position they reach) not yet taken by the indexer's queue: a
    /// full queue while the index commits must not hold up the tables (their lag is what
    /// a reader waits on). Sent with the next batch's, or by [`ReadModels::flush_search`].
    held: Mutex<Option<(Vec<SearchOp>, Position)>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Before the indexer's final commit (the fields drop after this).
        if let Some((ops, position)) = lock(&self.held).take() {
            let _ = self.indexer.send(Job::Ops(ops, position, true));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Read models are rebuildable, so `synchronous=NORMAL` (a power cut may lose the last
/// transactions, rows and checkpoint together; the runner then re-applies them).
/// `cache_kib` matters at scale: rows are keyed by random UUIDs, so index inserts land
/// all over the file and a small page cache turns each into a read.
fn connection(path: &Path, cache_kib: u32) -> Result<Connection, ProjectionError> {
    let conn = Connection::open(path)?;
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;
         PRAGMA cache_size=-{cache_kib}; PRAGMA mmap_size=1073741824; PRAGMA temp_store=MEMORY;
"
    ))?;
    Ok(conn)
}

impl ReadModels {
    /// Opens (creating) `dir/readmodels.sqlite` and `dir/search/`.
    pub fn open(dir: &Path) -> Result<Self, ProjectionError> {
        std::fs::create_dir_all(dir).map_err(|source| ProjectionError::Io { path: dir.to_path_buf(), source })?;
        let db = dir.join("readmodels.sqlite");
        let writer = connection(&db, 256 * 1024)?;
        // The writer never checkpoints (that would stall the runner); a thread of its own does.
        writer.execute_batch("PRAGMA wal_autocheckpoint=0;")?;
        let checkpointer = Checkpointer::start(connection(&db, 2 * 1024)?)?;
        writer.execute_batch(include_str!("schema.sql"))?;
        let layout: i64 = writer.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let stale = layout != LAYOUT && checkpoint(&writer)? > 0;
        let readers =
            (0..READERS).map(|_| connection(&db, 32 * 1024).map(Mutex::new)).collect::<Result<Vec<_>, _>>()?;
        let search = Arc::new(SearchIndex::open(&dir.join("search"))?);
        let position = checkpoint(&writer)?;
        let search_committed = search.checkpoint();
        let searchable = watch::channel(search_committed).0;
        let indexer = Indexer::start(search.clone(), searchable.clone())?;
        let models = Self {
            inner: Arc::new(Inner {
                dir: dir.to_path_buf(),
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                search,
                indexer,
                _checkpointer: checkpointer,
                position: watch::channel(position).0,
                searchable,
                changes: broadcast::channel(1024).0,
                search_sent: Mutex::new(search_committed),
                bulk: AtomicBool::new(false),
                held: Mutex::new(None),
            }),
        };
        if stale {
            tracing::info!(
                from = layout,
                to = LAYOUT,
                "read models are of an older layout: rebuilding them from the log"
            );
            models.clear()?;
        }
        lock(&models.inner.writer).execute_batch(&format!("PRAGMA user_version = {LAYOUT};"))?;
        Ok(models)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The position of the last event applied to the read-model tables.
    pub fn position(&self) -> Position {
        *self.inner.position.borrow()
    }

    /// The position the search index has committed (it may trail [`ReadModels::position`] briefly).
    pub fn search_position(&self) -> Position {
        self.inner.search.checkpoint()
    }

    /// Where a runner must resume: the older of the two checkpoints.
    pub fn resume_from(&self) -> Position {
        self.position().min(*lock(&self.inner.search_sent))
    }

    /// Waits until the read-model tables include `position` (read-your-writes).
    pub async fn wait_for(&self, position: Position, timeout: Duration) -> Result<(), ProjectionError> {
        Self::wait(self.inner.position.subscribe(), position, timeout).await
    }

    /// Waits until search results include `position`.
    pub async fn wait_for_search(&self, position: Position, timeout: Duration) -> Result<(), ProjectionError> {
        Self::wait(self.inner.searchable.subscribe(), position, timeout).await
    }

    async fn wait(
        mut rx: watch::Receiver<Position>,
        position: Position,
        timeout: Duration,
    ) -> Result<(), ProjectionError> {
        let reached = tokio::time::timeout(timeout, rx.wait_for(|p| *p >= position)).await.map(|r| r.is_ok());
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(ProjectionError::Stopped),
            Err(_) => Err(ProjectionError::Timeout { wanted: position, reached: *rx.borrow() }),
        }
    }

    /// Live changes, for subscriptions.
    pub fn subscribe(&self) -> broadcast::Receiver<ReadModelChange> {
        self.inner.changes.subscribe()
    }

    pub(crate) fn reader(&self) -> MutexGuard<'_, Connection> {
        let n = self.inner.next_reader.fetch_add(1, Ordering::Relaxed) % self.inner.readers.len();
        lock(&self.inner.readers[n])
    }

    pub(crate) fn search_index(&self) -> &SearchIndex {
        &self.inner.search
    }

    /// Applies a batch in position order: tables and checkpoint in one transaction, then
    /// the search index. Events at or below a model's checkpoint are skipped by that model.
    pub fn apply_batch(
        &self,
        batch: &[StoredEnvelope],
        keys: &dyn ContactKeys,
        now_ms: i64,
    ) -> Result<(), ProjectionError> {
        self.apply_decoded(&decode(batch), keys, now_ms)
    }

    /// [`ReadModels::apply_batch`] for events already decoded (by [`decode`], on every core).
    pub fn apply_decoded(&self, batch: &[Decoded], keys: &dyn ContactKeys, now_ms: i64) -> Result<(), ProjectionError> {
        self.apply_decoded_skipping(batch, keys, now_ms, &BTreeSet::new())
    }

    /// [`ReadModels::apply_decoded`], passing over the events at `skipped` (recorded as
    /// skipped by the read models). An event that fails rolls the whole batch back and is
    /// named in the error ([`ProjectionError::poison`]), so the caller can skip it.
    pub fn apply_decoded_skipping(
        &self,
        batch: &[Decoded],
        keys: &dyn ContactKeys,
        now_ms: i64,
        skipped: &BTreeSet<Position>,
    ) -> Result<(), ProjectionError> {
        let Some(last) = batch.last().map(|(s, _)| s.position) else { return Ok(()) };
        // An erasure updates rows by contact: without the indexes, a scan of every table.
        let erasure = || batch.iter().any(|(_, e)| matches!(e, Ok(DomainEvent::ContactErased { .. })));
        if self.inner.bulk.load(Ordering::Relaxed) && erasure() {
            self.end_bulk_load()?;
        }
        let table_cp = self.position();
        let search_cp = *lock(&self.inner.search_sent);
        let mut cache: HashMap<DataKeyId, Option<SecretKey>> = HashMap::new();
        // The tables and the search index read the same fields of an event: each is
        // decrypted once (a seal's nonce is random, so key and nonce name it).
        let mut opened: Vec<(DataKeyId, [u8; 24], Option<String>)> = Vec::new();
        let mut open = |sealed: &Sealed| -> Option<String> {
            if let Some((_, _, text)) = opened.iter().find(|(k, n, _)| *k == sealed.key && *n == sealed.nonce) {
                return text.clone();
            }
            let key = cache.entry(sealed.key).or_insert_with(|| keys.data_key(sealed.key).ok().flatten());
            let text = key.as_ref().and_then(|k| sealed.open_text(k).ok());
            if opened.len() >= 8 {
                opened.clear();
            }
            opened.push((sealed.key, sealed.nonce, text.clone()));
            text
        };
        let mut effects = Effects::default();
        let mut ops = Vec::new();
        {
            let mut conn = lock(&self.inner.writer);
            let tx = conn.transaction()?;
            for (stored, event) in batch {
                let position = stored.position;
                if (position <= table_cp && position <= search_cp) || skipped.contains(&position) {
                    continue;
                }
                let event = event.as_ref().map_err(|e| ProjectionError::Decode { position, reason: e.to_string() })?;
                let failed = |source| about_the_event(position, source);
                if position > table_cp {
                    project::apply(&tx, stored, event, &mut open, &mut effects).map_err(failed)?;
                }
                if position > search_cp {
                    search_ops(&tx, stored, event, &mut open, &mut ops).map_err(failed)?;
                }
            }
            for partner in &effects.deals_closed {
                segments::recompute(&tx, partner, now_ms)?;
            }
            if last > table_cp {
                tx.execute(
                    "INSERT INTO checkpoint (name, position) VALUES (?1, ?2)
                     ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                    rusqlite::params![CHECKPOINT, last as i64],
                )?;
            }
            tx.commit()?;
        }
        if last > table_cp {
            self.inner.position.send_replace(last);
        }
        if last > search_cp {
            // A full batch means the log has more waiting: the indexer commits less often.
            let backlog = batch.len() >= BACKLOG_BATCH;
            self.send_search(ops, last, backlog)?;
            *lock(&self.inner.search_sent) = last;
        }
        for change in effects.changes {
            let _ = self.inner.changes.send(change);
        }
        Ok(())
    }

    /// Leaves out [`DEFERRED_INDEXES`] if the tables are empty (a load from scratch), until
    /// [`ReadModels::end_bulk_load`]. Queries stay correct meanwhile, only slower.
    pub fn begin_bulk_load(&self) -> Result<bool, ProjectionError> {
        if self.position() != 0 {
            return Ok(false);
        }
        let conn = lock(&self.inner.writer);
        for name in DEFERRED_INDEXES {
            conn.execute_batch(&format!("DROP INDEX IF EXISTS {name};"))?;
        }
        self.inner.bulk.store(true, Ordering::Relaxed);
        Ok(true)
    }

    /// Builds every index that is missing: after a bulk load, or one a crash cut short
    /// (opening runs the schema too).
    pub fn end_bulk_load(&self) -> Result<(), ProjectionError> {
        lock(&self.inner.writer).execute_batch(include_str!("schema.sql"))?;
        self.inner.bulk.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// Hands search writes to the indexer behind any held back; holds them if its queue
    /// is full, and waits only once too many are held.
    fn send_search(&self, mut ops: Vec<SearchOp>, last: Position, backlog: bool) -> Result<(), ProjectionError> {
        let mut held = lock(&self.inner.held);
        if let Some((mut earlier, _)) = held.take() {
            earlier.append(&mut ops);
            ops = earlier;
        }
        if ops.len() >= HELD_OPS {
            return self.inner.indexer.send(Job::Ops(ops, last, backlog));
        }
        if let Some(Job::Ops(ops, last, _)) = self.inner.indexer.offer(Job::Ops(ops, last, backlog))? {
            *held = Some((ops, last));
        }
        Ok(())
    }

    /// Waits until every search write sent so far is committed and visible.
    pub fn flush_search(&self) -> Result<(), ProjectionError> {
        if let Some((ops, position)) = lock(&self.inner.held).take() {
            self.inner.indexer.send(Job::Ops(ops, position, false))?;
        }
        self.inner.indexer.ask(Job::Flush)
    }

    /// Recomputes every Partner's segments at `now_ms` (time passing moves recency).
    pub fn recompute_segments(&self, now_ms: i64) -> Result<usize, ProjectionError> {
        let mut conn = lock(&self.inner.writer);
        let tx = conn.transaction()?;
        let partners: Vec<String> = {
            let mut stmt = tx.prepare("SELECT DISTINCT partner_id FROM contacts")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect::<Result<_, _>>()?
        };
        let mut n = 0;
        for p in &partners {
            n += segments::recompute(&tx, p, now_ms)?;
        }
        tx.commit()?;
        Ok(n)
    }

    /// Empties every read model and the index, back to position 0 (for a rebuild).
    pub fn clear(&self) -> Result<(), ProjectionError> {
        {
            let conn = lock(&self.inner.writer);
            conn.execute_batch(
                "BEGIN; DELETE FROM checkpoint; DELETE FROM pipeline_stages; DELETE FROM contacts; DELETE FROM conversations;
                 DELETE FROM items; DELETE FROM reactions; DELETE FROM timeline; DELETE FROM opportunities; DELETE FROM stage_history;
                 DELETE FROM segments; DELETE FROM sends; DELETE FROM in_doubt_policies; DELETE FROM attachments; DELETE FROM articles;
                 DELETE FROM drafts; COMMIT;",
            )?;
        }
        lock(&self.inner.held).take();
        self.inner.indexer.ask(Job::Clear)?;
        *lock(&self.inner.search_sent) = 0;
        self.inner.position.send_replace(0);
        Ok(())
    }
}

/// A stored envelope with its decoded event (or why it did not decode).
pub type Decoded = (StoredEnvelope, Result<DomainEvent, laras_domain::event::DecodeError>);

/// Decodes a batch on every core (rayon), keeping its order: decoding is pure, applying is not.
pub fn decode(batch: &[StoredEnvelope]) -> Vec<Decoded> {
    use rayon::prelude::*;
    batch.par_iter().map(|s| (s.clone(), s.envelope.event())).collect()
}

/// Decodes an owned batch on every core without copying the envelopes.
pub fn decode_owned(batch: Vec<StoredEnvelope>) -> Vec<Decoded> {
    use rayon::prelude::*;
    batch
        .into_par_iter()
        .map(|s| {
            let event = s.envelope.event();
            (s, event)
        })
        .collect()
}

fn checkpoint(conn: &Connection) -> Result<Position, ProjectionError> {
    let p: Option<i64> =
        conn.query_row("SELECT position FROM checkpoint WHERE name = ?1", [CHECKPOINT], |r| r.get(0)).optional()?;
    Ok(p.unwrap_or(0) as Position)
}

/// The search documents an event adds (or removes).
/// A failed statement as the event's fault ([`ProjectionError::Apply`], which can be
/// skipped) unless it is the database's: a full disk, an I/O error or a lock is the same
/// for every event, and skipping them all would lose the read models.
fn about_the_event(position: Position, source: rusqlite::Error) -> ProjectionError {
    use rusqlite::ErrorCode::*;
    match source.sqlite_error_code() {
        Some(
            DiskFull
            | SystemIoFailure
            | DatabaseBusy
            | DatabaseLocked
            | CannotOpen
            | ReadOnly
            | OutOfMemory
            | DatabaseCorrupt
            | NotADatabase
            | FileLockingProtocolFailed
            | OperationInterrupted,
        ) => ProjectionError::Database(source),
        _ => ProjectionError::Apply { position, source },
    }
}

fn search_ops(
    tx: &rusqlite::Transaction<'_>,
    stored: &StoredEnvelope,
    event: &DomainEvent,
    open: &mut project::Open<'_>,
    ops: &mut Vec<SearchOp>,
) -> rusqlite::Result<()> {
    let h = &stored.envelope.header;
    let subject = stream_subject(stored);
    let (kind, text, at) = match event {
        DomainEvent::InboundMessageReceived { content, sent_at, .. } => {
            ("inbound", content_text(content, open), sent_at.0)
        }
        DomainEvent::PublicCommentReceived { text, sent_at, .. } => ("comment", open(text), sent_at.0),
        DomainEvent::EchoRecorded { body, sent_at, attachments, .. } => {
            ("echo", project::echo_text(body.as_ref(), attachments.as_deref(), open), sent_at.0)
        }
        DomainEvent::ReplySendRequested { body, .. } => ("reply", open(body), h.recorded_at.0),
        DomainEvent::NoteAdded { body, .. } => {
            if let Some(text) = open(body) {
                ops.push(SearchOp::Add(SearchDoc {
                    position: stored.position,
                    partner: h.partner_id.to_string(),
                    channel: String::new(),
                    contact: subject.to_owned(),
                    conversation: String::new(),
                    kind: "note".into(),
                    at: h.recorded_at.0,
                    text,
                }));
            }
            return Ok(());
        }
        DomainEvent::ContactErased { .. } => {
            ops.push(SearchOp::EraseContact(subject.to_owned()));
            return Ok(());
        }
        _ => return Ok(()),
    };
    let Some(text) = text else { return Ok(()) };
    let row: Option<(String, String)> = tx
        .prepare_cached("SELECT contact_id, channel FROM conversations WHERE conversation_id = ?1")?
        .query_row([subject], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if let Some((contact, channel)) = row {
        ops.push(SearchOp::Add(SearchDoc {
            position: stored.position,
            partner: h.partner_id.to_string(),
            channel,
            contact,
            conversation: subject.to_owned(),
            kind: kind.into(),
            at,
            text,
        }));
    }
    Ok(())
}

/// Copies the WAL back into the database file every second (PASSIVE: it never waits
/// for, nor blocks, the writer), so the writer's commits never pay for a checkpoint.
struct Checkpointer {
    stop: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    fn start(conn: Connection) -> Result<Self, ProjectionError> {
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("read-models-checkpoint".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(Duration::from_secs(1))
                {
                    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE);") {
                        tracing::warn!(error = %e, "read-model checkpoint failed; retried");
                    }
                }
                let _ = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);");
            })
            .map_err(|source| ProjectionError::Io { path: "read-models-checkpoint thread".into(), source })?;
        Ok(Self { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.stop.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
