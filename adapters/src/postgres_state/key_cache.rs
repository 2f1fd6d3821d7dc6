//! This node's memory of unwrapped contact keys, trusted only while it hears every erasure.
//!
//! Another node may erase a contact at any moment, and a key it destroyed must leave this
//! node's memory too. So each erasure's transaction sends `NOTIFY laras_keys, '<contact>'`
//! (delivered when it commits), and a listener here forgets that contact's keys. The cache
//! answers only while the listener is connected: before it has said `LISTEN`, or after its
//! connection fails, every lookup goes to the table, and reconnecting starts from empty.
//! A lookup's answer is remembered only if no erasure was heard while it was in flight
//! (the epoch), so a key read just before another node destroyed it is not kept.
//!
//! What remains is the notification's own delay (a commit's delivery to a listening
//! session, milliseconds): a seal or open in that window behaves as one that ran just
//! before the erasure committed, which an uncached lookup could do as well.

use crate::postgres_log::Listening;
use laras_domain::ids::{ContactId, DataKeyId};
use laras_domain::sealed::SecretKey;
use std::collections::HashMap;
use std::sync::{Mutex, Weak};
use std::time::Duration;
use uuid::Uuid;

/// The channel on which erasures announce the contact whose keys they destroyed.
pub(crate) const ERASURES: &str = "laras_keys";

#[derive(Default)]
pub(crate) struct KeyCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    listening: bool,
    /// Moves on every erasure heard and every change of `listening`.
    epoch: u64,
    live: HashMap<ContactId, DataKeyId>,
    by_id: HashMap<DataKeyId, (ContactId, SecretKey)>,
}

impl KeyCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch to hand back to [`remember`](Self::remember); None while not listening.
    pub fn epoch(&self) -> Option<u64> {
        let inner = self.inner();
        inner.listening.then_some(inner.epoch)
    }

    pub fn live(&self, contact: ContactId) -> Option<(DataKeyId, SecretKey)> {
        let inner = self.inner();
        if !inner.listening {
            return None;
        }
        let id = inner.live.get(&contact)?;
        Some((*id, inner.by_id.get(id)?.1.clone()))
    }

    pub fn by_id(&self, id: DataKeyId) -> Option<SecretKey> {
        let inner = self.inner();
        inner.listening.then(|| inner.by_id.get(&id).map(|(_, key)| key.clone())).flatten()
    }

    /// Keeps a key read from the table at `epoch`, unless an erasure was heard since.
    pub fn remember(&self, epoch: Option<u64>, contact: ContactId, id: DataKeyId, key: &SecretKey, live: bool) {
        let mut inner = self.inner();
        if !inner.listening || epoch != Some(inner.epoch) {
            return;
        }
        inner.by_id.insert(id, (contact, key.clone()));
        if live {
            inner.live.insert(contact, id);
        }
    }

    /// Forgets every key of `contact` (an erasure here or on another node).
    pub fn forget(&self, contact: ContactId) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.live.remove(&contact);
        inner.by_id.retain(|_, (owner, _)| *owner != contact);
    }

    fn set_listening(&self, listening: bool) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.listening = listening;
        inner.live.clear();
        inner.by_id.clear();
    }
}

/// Hears erasures until the cache is dropped; reconnects after a pause when the
/// connection fails, trusting nothing it held in between.
pub(crate) async fn listen(config: tokio_postgres::Config, cache: Weak<KeyCache>) {
    loop {
        if let Err(e) = hear_erasures(&config, &cache).await {
            tracing::warn!(error = %e, "lost the erasure notifications; contact keys are read from the table until they return");
        }
        match cache.upgrade() {
            Some(cache) => cache.set_listening(false),
            None => return,
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn hear_erasures(config: &tokio_postgres::Config, cache: &Weak<KeyCache>) -> Result<(), tokio_postgres::Error> {
    let mut listening = Listening::start(config, ERASURES).await?;
    // From here on every erasure that commits reaches `payloads`.
    match cache.upgrade() {
        Some(cache) => cache.set_listening(true),
        None => return Ok(()),
    }
    // The store's drop ends the listener (and its session) within a second.
    let mut alive = tokio::time::interval(Duration::from_secs(1));
    loop {
        let heard = tokio::select! {
            heard = listening.payloads.recv() => heard,
            _ = alive.tick() => if cache.strong_count() == 0 { return Ok(()) } else { continue },
        };
        let Some(payload) = heard else { break };
        let Some(cache) = cache.upgrade() else { return Ok(()) };
        match payload.parse::<Uuid>() {
            Ok(contact) => cache.forget(ContactId(contact)),
            // Not ours to read: trust nothing held.
            Err(_) => cache.set_listening(true),
        }
    }
    listening.end().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listening() -> KeyCache {
        let cache = KeyCache::default();
        cache.set_listening(true);
        cache
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_listening() {
        let cache = KeyCache::default();
        let (c, id, key) = (ContactId(Uuid::new_v4()), DataKeyId(Uuid::new_v4()), SecretKey::from_bytes([1; 32]));
        cache.remember(cache.epoch(), c, id, &key, true);
        assert!(cache.live(c).is_none() && cache.by_id(id).is_none());
        let cache = listening();
        cache.remember(cache.epoch(), c, id, &key, true);
        assert_eq!(cache.live(c).map(|(i, _)| i), Some(id));
        cache.set_listening(false);
        assert!(cache.live(c).is_none() && cache.by_id(id).is_none(), "a lost connection forgets everything");
    }

    #[test]
    fn a_key_read_while_an_erasure_was_heard_is_not_kept() {
        let cache = listening();
        let (c, id, key) = (ContactId(Uuid::new_v4()), DataKeyId(Uuid::new_v4()), SecretKey::from_bytes([1; 32]));
        let before = cache.epoch();
        cache.forget(ContactId(Uuid::new_v4()));
        cache.remember(before, c, id, &key, true);
        assert!(cache.live(c).is_none() && cache.by_id(id).is_none());
    }

    #[test]
    fn forgetting_a_contact_drops_all_its_keys_and_no_others() {
        let cache = listening();
        let (c, other) = (ContactId(Uuid::new_v4()), ContactId(Uuid::new_v4()));
        let (old, new, kept) = (DataKeyId(Uuid::new_v4()), DataKeyId(Uuid::new_v4()), DataKeyId(Uuid::new_v4()));
        let key = SecretKey::from_bytes([2; 32]);
        cache.remember(cache.epoch(), c, old, &key, false);
        cache.remember(cache.epoch(), c, new, &key, true);
        cache.remember(cache.epoch(), other, kept, &key, true);
        cache.forget(c);
        assert!(cache.live(c).is_none() && cache.by_id(old).is_none() && cache.by_id(new).is_none());
        assert_eq!(cache.live(other).map(|(i, _)| i), Some(kept));
    }
}
