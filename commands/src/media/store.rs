//! The media store port: sealed files, named by the SHA-256 of their sealed bytes, kept
//! under their Partner and contact so an erasure can delete a contact's files at once.
//!
//! The operations are those of an S3-compatible object store (PUT of a whole object,
//! ranged GET, HEAD, DELETE, list-and-delete by prefix `partner/contact/`), so a bucket can back
//! it as well as the embedded folder. Only sealed bytes ever reach a backend.

use async_trait::async_trait;
use laras_domain::ids::{ContactId, PartnerId};
use std::ops::Range;

#[derive(Debug, thiserror::Error)]
pub enum MediaStoreError {
    #[error("the media store failed: {0}")]
    Io(String),
    #[error("the stored object does not match its name")]
    Corrupt,
}

/// Where one sealed file is kept.
#[derive(Clone, PartialEq, Eq, Debug, Hash)]
pub struct MediaObject {
    pub partner: PartnerId,
    pub contact: ContactId,
    /// SHA-256 (lowercase hex) of the sealed bytes.
    pub name: String,
}

impl MediaObject {
    /// The object's key in a bucket or folder: `partner/contact/name`.
    pub fn key(&self) -> String {
        format!("{}/{}/{}", self.partner.0, self.contact.0, self.name)
    }

    /// Whether `name` can be a content address (and so never walks out of a folder).
    pub fn is_valid_name(name: &str) -> bool {
        name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }
}

#[async_trait]
pub trait MediaStore: Send + Sync + 'static {
    /// Keeps `sealed` durably under `object` (named by its content) before returning.
    /// Putting the same object again keeps one copy; a reader never sees part of one.
    async fn put(&self, object: &MediaObject, sealed: &[u8]) -> Result<(), MediaStoreError>;

    /// The sealed object's length; None when it is not kept (or was deleted).
    async fn len(&self, object: &MediaObject) -> Result<Option<u64>, MediaStoreError>;

    /// Bytes `range` of the sealed object (cut at its end); None when it is not kept.
    async fn read(&self, object: &MediaObject, range: Range<u64>) -> Result<Option<Vec<u8>>, MediaStoreError>;

    /// Deletes one object (a reply's file that was refused before anything named it);
    /// answers whether it was kept.
    async fn delete(&self, object: &MediaObject) -> Result<bool, MediaStoreError>;

    /// Deletes every object kept for the contact; returns how many were deleted.
    async fn delete_contact(&self, partner: PartnerId, contact: ContactId) -> Result<usize, MediaStoreError>;
}
