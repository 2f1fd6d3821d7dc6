//! A runtime of its own for the shared state's queries, so synchronous ports can wait for
//! PostgreSQL from any thread, inside another runtime or not.

use std::future::Future;
use tokio::runtime::{Builder, Runtime};

pub struct Bridge {
    runtime: Option<Runtime>,
}

/// The bridge's runtime is gone (only while it is being dropped).
#[derive(Debug)]
pub struct BridgeClosed;

impl std::fmt::Display for BridgeClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the shared-state runtime stopped")
    }
}

impl From<BridgeClosed> for super::SharedStateError {
    fn from(e: BridgeClosed) -> Self {
        super::SharedStateError::Storage(e.to_string())
    }
}

impl Bridge {
    pub fn new() -> std::io::Result<Self> {
        let runtime =
            Builder::new_multi_thread().worker_threads(2).thread_name("laras-pg-state").enable_all().build()?;
        Ok(Self { runtime: Some(runtime) })
    }

    fn runtime(&self) -> Result<&Runtime, BridgeClosed> {
        self.runtime.as_ref().ok_or(BridgeClosed)
    }

    /// Runs `work` on the bridge and blocks this thread until it answers. Never call it
    /// from the bridge's own threads.
    pub fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> Result<T, BridgeClosed> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime()?.spawn(async move {
            let _ = tx.send(work.await);
        });
        let wait = || rx.recv().map_err(|_| BridgeClosed);
        // On a caller's multi-threaded runtime, its other tasks move to another worker
        // while this one waits, so many callers wait for the database at once.
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(wait)
            }
            _ => wait(),
        }
    }

    /// Runs `work` on the bridge; the returned future waits for it without blocking.
    pub fn spawn<T: Send + 'static>(
        &self,
        work: impl Future<Output = T> + Send + 'static,
    ) -> impl Future<Output = Result<T, BridgeClosed>> {
        let handle = self.runtime().map(|r| r.spawn(work));
        async move { handle?.await.map_err(|_| BridgeClosed) }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime inside another one panics; letting it go in the background does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
