//! The active ledger signing key, swappable at rotation.

use laras_domain::signing::LedgerSigningKey;
use std::sync::{Arc, RwLock};

/// Holds the key new envelopes are signed with.
pub struct LedgerSigner {
    active: RwLock<Arc<LedgerSigningKey>>,
}

impl LedgerSigner {
    pub fn new(key: LedgerSigningKey) -> Self {
        Self { active: RwLock::new(Arc::new(key)) }
    }

    pub fn active(&self) -> Arc<LedgerSigningKey> {
        match self.active.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Makes `key` the active key (at start-up, after reading the key history).
    pub fn set_active(&self, key: LedgerSigningKey) {
        self.replace(key);
    }

    pub(crate) fn replace(&self, key: LedgerSigningKey) {
        let mut guard = match self.active.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(key);
    }
}
