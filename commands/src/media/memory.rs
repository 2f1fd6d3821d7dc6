//! The media store in memory, for tests.

use super::store::{MediaObject, MediaStore, MediaStoreError};
use async_trait::async_trait;
use laras_domain::ids::{ContactId, PartnerId};
use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
pub struct MemoryMediaStore {
    objects: Arc<Mutex<BTreeMap<String, Arc<Vec<u8>>>>>,
}

impl MemoryMediaStore {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Vec<u8>>>> {
        self.objects.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many objects are kept (for tests).
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

#[async_trait]
impl MediaStore for MemoryMediaStore {
    async fn put(&self, object: &MediaObject, sealed: &[u8]) -> Result<(), MediaStoreError> {
        self.lock().entry(object.key()).or_insert_with(|| Arc::new(sealed.to_vec()));
        Ok(())
    }

    async fn len(&self, object: &MediaObject) -> Result<Option<u64>, MediaStoreError> {
        Ok(self.lock().get(&object.key()).map(|b| b.len() as u64))
    }

    async fn read(&self, object: &MediaObject, range: Range<u64>) -> Result<Option<Vec<u8>>, MediaStoreError> {
        let Some(bytes) = self.lock().get(&object.key()).cloned() else { return Ok(None) };
        let end = (range.end as usize).min(bytes.len());
        let start = (range.start as usize).min(end);
        Ok(Some(bytes[start..end].to_vec()))
    }

    async fn delete(&self, object: &MediaObject) -> Result<bool, MediaStoreError> {
        Ok(self.lock().remove(&object.key()).is_some())
    }

    async fn delete_contact(&self, partner: PartnerId, contact: ContactId) -> Result<usize, MediaStoreError> {
        let prefix = format!("{}/{}/", partner.0, contact.0);
        let mut objects = self.lock();
        let before = objects.len();
        objects.retain(|k, _| !k.starts_with(&prefix));
        Ok(before - objects.len())
    }
}
