//! Which Partner owns a receiving account: (channel, account id) → Partner, built from
//! `ChannelConnected` / `ChannelDisconnected` by following the log.
//!
//! A look-up that misses waits (briefly) until the directory has caught up with the
//! log's head, so a webhook that arrives right after its channel was connected is
//! still routed.

use crate::error::CommandError;
use crate::store::{EventStore, Position};
use crate::subscription::Subscription;
use laras_domain::channel::ChannelKind;
use laras_domain::event::DomainEvent;
use laras_domain::ids::PartnerId;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;

type Routes = HashMap<(ChannelKind, String), PartnerId>;

pub struct ChannelDirectory {
    routes: RwLock<Routes>,
    seen: watch::Sender<Position>,
    store: Arc<dyn EventStore>,
}

impl ChannelDirectory {
    pub fn new(store: Arc<dyn EventStore>) -> Arc<Self> {
        Arc::new(Self { routes: RwLock::new(HashMap::new()), seen: watch::channel(0).0, store })
    }

    fn routes(&self) -> std::sync::RwLockReadGuard<'_, Routes> {
        self.routes.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows the log until `shutdown` resolves.
    pub async fn follow(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) -> Result<(), CommandError> {
        let mut subscription = Subscription::new(self.store.clone(), 0, 4096);
        tokio::pin!(shutdown);
        loop {
            let batch = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                batch = subscription.next_batch() => batch?,
            };
            {
                let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
                for stored in &batch {
                    let h = &stored.envelope.header;
                    if h.stream_id.kind() != "partner" || !h.event_type.starts_with("Channel") {
                        continue;
                    }
                    match stored.envelope.event() {
                        Ok(DomainEvent::ChannelConnected { channel, account_id, .. }) => {
                            routes.insert((channel, account_id), h.partner_id);
                        }
                        Ok(DomainEvent::ChannelDisconnected { channel, account_id })
                            if routes.get(&(channel, account_id.clone())) == Some(&h.partner_id) =>
                        {
                            routes.remove(&(channel, account_id));
                        }
                        _ => {}
                    }
                }
            }
            self.seen.send_replace(subscription.position());
        }
    }

    /// The Partner whose connected channel `account_id` is, waiting up to `patience` for
    /// the directory to catch up with the log when it does not know the account yet.
    pub async fn partner_for(&self, channel: ChannelKind, account_id: &str, patience: Duration) -> Option<PartnerId> {
        let key = (channel, account_id.to_owned());
        if let Some(p) = self.routes().get(&key) {
            return Some(*p);
        }
        let head = *self.store.head().borrow();
        let mut seen = self.seen.subscribe();
        let _ = tokio::time::timeout(patience, seen.wait_for(|p| *p >= head)).await;
        self.routes().get(&key).copied()
    }
}
