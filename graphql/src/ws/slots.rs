//! Operations open at once per API key, across all of the key's sockets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct SubscriptionSlots(Mutex<HashMap<String, usize>>);

/// One open operation of a key; dropping it frees the slot.
pub struct Slot {
    slots: Arc<SubscriptionSlots>,
    key: String,
}

impl SubscriptionSlots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A slot for `key`, unless it already holds `max`.
    pub fn take(self: &Arc<Self>, key: &str, max: usize) -> Option<Slot> {
        let mut open = self.lock();
        let count = open.entry(key.to_owned()).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(Slot { slots: self.clone(), key: key.to_owned() })
    }

    pub fn open(&self, key: &str) -> usize {
        self.lock().get(key).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.slots.lock();
        if let Some(count) = open.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_holds_at_most_its_slots_and_a_dropped_slot_is_free_again() {
        let slots = Arc::new(SubscriptionSlots::default());
        let held: Vec<_> = (0..3).map(|_| slots.take("k", 3).expect("slot")).collect();
        assert!(slots.take("k", 3).is_none());
        assert!(slots.take("other", 3).is_some(), "another key has its own slots");
        drop(held);
        assert_eq!(slots.open("k"), 0);
        assert!(slots.take("k", 3).is_some());
    }
}
