//! The embedded event store: SQLite in WAL mode with `synchronous=FULL`, one writer
//! thread with group commit, and read-only connections for everything else.

mod row;
mod schema;
mod writer;

pub use row::RowError;
pub use writer::{Metrics, MAX_GROUP};

use async_trait::async_trait;
use laras_commands::store::*;
use laras_domain::stream::StreamId;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::{oneshot, watch};

/// How many appends may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 16 * 1024;
/// How many read-only connections may be open at once (reads beyond wait their turn).
const MAX_READERS: usize = 8;

pub struct SqliteEventStore {
    path: PathBuf,
    jobs: Mutex<Option<SyncSender<writer::Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Shared with the blocking reads, which hand their connection back themselves.
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_permits: Arc<tokio::sync::Semaphore>,
    head: watch::Receiver<Position>,
    metrics: Arc<Metrics>,
}

/// A snapshot of the writer's counters.
#[derive(Clone, Copy, Debug)]
pub struct MetricsSnapshot {
    pub commits: u64,
    pub appends: u64,
}

fn storage(e: rusqlite::Error) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteEventStore {
    /// Opens (creating) the log at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(storage)?;
        schema::configure_writer(&conn).map_err(storage)?;
        let last: i64 =
            conn.query_row("SELECT COALESCE(MAX(position), 0) FROM events", [], |r| r.get(0)).map_err(storage)?;
        let (head_tx, head) = watch::channel(last as Position);
        let (jobs, queue) = mpsc::sync_channel(QUEUE);
        let metrics = Arc::new(Metrics::default());
        let writer_metrics = metrics.clone();
        let writer = std::thread::Builder::new()
            .name("laras-log-writer".into())
            .spawn(move || writer::run(conn, queue, head_tx, writer_metrics))
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        Ok(Self {
            path: path.to_path_buf(),
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            reader_permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            head,
            metrics,
        })
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            commits: self.metrics.commits.load(Ordering::Relaxed),
            appends: self.metrics.appends.load(Ordering::Relaxed),
        }
    }

    /// Stops taking appends, commits what is queued and joins the writer.
    pub async fn close(&self) {
        drop(lock(&self.jobs).take());
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    fn open_reader(path: &Path) -> Result<Connection, StoreError> {
        let conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
                .map_err(storage)?;
        schema::configure_reader(&conn).map_err(storage)?;
        Ok(conn)
    }

    /// Runs `f` on a pooled read-only connection, off the async threads.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = self.reader_permits.clone().acquire_owned().await.map_err(|_| StoreError::Closed)?;
        let (readers, path) = (self.readers.clone(), self.path.clone());
        // The permit and the connection go back from the blocking thread, not from this
        // future: a caller that gives up (a `select!` taking another branch) would
        // otherwise drop a pooled connection with the answer, and the next read would pay
        // for opening one and parsing the schema again.
        tokio::task::spawn_blocking(move || {
            let result = on_pooled(&readers, &path, f);
            drop(permit);
            result
        })
        .await
        .map_err(|e| StoreError::Storage(e.to_string()))?
    }

    /// Runs `f` on a pooled connection on the calling thread, for reads that are one
    /// indexed lookup of a few rows, answered from pages SQLite or the OS has cached:
    /// handing those to the blocking pool costs more (two thread wake-ups) than the read.
    fn read_here<T>(&self, f: impl FnOnce(&Connection) -> Result<T, StoreError>) -> Result<T, StoreError> {
        on_pooled(&self.readers, &self.path, f)
    }

    /// Every envelope in position order, read in pages on a connection of its own.
    /// Synchronous, for the verifier and exporters; a tampered row is an `Err` item.
    pub fn scan(path: &Path) -> Result<LogScan, StoreError> {
        Ok(LogScan { conn: Self::open_reader(path)?, after: 0, page: Vec::new().into_iter(), done: false })
    }

    /// How many envelopes the log at `path` holds.
    pub fn count(path: &Path) -> Result<u64, StoreError> {
        let conn = Self::open_reader(path)?;
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).map_err(storage)?;
        Ok(n as u64)
    }
}

impl Drop for SqliteEventStore {
    fn drop(&mut self) {
        // Dropping the sender lets the writer finish the queue; joining waits for it.
        drop(lock(&self.jobs).take());
        if let Some(handle) = lock(&self.writer).take() {
            let _ = handle.join();
        }
    }
}

/// Runs `f` on a pooled read-only connection (opening one when none is free) and puts
/// it back, on the calling thread.
fn on_pooled<T>(
    readers: &Mutex<Vec<Connection>>,
    path: &Path,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let pooled = lock(readers).pop();
    let conn = match pooled {
        Some(c) => c,
        None => SqliteEventStore::open_reader(path)?,
    };
    let result = f(&conn);
    lock(readers).push(conn);
    result
}

fn rows(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<StoredEnvelope>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(storage)?;
    let mut rows = stmt.query(params).map_err(storage)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(storage)? {
        out.push(row::envelope_from_row(row).map_err(|e| StoreError::Storage(e.to_string()))?);
    }
    Ok(out)
}

#[async_trait]
impl EventStore for SqliteEventStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        self.append_each(vec![request]).await.pop().unwrap_or(Err(StoreError::Closed))
    }

    async fn append_each(&self, requests: Vec<AppendRequest>) -> Vec<Result<AppendOutcome, StoreError>> {
        let n = requests.len();
        if n == 0 {
            return Vec::new();
        }
        let answer = async {
            let jobs = lock(&self.jobs).clone().ok_or(StoreError::Closed)?;
            let (reply, answer) = oneshot::channel();
            let job = writer::Job { requests, reply };
            match jobs.try_send(job) {
                Ok(()) => {}
                // The queue is bounded; waiting for room happens off the async threads.
                Err(mpsc::TrySendError::Full(job)) => tokio::task::spawn_blocking(move || jobs.send(job))
                    .await
                    .map_err(|e| StoreError::Storage(e.to_string()))?
                    .map_err(|_| StoreError::Closed)?,
                Err(mpsc::TrySendError::Disconnected(_)) => return Err(StoreError::Closed),
            }
            answer.await.map_err(|_| StoreError::Closed)
        };
        match answer.await {
            Ok(results) => results,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<StoredEnvelope>, StoreError> {
        let stream = stream.as_str().to_owned();
        let read = move |c: &Connection| {
            let sql = format!(
                "SELECT {} FROM events WHERE stream_id = ?1 AND stream_version >= ?2 ORDER BY stream_version",
                schema::COLUMNS
            );
            rows(c, &sql, rusqlite::params![stream, from_version as i64])
        };
        if from_version > 0 {
            // A tail after a version the caller holds (a cached aggregate's).
            return self.read_here(read);
        }
        self.read(read).await
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        let stream = stream.as_str().to_owned();
        self.read(move |c| {
            let row: Option<(i64, Vec<u8>)> = c
                .prepare_cached(
                    "SELECT stream_version, hash FROM events WHERE stream_id = ?1 ORDER BY stream_version DESC LIMIT 1",
                )
                .and_then(|mut s| s.query_row([stream], |r| Ok((r.get(0)?, r.get(1)?))).optional())
                .map_err(storage)?;
            Ok(match row {
                None => None,
                Some((version, hash)) => Some(StreamHead {
                    version: version as u64,
                    hash: hash.try_into().map_err(|_| StoreError::Storage("a stored hash is malformed".into()))?,
                }),
            })
        })
        .await
    }

    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<StoredEnvelope>, StoreError> {
        self.read(move |c| {
            let sql = format!("SELECT {} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2", schema::COLUMNS);
            rows(c, &sql, rusqlite::params![after as i64, limit as i64])
        })
        .await
    }

    fn head(&self) -> watch::Receiver<Position> {
        self.head.clone()
    }
}

/// A synchronous, paged walk over the whole log (see [`SqliteEventStore::scan`]).
pub struct LogScan {
    conn: Connection,
    after: i64,
    page: std::vec::IntoIter<Result<StoredEnvelope, RowError>>,
    done: bool,
}

const SCAN_PAGE: i64 = 4096;

impl LogScan {
    fn fill(&mut self) -> Result<(), StoreError> {
        let sql = format!("SELECT {} FROM events WHERE position > ?1 ORDER BY position LIMIT ?2", schema::COLUMNS);
        let mut stmt = self.conn.prepare_cached(&sql).map_err(storage)?;
        let mut rows = stmt.query(rusqlite::params![self.after, SCAN_PAGE]).map_err(storage)?;
        let mut page = Vec::new();
        while let Some(r) = rows.next().map_err(storage)? {
            let position: i64 = r.get(0).map_err(storage)?;
            self.after = position;
            page.push(row::envelope_from_row(r));
        }
        self.done = (page.len() as i64) < SCAN_PAGE;
        self.page = page.into_iter();
        Ok(())
    }
}

impl Iterator for LogScan {
    type Item = Result<StoredEnvelope, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.page.next() {
                return Some(item.map_err(|e| StoreError::Storage(e.to_string())));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.fill() {
                self.done = true;
                return Some(Err(e));
            }
        }
    }
}
