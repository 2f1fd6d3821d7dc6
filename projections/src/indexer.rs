//! The search indexer: a thread of its own that stages search writes and commits them
//! at its own pace, so a slow index commit never holds up the read-model tables.
//!
//! It commits when writes have waited `COMMIT_EVERY` (longer while the runner catches
//! up), when nothing new came for `IDLE`, and on request (`flush`). Each commit records the ledger position it covers;
//! uncommitted writes lost in a crash are replayed from that position.

use crate::error::ProjectionError;
use crate::search::{SearchIndex, SearchOp};
use laras_commands::store::Position;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::watch;

const COMMIT_EVERY: Duration = Duration::from_millis(500);
/// While catching up, commits (and the segment merges they start) are spaced further apart.
const COMMIT_EVERY_IN_BACKLOG: Duration = Duration::from_secs(10);
const IDLE: Duration = Duration::from_millis(50);
/// Batches in flight before `send` waits: back-pressure on the runner during a rebuild.
const QUEUE: usize = 16;

type Reply = SyncSender<Result<(), String>>;

pub(crate) enum Job {
    /// Writes up to a ledger position; `true` when more of the log is waiting.
    Ops(Vec<SearchOp>, Position, bool),
    Flush(Reply),
    Clear(Reply),
}

pub(crate) struct Indexer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    pub fn start(index: Arc<SearchIndex>, searchable: watch::Sender<Position>) -> Result<Self, ProjectionError> {
        let (jobs, rx) = sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || run(&index, &searchable, &rx))
            .map_err(|source| ProjectionError::Io { path: "search-indexer thread".into(), source })?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    pub fn send(&self, job: Job) -> Result<(), ProjectionError> {
        self.jobs.as_ref().ok_or(ProjectionError::Stopped)?.send(job).map_err(|_| ProjectionError::Stopped)
    }

    /// Sends a job if the queue has room; a full queue hands it back.
    pub fn offer(&self, job: Job) -> Result<Option<Job>, ProjectionError> {
        match self.jobs.as_ref().ok_or(ProjectionError::Stopped)?.try_send(job) {
            Ok(()) => Ok(None),
            Err(TrySendError::Full(job)) => Ok(Some(job)),
            Err(TrySendError::Disconnected(_)) => Err(ProjectionError::Stopped),
        }
    }

    /// Sends a job that answers, and waits for the answer.
    pub fn ask(&self, job: impl FnOnce(Reply) -> Job) -> Result<(), ProjectionError> {
        let (reply, answer) = sync_channel(1);
        self.send(job(reply))?;
        answer.recv().map_err(|_| ProjectionError::Stopped)?.map_err(ProjectionError::Indexer)
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        // Closing the queue makes the thread commit what it has and end.
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(index: &SearchIndex, searchable: &watch::Sender<Position>, rx: &Receiver<Job>) {
    let mut staged = index.checkpoint();
    let mut committed = staged;
    let mut last_commit = Instant::now();
    let mut failed = false;
    let commit = |staged: Position, committed: &mut Position, last_commit: &mut Instant| -> Result<(), String> {
        if staged > *committed {
            index.commit(staged).map_err(|e| e.to_string())?;
            *committed = staged;
            searchable.send_replace(staged);
        }
        *last_commit = Instant::now();
        Ok(())
    };
    loop {
        let result = match rx.recv_timeout(IDLE) {
            Ok(Job::Ops(ops, position, backlog)) => {
                if failed {
                    continue;
                }
                match index.stage(ops) {
                    Ok(()) => staged = position,
                    Err(e) => {
                        // Stop advancing: a restart replays from the last commit.
                        tracing::error!(error = %e, "search indexing failed; search stops advancing");
                        failed = true;
                    }
                }
                let every = if backlog { COMMIT_EVERY_IN_BACKLOG } else { COMMIT_EVERY };
                if last_commit.elapsed() >= every {
                    commit(staged, &mut committed, &mut last_commit)
                } else {
                    Ok(())
                }
            }
            Ok(Job::Flush(reply)) => {
                let _ = reply.send(commit(staged, &mut committed, &mut last_commit));
                Ok(())
            }
            Ok(Job::Clear(reply)) => {
                let cleared = index.clear().map_err(|e| e.to_string());
                if cleared.is_ok() {
                    (staged, committed, failed) = (0, 0, false);
                    searchable.send_replace(0);
                }
                let _ = reply.send(cleared);
                Ok(())
            }
            Err(RecvTimeoutError::Timeout) => commit(staged, &mut committed, &mut last_commit),
            Err(RecvTimeoutError::Disconnected) => {
                if let Err(e) = commit(staged, &mut committed, &mut last_commit) {
                    tracing::error!(error = %e, "final search commit failed");
                }
                return;
            }
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "search commit failed; it is retried");
        }
    }
}
