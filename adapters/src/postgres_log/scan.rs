//! A synchronous, paged walk over the whole log, for the verifier and exporters.

use super::PgEventStore;
use laras_commands::store::{EventStore, StoreError, StoredEnvelope};
use std::sync::mpsc::{sync_channel, Receiver};

const PAGE: usize = 4096;

/// Every envelope in position order, read on a thread (and runtime) of its own so that
/// synchronous callers may use it from anywhere.
pub struct PgLogScan {
    pages: Receiver<Result<Vec<StoredEnvelope>, StoreError>>,
    page: std::vec::IntoIter<StoredEnvelope>,
    done: bool,
}

impl PgLogScan {
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let url = url.to_owned();
        let (tx, pages) = sync_channel(2);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        std::thread::Builder::new()
            .name("laras-log-scan".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let store = match PgEventStore::open(&url).await {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    };
                    let mut after = 0;
                    loop {
                        let page = store.read_all(after, PAGE).await;
                        let last = page.as_ref().ok().and_then(|p| p.last().map(|s| s.position));
                        let end = !matches!(&page, Ok(p) if p.len() == PAGE);
                        if tx.send(page).is_err() || end {
                            break;
                        }
                        after = last.unwrap_or(after);
                    }
                    store.close().await;
                })
            })
            .map_err(|e| StoreError::Storage(e.to_string()))?;
        Ok(Self { pages, page: Vec::new().into_iter(), done: false })
    }
}

impl PgLogScan {
    /// The log's head (its event count: positions are gap-free), from any caller.
    pub fn head(url: &str) -> Result<u64, StoreError> {
        let url = url.to_owned();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StoreError::Storage(e.to_string()))?;
            runtime.block_on(async move {
                let store = PgEventStore::open(&url).await?;
                let head = *store.head().borrow();
                store.close().await;
                Ok(head)
            })
        })
        .join()
        .map_err(|_| StoreError::Storage("the head reader failed".into()))?
    }
}

impl Iterator for PgLogScan {
    type Item = Result<StoredEnvelope, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.page.next() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            match self.pages.recv() {
                Ok(Ok(page)) => {
                    self.done = page.len() < PAGE;
                    self.page = page.into_iter();
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Err(_) => {
                    self.done = true;
                    return Some(Err(StoreError::Closed));
                }
            }
        }
    }
}
