//! The event store on PostgreSQL, for several nodes on one database.
//!
//! Appends go through one writer task per node with group commit (see `writer`); every
//! commit first locks the one-row head table, so commits from all nodes are serialised,
//! positions are gap-free and a later position never becomes visible before an earlier
//! one. `synchronous_commit` is set on for every session of the store, whatever the
//! server's default. Each node's `head` follows commits of every node through
//! `LISTEN`/`NOTIFY`. Reads use a small connection pool. Connections are unencrypted
//! (`NoTls`): the server is expected on localhost or a private network.

mod follow;
pub(crate) use follow::Listening;
mod import;
mod row;
mod scan;
pub(crate) mod schema;
mod stream_reads;
pub mod testing;
mod writer;

pub use import::Imported;
pub use scan::PgLogScan;
pub use writer::{Metrics, MAX_GROUP};

use async_trait::async_trait;
use laras_commands::store::*;
use laras_domain::stream::StreamId;
use std::str::FromStr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The `NOTIFY` channel on which each commit announces its last position.
const CHANNEL: &str = "laras_log";
/// How many appends may wait for the writer before callers wait to enqueue.
const QUEUE: usize = 16 * 1024;
/// Connections for reads and the writer.
const POOL_SIZE: usize = 8;

type HeadSender = Arc<watch::Sender<Position>>;

pub struct PgEventStore {
    pool: deadpool_postgres::Pool,
    jobs: Mutex<Option<mpsc::Sender<writer::Job>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    follower: JoinHandle<()>,
    head: watch::Receiver<Position>,
    metrics: Arc<Metrics>,
    reads: mpsc::Sender<stream_reads::Read>,
}

/// A snapshot of the writer's counters.
#[derive(Clone, Copy, Debug)]
pub struct MetricsSnapshot {
    pub commits: u64,
    pub appends: u64,
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Moves the head forward, never back (notifications and local commits may cross).
fn advance(head: &watch::Sender<Position>, to: Position) {
    head.send_if_modified(|h| {
        let moved = to > *h;
        *h = (*h).max(to);
        moved
    });
}

/// Parses a `postgres://` URL into a session config that commits synchronously.
pub fn config(url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config =
        tokio_postgres::Config::from_str(url).map_err(|e| StoreError::Storage(format!("not a PostgreSQL URL: {e}")))?;
    config.options("-c synchronous_commit=on");
    config.application_name("laras");
    Ok(config)
}

/// Whether `store` names a PostgreSQL database rather than a data dir.
pub fn is_postgres_url(store: &str) -> bool {
    store.starts_with("postgres://") || store.starts_with("postgresql://")
}

pub(crate) async fn connect(config: &tokio_postgres::Config) -> Result<tokio_postgres::Client, StoreError> {
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(storage)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "a log connection ended");
        }
    });
    Ok(client)
}

impl PgEventStore {
    /// Connects, applies migrations (safely when several nodes start at once), and starts
    /// this node's writer and head follower.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let config = config(url)?;
        let mut admin = connect(&config).await?;
        schema::migrate(&mut admin).await.map_err(storage)?;
        let last: i64 = admin.query_one("SELECT position FROM log_head", &[]).await.map_err(storage)?.get(0);
        drop(admin);
        let manager = deadpool_postgres::Manager::from_config(
            config.clone(),
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(manager).max_size(POOL_SIZE).build().map_err(storage)?;
        let (head_tx, head) = watch::channel(last as Position);
        let head_tx = Arc::new(head_tx);
        let (jobs, queue) = mpsc::channel(QUEUE);
        let metrics = Arc::new(Metrics::default());
        let writer = tokio::spawn(writer::run(pool.clone(), queue, head_tx.clone(), metrics.clone()));
        let follower = tokio::spawn(follow::run(config, head_tx));
        let reads = stream_reads::spawn(pool.clone());
        Ok(Self {
            pool,
            jobs: Mutex::new(Some(jobs)),
            writer: Mutex::new(Some(writer)),
            follower,
            head,
            metrics,
            reads,
        })
    }

    /// [`open`](Self::open) taking its URL by value, for spawning.
    pub async fn open_owned(url: String) -> Result<Self, StoreError> {
        Self::open(&url).await
    }

    pub fn metrics(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            commits: self.metrics.commits.load(Ordering::Relaxed),
            appends: self.metrics.appends.load(Ordering::Relaxed),
        }
    }

    /// Stops taking appends and waits until every queued one is answered.
    pub async fn close(&self) {
        drop(lock(&self.jobs).take());
        let handle = lock(&self.writer).take();
        if let Some(handle) = handle {
            let _ = handle.await;
        }
        self.follower.abort();
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool.get().await.map_err(|e| StoreError::Storage(format!("no connection to the log: {e}")))
    }

    async fn rows(
        &self,
        filter: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<StoredEnvelope>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(&row::select(filter)).await.map_err(storage)?;
        let rows = client.query(&statement, params).await.map_err(storage)?;
        rows.iter().map(row::envelope_from_row).collect()
    }
}

impl Drop for PgEventStore {
    fn drop(&mut self) {
        // The writer finishes what is queued on its own once the sender is gone.
        drop(lock(&self.jobs).take());
        self.follower.abort();
    }
}

#[async_trait]
impl EventStore for PgEventStore {
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
            jobs.send(writer::Job { requests, reply }).await.map_err(|_| StoreError::Closed)?;
            answer.await.map_err(|_| StoreError::Closed)
        };
        match answer.await {
            Ok(results) => results,
            Err(e) => (0..n).map(|_| Err(e.clone())).collect(),
        }
    }

    async fn read_stream(&self, stream: &StreamId, from_version: u64) -> Result<Vec<StoredEnvelope>, StoreError> {
        let from_version = i64::try_from(from_version).unwrap_or(i64::MAX);
        let (reply, answer) = oneshot::channel();
        let read = stream_reads::Read { stream: stream.as_str().to_owned(), from_version, reply };
        self.reads.send(read).await.map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT stream_version, hash FROM events WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
            )
            .await
            .map_err(storage)?;
        let Some(row) = client.query_opt(&statement, &[&stream.as_str()]).await.map_err(storage)? else {
            return Ok(None);
        };
        let version: i64 = row.try_get(0).map_err(storage)?;
        let hash: Vec<u8> = row.try_get(1).map_err(storage)?;
        let hash = hash.try_into().map_err(|_| StoreError::Storage("a stored hash is malformed".into()))?;
        Ok(Some(StreamHead { version: version as u64, hash }))
    }

    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<StoredEnvelope>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.rows("WHERE position > $1 ORDER BY position LIMIT $2", &[&(after as i64), &limit]).await
    }

    fn head(&self) -> watch::Receiver<Position> {
        self.head.clone()
    }
}
