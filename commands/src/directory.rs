//! Which Partner owns a receiving account: (channel, account id) → Partner, built by
//! following the log: the account claim streams (`ChannelAccountClaimed` / `Released`),
//! and the Partners' `ChannelConnected` / `ChannelDisconnected`, which since claims exist
//! are only recorded together with the holder's claim (and in logs from before claims,
//! are all there is).
//!
//! A look-up that misses waits (briefly) until the directory has caught up with the
//! log's head, so a webhook that arrives right after its channel was connected is
//! still routed.
//!
//! Every node keeps its own directory. Under supervision ([`DirectoryProcess`]) it saves
//! its routes with their position as a snapshot of this node, and a restart reads only
//! the log after it.

use crate::error::CommandError;
use crate::ledger::Ledger;
use crate::runtime::poison;
use crate::runtime::{Fence, Process, ProcessContext, ProcessError, Snapshot, Snapshots};
use crate::store::{EventStore, Position, StoredEnvelope};
use crate::subscription::Subscription;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DomainEvent, SkipReason};
use laras_domain::ids::PartnerId;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::watch;

/// The routes and the position they reflect.
#[derive(Default)]
struct Routes {
    to: HashMap<(ChannelKind, String), PartnerId>,
    /// Each Partner's account per channel, so connecting another account drops the old
    /// route even where no claim is there to release (connections from before claims).
    connected: HashMap<(PartnerId, ChannelKind), String>,
    applied: Position,
}

/// A snapshot's shape: tuples as lists, since JSON map keys are text.
#[derive(serde::Serialize, serde::Deserialize)]
struct SavedRoutes {
    to: Vec<(ChannelKind, String, PartnerId)>,
    connected: Vec<(PartnerId, ChannelKind, String)>,
}

impl Routes {
    fn to_bytes(&self) -> Vec<u8> {
        let saved = SavedRoutes {
            to: self.to.iter().map(|((c, a), p)| (*c, a.clone(), *p)).collect(),
            connected: self.connected.iter().map(|((p, c), a)| (*p, *c, a.clone())).collect(),
        };
        serde_json::to_vec(&saved).unwrap_or_default()
    }

    fn from_snapshot(snapshot: &Snapshot) -> Option<Self> {
        let saved: SavedRoutes = serde_json::from_slice(&snapshot.state).ok()?;
        Some(Self {
            to: saved.to.into_iter().map(|(c, a, p)| ((c, a), p)).collect(),
            connected: saved.connected.into_iter().map(|(p, c, a)| ((p, c), a)).collect(),
            applied: snapshot.position,
        })
    }

    /// `partner` now connects `account` on `channel` (None: disconnects it); the account
    /// it had there before stops routing to it.
    fn connect(&mut self, partner: PartnerId, channel: ChannelKind, account: Option<&str>) {
        let previous = match account {
            Some(a) => self.connected.insert((partner, channel), a.to_owned()),
            None => self.connected.remove(&(partner, channel)),
        };
        if let Some(old) = previous.filter(|old| Some(old.as_str()) != account) {
            let route = (channel, old);
            if self.to.get(&route) == Some(&partner) {
                self.to.remove(&route);
            }
        }
    }
}

pub struct ChannelDirectory {
    routes: RwLock<Routes>,
    seen: watch::Sender<Position>,
    store: Arc<dyn EventStore>,
    /// Route events passed over (whoever applied them: the process, `follow` or a
    /// webhook's `catch_up`) whose skip is not recorded yet. While any is here no snapshot
    /// is saved, so a restart never starts past an event it did not record.
    unrecorded: Mutex<BTreeMap<Position, StoredEnvelope>>,
}

impl ChannelDirectory {
    pub fn new(store: Arc<dyn EventStore>) -> Arc<Self> {
        Arc::new(Self {
            routes: RwLock::new(Routes::default()),
            seen: watch::channel(0).0,
            store,
            unrecorded: Mutex::default(),
        })
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The position the routes reflect.
    pub fn position(&self) -> Position {
        self.routes().applied
    }

    /// The routes as a snapshot of this node.
    pub fn snapshot(&self) -> Snapshot {
        let routes = self.routes();
        Snapshot { position: routes.applied, state: routes.to_bytes() }
    }

    /// Takes the routes of `snapshot` when they are ahead of the directory's; false when
    /// the snapshot cannot be read (the directory then reads the log).
    pub fn restore(&self, snapshot: &Snapshot) -> bool {
        let Some(restored) = Routes::from_snapshot(snapshot) else { return false };
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        if restored.applied > routes.applied {
            *routes = restored;
            let applied = routes.applied;
            drop(routes);
            self.seen.send_replace(applied);
        }
        true
    }

    /// Follows the log from where the routes are until `shutdown` resolves.
    pub async fn follow(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) -> Result<(), CommandError> {
        let mut subscription = Subscription::new(self.store.clone(), self.position(), 4096);
        tokio::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                batch = subscription.next_batch() => batch?,
            };
            self.apply(&batch);
        }
    }

    /// Reads the log up to its current head now, whether or not `follow` runs beside it.
    pub async fn catch_up(&self) -> Result<(), CommandError> {
        loop {
            let after = self.routes().applied;
            let batch = self.store.read_all(after, 4096).await?;
            if batch.is_empty() {
                return Ok(());
            }
            self.apply(&batch);
        }
    }

    /// Applies the events past the position already applied (`follow` and `catch_up` may
    /// both read a batch; each event counts once, in log order): whether a route event was
    /// among them. Route events that cannot be read are passed over and kept until their
    /// skip is recorded.
    fn apply(&self, batch: &[StoredEnvelope]) -> bool {
        let mut changed = false;
        let mut undecodable = Vec::new();
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        for stored in batch {
            if stored.position <= routes.applied {
                continue;
            }
            routes.applied = stored.position;
            let h = &stored.envelope.header;
            let kind = h.stream_id.kind();
            if (kind != "partner" && kind != "account") || !h.event_type.starts_with("Channel") {
                continue;
            }
            let (route, partner, holds) = match stored.envelope.event() {
                Ok(DomainEvent::ChannelConnected { channel, account_id, .. }) => {
                    routes.connect(h.partner_id, channel, Some(&account_id));
                    ((channel, account_id), h.partner_id, true)
                }
                Ok(DomainEvent::ChannelAccountClaimed { channel, account_id, partner_id }) => {
                    ((channel, account_id), partner_id, true)
                }
                Ok(DomainEvent::ChannelDisconnected { channel, account_id }) => {
                    routes.connect(h.partner_id, channel, None);
                    ((channel, account_id), h.partner_id, false)
                }
                Ok(DomainEvent::ChannelAccountReleased { channel, account_id, partner_id }) => {
                    ((channel, account_id), partner_id, false)
                }
                Err(_) => {
                    undecodable.push(stored.clone());
                    continue;
                }
                Ok(_) => continue,
            };
            changed = true;
            if holds {
                routes.to.insert(route, partner);
            } else if routes.to.get(&route) == Some(&partner) {
                // Only the holder letting go frees the route.
                routes.to.remove(&route);
            }
        }
        let applied = routes.applied;
        drop(routes);
        if !undecodable.is_empty() {
            let mut unrecorded = self.unrecorded.lock().unwrap_or_else(|p| p.into_inner());
            unrecorded.extend(undecodable.into_iter().map(|stored| (stored.position, stored)));
        }
        self.seen.send_replace(applied);
        changed
    }

    /// The route events passed over whose skip is not recorded yet, oldest first.
    fn unrecorded_skips(&self) -> Vec<StoredEnvelope> {
        self.unrecorded.lock().unwrap_or_else(|p| p.into_inner()).values().cloned().collect()
    }

    fn skip_recorded(&self, position: Position) {
        self.unrecorded.lock().unwrap_or_else(|p| p.into_inner()).remove(&position);
    }

    /// The Partner whose connected channel `account_id` is, waiting up to `patience` for
    /// the directory to catch up with the log when it does not know the account yet.
    pub async fn partner_for(&self, channel: ChannelKind, account_id: &str, patience: Duration) -> Option<PartnerId> {
        let key = (channel, account_id.to_owned());
        if let Some(p) = self.routes().to.get(&key) {
            return Some(*p);
        }
        let head = *self.store.head().borrow();
        let mut seen = self.seen.subscribe();
        let _ = tokio::time::timeout(patience, seen.wait_for(|p| *p >= head)).await;
        self.routes().to.get(&key).copied()
    }

    /// The account's route as of the log's current head: for an account no claim was ever
    /// recorded for, the Partner that connected it before claims existed.
    pub async fn route_now(&self, channel: ChannelKind, account_id: &str) -> Result<Option<PartnerId>, CommandError> {
        self.catch_up().await?;
        Ok(self.routes().to.get(&(channel, account_id.to_owned())).copied())
    }
}

/// The channel directory's process name (its snapshot on this node).
pub const CHANNEL_DIRECTORY: &str = "channel-directory";

/// The directory under a supervisor, on every node (no lease).
pub struct DirectoryProcess {
    pub directory: Arc<ChannelDirectory>,
    /// Records the route events that cannot be read as skipped (once, whichever node sees them).
    pub ledger: Ledger,
    pub snapshots: Arc<dyn Snapshots>,
    /// How often the routes' position is saved when nothing else changes.
    pub save_every: Duration,
}

impl DirectoryProcess {
    /// Records the skips not yet recorded, then saves the routes (never a position past an
    /// unrecorded skip).
    async fn save(&self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        self.record_skips(ctx).await?;
        let snapshot = self.directory.snapshot();
        self.snapshots.save_snapshot(CHANNEL_DIRECTORY, &snapshot, Fence::UNLEASED).await?;
        Ok(())
    }

    async fn record_skips(&self, ctx: &ProcessContext) -> Result<(), ProcessError> {
        for stored in self.directory.unrecorded_skips() {
            poison::skip(&self.ledger, &ctx.status, &stored, SkipReason::Undecodable).await?;
            self.directory.skip_recorded(stored.position);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Process for DirectoryProcess {
    fn name(&self) -> &str {
        CHANNEL_DIRECTORY
    }

    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        if let Some(snapshot) = self.snapshots.load_snapshot(CHANNEL_DIRECTORY).await? {
            if !self.directory.restore(&snapshot) {
                tracing::warn!(process = CHANNEL_DIRECTORY, "the saved routes cannot be read; reading the log again");
            }
        }
        let from = self.directory.position();
        ctx.status.started_from(from);
        let mut subscription = Subscription::new(self.store_handle(), from, 4096);
        let mut save = tokio::time::interval(self.save_every);
        let mut saved = from;
        loop {
            tokio::select! {
                _ = ctx.cancel.cancelled() => break,
                batch = subscription.next_batch() => {
                    let changed = self.directory.apply(&batch?);
                    self.record_skips(&ctx).await?;
                    ctx.status.advanced(self.directory.position());
                    if changed {
                        self.save(&ctx).await?;
                        saved = self.directory.position();
                    }
                }
                _ = save.tick() => {
                    if self.directory.position() > saved || !self.directory.unrecorded_skips().is_empty() {
                        self.save(&ctx).await?;
                        saved = self.directory.position();
                    }
                }
            }
        }
        if self.directory.position() > saved {
            self.save(&ctx).await?;
        }
        Ok(())
    }
}

impl DirectoryProcess {
    fn store_handle(&self) -> Arc<dyn EventStore> {
        self.directory.store.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{ledger_at, onboard_with_channel};
    use laras_domain::time::Timestamp;
    use uuid::Uuid;

    const P: PartnerId = PartnerId(Uuid::from_u128(5));

    #[tokio::test]
    async fn a_restored_snapshot_routes_as_the_log_did_and_a_broken_one_is_refused() {
        let ledger = ledger_at(Timestamp(1_767_225_600_000));
        onboard_with_channel(&ledger, P, ChannelKind::WhatsApp, "acct").await.unwrap();
        let head = *ledger.store.head().borrow();
        let first = ChannelDirectory::new(ledger.store.clone());
        first.catch_up().await.unwrap();
        let snapshot = first.snapshot();
        assert_eq!(snapshot.position, head);

        let second = ChannelDirectory::new(ledger.store.clone());
        assert!(second.restore(&snapshot));
        assert_eq!(second.position(), head);
        assert_eq!(second.partner_for(ChannelKind::WhatsApp, "acct", Duration::ZERO).await, Some(P));
        assert_eq!(second.partner_for(ChannelKind::Messenger, "acct", Duration::ZERO).await, None);

        let third = ChannelDirectory::new(ledger.store.clone());
        assert!(!third.restore(&Snapshot { position: 99, state: b"not routes".to_vec() }));
        assert_eq!(third.position(), 0, "a snapshot that cannot be read changes nothing");
    }
}
