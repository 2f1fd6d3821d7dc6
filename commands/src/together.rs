//! Recording several commands together: one group of appends, one commit.
//!
//! A webhook delivery carries several signals (messages, statuses, reactions). Each used
//! to wait for its own commit. [`record_together`] runs the commands side by side; when
//! every one still running has reached its append, the appends go to the store as one
//! group ([`EventStore::append_each`]): each stays atomic and is checked on its own, so a
//! bad one is refused without its neighbours, and a redelivered one is answered as a
//! duplicate by event id as before. A command whose append lost a race (two signals on
//! one conversation decided on the same version) decides again, as `with_retry` always
//! did, and joins the next group; within a group, appends are ordered as the commands
//! were given, so the first signal of a conversation is the one that lands first.

use crate::store::{AppendOutcome, AppendRequest, EventStore, StoreError};
use std::future::Future;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

tokio::task_local! {
    static SLOT: Slot;
}

#[derive(Clone)]
struct Slot {
    batch: Arc<Batch>,
    index: usize,
}

type Reply = oneshot::Sender<Result<AppendOutcome, StoreError>>;

struct Batch {
    store: Arc<dyn EventStore>,
    state: Mutex<State>,
}

struct State {
    running: usize,
    pending: Vec<(usize, AppendRequest, Reply)>,
}

impl Batch {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The group to flush, once every command still running waits on its append.
    fn ready(state: &mut State) -> Option<Vec<(usize, AppendRequest, Reply)>> {
        (!state.pending.is_empty() && state.pending.len() >= state.running).then(|| std::mem::take(&mut state.pending))
    }

    async fn flush(&self, mut group: Vec<(usize, AppendRequest, Reply)>) {
        group.sort_by_key(|(index, _, _)| *index);
        let (requests, replies): (Vec<_>, Vec<_>) = group.into_iter().map(|(_, r, reply)| (r, reply)).unzip();
        let size = requests.len();
        let results = self.store.append_each(requests).await;
        debug_assert_eq!(results.len(), size);
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }

    async fn submit(&self, index: usize, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        let (reply, answer) = oneshot::channel();
        let group = {
            let mut state = self.lock();
            state.pending.push((index, request, reply));
            Self::ready(&mut state)
        };
        if let Some(group) = group {
            self.flush(group).await;
        }
        answer.await.map_err(|_| StoreError::Closed)?
    }

    async fn finished(&self) {
        let group = {
            let mut state = self.lock();
            state.running -= 1;
            Self::ready(&mut state)
        };
        if let Some(group) = group {
            self.flush(group).await;
        }
    }
}

/// Runs `commands` side by side, their appends grouped as described above; answers each
/// command's result in the order given. Outside it, an append goes to the store alone.
pub async fn record_together<T, F>(store: Arc<dyn EventStore>, commands: Vec<F>) -> Vec<T>
where
    F: Future<Output = T>,
{
    if commands.len() < 2 {
        let mut out = Vec::with_capacity(commands.len());
        for command in commands {
            out.push(command.await);
        }
        return out;
    }
    let batch = Arc::new(Batch { store, state: Mutex::new(State { running: commands.len(), pending: Vec::new() }) });
    let runs = commands.into_iter().enumerate().map(|(index, command)| {
        let batch = batch.clone();
        let slot = Slot { batch: batch.clone(), index };
        async move {
            let out = SLOT.scope(slot, command).await;
            batch.finished().await;
            out
        }
    });
    futures_util::future::join_all(runs).await
}

/// Appends `request`: with the group of [`record_together`] when inside one, else alone.
pub(crate) async fn append(store: &Arc<dyn EventStore>, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
    match SLOT.try_with(Slot::clone) {
        Ok(slot) => slot.batch.submit(slot.index, request).await,
        Err(_) => store.append(request).await,
    }
}
