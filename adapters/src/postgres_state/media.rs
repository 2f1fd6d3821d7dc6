//! Sealed media files in the shared database, so that the node which fetched a photo and
//! the node a Partner's browser asks for it need not be the same one.
//!
//! One row per object (`media_objects`, migration 5). The column is stored out of line and
//! uncompressed (`STORAGE EXTERNAL`): sealed bytes do not compress, and an uncompressed
//! TOAST value lets `substring` read a range (a seek in a voice note) without loading the
//! whole file. A row is written by one statement, so a reader sees all of it or nothing,
//! and it is acknowledged only once committed (`synchronous_commit` stays on).

use super::{storage, PgShared, SharedStateError};
use async_trait::async_trait;
use laras_commands::media::{MediaObject, MediaStore, MediaStoreError};
use laras_domain::ids::{ContactId, PartnerId};
use std::ops::Range;

#[derive(Clone)]
pub struct PgMediaStore {
    shared: PgShared,
}

impl PgMediaStore {
    pub fn new(shared: PgShared) -> Self {
        Self { shared }
    }
}

impl From<SharedStateError> for MediaStoreError {
    fn from(e: SharedStateError) -> Self {
        MediaStoreError::Io(e.to_string())
    }
}

/// `range` as `substring`'s one-based start and length, cut to what a bytea can hold.
fn substring_bounds(range: &Range<u64>) -> (i32, i32) {
    let start = range.start.min(i32::MAX as u64 - 1);
    let len = range.end.saturating_sub(range.start).min(i32::MAX as u64);
    (start as i32 + 1, len as i32)
}

#[async_trait]
impl MediaStore for PgMediaStore {
    async fn put(&self, object: &MediaObject, sealed: &[u8]) -> Result<(), MediaStoreError> {
        if !MediaObject::is_valid_name(&object.name) {
            return Err(MediaStoreError::Corrupt);
        }
        let (partner, contact, name, sealed) =
            (object.partner.0, object.contact.0, object.name.clone(), sealed.to_vec());
        self.shared
            .with_async(move |c| async move {
                // The name is the content's hash: a row already there holds these bytes.
                c.execute(
                    "INSERT INTO media_objects (partner, contact, name, sealed) VALUES ($1, $2, $3, $4)
                     ON CONFLICT DO NOTHING",
                    &[&partner, &contact, &name, &sealed],
                )
                .await
                .map_err(storage)
            })
            .await?;
        Ok(())
    }

    async fn len(&self, object: &MediaObject) -> Result<Option<u64>, MediaStoreError> {
        if !MediaObject::is_valid_name(&object.name) {
            return Ok(None);
        }
        let (partner, contact, name) = (object.partner.0, object.contact.0, object.name.clone());
        let len = self
            .shared
            .with_async(move |c| async move {
                let row = c
                    .query_opt(
                        "SELECT octet_length(sealed)::bigint FROM media_objects
                         WHERE partner = $1 AND contact = $2 AND name = $3",
                        &[&partner, &contact, &name],
                    )
                    .await
                    .map_err(storage)?;
                Ok(row.map(|r| r.get::<_, i64>(0)))
            })
            .await?;
        Ok(len.map(|n| n.max(0) as u64))
    }

    async fn read(&self, object: &MediaObject, range: Range<u64>) -> Result<Option<Vec<u8>>, MediaStoreError> {
        if !MediaObject::is_valid_name(&object.name) {
            return Ok(None);
        }
        let (partner, contact, name) = (object.partner.0, object.contact.0, object.name.clone());
        let (start, len) = substring_bounds(&range);
        let bytes = self
            .shared
            .with_async(move |c| async move {
                let row = c
                    .query_opt(
                        "SELECT substring(sealed FROM $4 FOR $5) FROM media_objects
                         WHERE partner = $1 AND contact = $2 AND name = $3",
                        &[&partner, &contact, &name, &start, &len],
                    )
                    .await
                    .map_err(storage)?;
                Ok(row.map(|r| r.get::<_, Vec<u8>>(0)))
            })
            .await?;
        Ok(bytes)
    }

    async fn delete(&self, object: &MediaObject) -> Result<bool, MediaStoreError> {
        if !MediaObject::is_valid_name(&object.name) {
            return Ok(false);
        }
        let (partner, contact, name) = (object.partner.0, object.contact.0, object.name.clone());
        let deleted = self
            .shared
            .with_async(move |c| async move {
                c.execute(
                    "DELETE FROM media_objects WHERE partner = $1 AND contact = $2 AND name = $3",
                    &[&partner, &contact, &name],
                )
                .await
                .map_err(storage)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn delete_contact(&self, partner: PartnerId, contact: ContactId) -> Result<usize, MediaStoreError> {
        let deleted = self
            .shared
            .with_async(move |c| async move {
                c.execute("DELETE FROM media_objects WHERE partner = $1 AND contact = $2", &[&partner.0, &contact.0])
                    .await
                    .map_err(storage)
            })
            .await?;
        Ok(deleted as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_become_one_based_substrings_cut_to_a_bytea() {
        assert_eq!(substring_bounds(&(0..10)), (1, 10));
        assert_eq!(substring_bounds(&(5_000..5_010)), (5_001, 10));
        assert_eq!(substring_bounds(&(9_990..u64::MAX)), (9_991, i32::MAX));
        assert_eq!(substring_bounds(&Range { start: 7, end: 3 }), (8, 0));
        assert_eq!(substring_bounds(&(u64::MAX - 1..u64::MAX)).0, i32::MAX);
    }
}
