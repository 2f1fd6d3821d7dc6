//! Files sealed with the contact's data key on the way into the media store, and opened
//! on the way out. Once the contact is erased its key is gone, so its files open for
//! no one, even before the erasure deletes them.

use super::store::{MediaObject, MediaStore, MediaStoreError};
use crate::keys::{ContactKeys, KeyError};
use laras_domain::ids::{ContactId, DataKeyId, PartnerId};
use laras_domain::media::{seal_blob, BlobError, BlobHeader};
use laras_domain::sealed::SecretKey;
use sha2::{Digest, Sha256};
use std::ops::Range;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    Store(#[from] MediaStoreError),
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The stored bytes do not open: tampered with or damaged at rest.
    #[error("a stored file does not open: {0}")]
    Damaged(#[from] BlobError),
}

/// The media store with the contact keys: what handlers and the server use.
#[derive(Clone)]
pub struct MediaVault {
    pub store: Arc<dyn MediaStore>,
    pub keys: Arc<dyn ContactKeys>,
}

/// A kept file whose key is still there, ready to be read.
pub struct OpenedMedia {
    object: MediaObject,
    header: BlobHeader,
    key: SecretKey,
}

impl OpenedMedia {
    /// The file's own length (not the sealed one).
    pub fn len(&self) -> u64 {
        self.header.len
    }

    pub fn is_empty(&self) -> bool {
        self.header.len == 0
    }
}

/// Reads of a sealed file are made in pieces of this many chunks.
const CHUNKS_PER_READ: u64 = 16;

impl MediaVault {
    /// Seals `plaintext` with the data key `key` and keeps it; returns the object's name.
    /// None when the key was destroyed (the contact was erased): nothing is kept.
    pub async fn keep(
        &self,
        partner: PartnerId,
        contact: ContactId,
        key: DataKeyId,
        plaintext: &[u8],
    ) -> Result<Option<String>, VaultError> {
        let Some(secret) = self.keys.data_key(key)? else { return Ok(None) };
        let sealed = seal_blob(key, &secret, plaintext, &mut rand::rngs::OsRng);
        let name = hex::encode(Sha256::digest(&sealed));
        self.store.put(&MediaObject { partner, contact, name: name.clone() }, &sealed).await?;
        // An erasure that ran while this file was being sealed deleted the files it saw;
        // this one came after, so it goes the same way.
        if self.keys.data_key(key)?.is_none() {
            self.discard_contact(partner, contact).await?;
            return Ok(None);
        }
        Ok(Some(name))
    }

    /// Deletes one kept file; false when it was not kept.
    pub async fn discard(&self, object: &MediaObject) -> Result<bool, VaultError> {
        Ok(self.store.delete(object).await?)
    }

    /// Deletes every file kept for a contact; answers how many there were.
    pub async fn discard_contact(&self, partner: PartnerId, contact: ContactId) -> Result<usize, VaultError> {
        Ok(self.store.delete_contact(partner, contact).await?)
    }

    /// The kept file, if it is kept and its key still exists.
    pub async fn open(&self, object: &MediaObject) -> Result<Option<OpenedMedia>, VaultError> {
        let Some(head) = self.store.read(object, 0..BlobHeader::LEN as u64).await? else { return Ok(None) };
        let header = BlobHeader::parse(&head)?;
        let Some(key) = self.keys.data_key(header.key)? else { return Ok(None) };
        Ok(Some(OpenedMedia { object: object.clone(), header, key }))
    }

    /// The file's bytes `range` (inside the file), opened chunk by chunk. None when the
    /// object was deleted since it was opened.
    pub async fn read(&self, opened: &OpenedMedia, range: Range<u64>) -> Result<Option<Vec<u8>>, VaultError> {
        let header = &opened.header;
        let chunks = header.chunks_for(&range)?;
        let mut out = Vec::with_capacity((range.end - range.start) as usize);
        let mut i = chunks.start;
        while i < chunks.end {
            let last = (i + CHUNKS_PER_READ).min(chunks.end);
            let (from, _) = header.chunk_span(i);
            let (to_at, to_len) = header.chunk_span(last - 1);
            let Some(sealed) = self.store.read(&opened.object, from..to_at + to_len).await? else { return Ok(None) };
            let mut at = 0usize;
            for c in i..last {
                let len = header.chunk_span(c).1 as usize;
                let piece = sealed.get(at..at + len).ok_or(BlobError::Unopenable)?;
                let plain = header.open_chunk(&opened.key, c, piece)?;
                let base = c * laras_domain::media::BLOB_CHUNK;
                let lo = range.start.saturating_sub(base) as usize;
                let hi = ((range.end - base) as usize).min(plain.len());
                out.extend_from_slice(&plain[lo..hi]);
                at += len;
            }
            i = last;
        }
        Ok(Some(out))
    }
}
