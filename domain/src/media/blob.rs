//! A media file sealed at rest: the contact's data key, XChaCha20-Poly1305 (the AEAD of
//! every sealed field), in chunks, so a range request opens only the chunks it needs.
//!
//! Layout: `lmb1` ‖ data key id (16) ‖ nonce prefix (16) ‖ plaintext length (u64, BE) ‖
//! chunks. Chunk `i` seals up to [`BLOB_CHUNK`] bytes under nonce prefix ‖ `i` (u64, BE);
//! its associated data binds the key id, the whole length and `i`, so chunks cannot be
//! reordered, moved between files, or cut off without the open failing.

use crate::ids::DataKeyId;
use crate::sealed::SecretKey;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use std::ops::Range;

const MAGIC: &[u8; 4] = b"lmb1";
const AAD_LABEL: &[u8] = b"laras.media.v1";
const TAG: u64 = 16;
/// Plaintext bytes per sealed chunk.
pub const BLOB_CHUNK: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BlobError {
    #[error("not a sealed media file")]
    Malformed,
    #[error("a chunk does not open with its data key (tampered, cut off, or the wrong key)")]
    Unopenable,
    #[error("the range lies outside the file")]
    OutOfRange,
}

/// What the first [`BlobHeader::LEN`] bytes of a sealed file say.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BlobHeader {
    pub key: DataKeyId,
    nonce_prefix: [u8; 16],
    /// The plaintext's length.
    pub len: u64,
}

impl BlobHeader {
    pub const LEN: usize = 4 + 16 + 16 + 8;

    pub fn parse(bytes: &[u8]) -> Result<Self, BlobError> {
        let head = bytes.get(..Self::LEN).ok_or(BlobError::Malformed)?;
        if &head[..4] != MAGIC {
            return Err(BlobError::Malformed);
        }
        let key = uuid::Uuid::from_slice(&head[4..20]).map_err(|_| BlobError::Malformed)?;
        let mut nonce_prefix = [0; 16];
        nonce_prefix.copy_from_slice(&head[20..36]);
        let len = u64::from_be_bytes(head[36..44].try_into().map_err(|_| BlobError::Malformed)?);
        Ok(Self { key: DataKeyId(key), nonce_prefix, len })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.key.0.as_bytes());
        out.extend_from_slice(&self.nonce_prefix);
        out.extend_from_slice(&self.len.to_be_bytes());
    }

    /// How many chunks follow the header (an empty file has one, of only a tag).
    pub fn chunk_count(&self) -> u64 {
        self.len.div_ceil(BLOB_CHUNK).max(1)
    }

    /// The sealed file's whole length.
    pub fn sealed_len(&self) -> u64 {
        Self::LEN as u64 + self.len + TAG * self.chunk_count()
    }

    /// Where chunk `i` lies in the sealed file, and how long it is.
    pub fn chunk_span(&self, i: u64) -> (u64, u64) {
        let plain = BLOB_CHUNK.min(self.len.saturating_sub(i * BLOB_CHUNK));
        (Self::LEN as u64 + i * (BLOB_CHUNK + TAG), plain + TAG)
    }

    /// The chunks that hold the plaintext bytes `range` (which must be inside the file).
    pub fn chunks_for(&self, range: &Range<u64>) -> Result<Range<u64>, BlobError> {
        if range.start >= range.end || range.end > self.len {
            return Err(BlobError::OutOfRange);
        }
        Ok(range.start / BLOB_CHUNK..(range.end - 1) / BLOB_CHUNK + 1)
    }

    fn nonce(&self, i: u64) -> [u8; 24] {
        let mut n = [0; 24];
        n[..16].copy_from_slice(&self.nonce_prefix);
        n[16..].copy_from_slice(&i.to_be_bytes());
        n
    }

    fn aad(&self, i: u64) -> Vec<u8> {
        let mut aad = AAD_LABEL.to_vec();
        aad.extend_from_slice(self.key.0.as_bytes());
        aad.extend_from_slice(&self.len.to_be_bytes());
        aad.extend_from_slice(&i.to_be_bytes());
        aad
    }

    /// Opens chunk `i` (its sealed bytes as [`BlobHeader::chunk_span`] places them).
    pub fn open_chunk(&self, key: &SecretKey, i: u64, sealed: &[u8]) -> Result<Vec<u8>, BlobError> {
        if i >= self.chunk_count() || sealed.len() as u64 != self.chunk_span(i).1 {
            return Err(BlobError::Unopenable);
        }
        cipher(key)
            .decrypt(XNonce::from_slice(&self.nonce(i)), Payload { msg: sealed, aad: &self.aad(i) })
            .map_err(|_| BlobError::Unopenable)
    }
}

fn cipher(key: &SecretKey) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(key.as_bytes().as_slice().into())
}

/// Seals `plaintext` under the data key `key_id`.
pub fn seal_blob(
    key_id: DataKeyId,
    key: &SecretKey,
    plaintext: &[u8],
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    let mut nonce_prefix = [0; 16];
    rng.fill_bytes(&mut nonce_prefix);
    let header = BlobHeader { key: key_id, nonce_prefix, len: plaintext.len() as u64 };
    let mut out = Vec::with_capacity(header.sealed_len() as usize);
    header.write(&mut out);
    let cipher = cipher(key);
    for i in 0..header.chunk_count() {
        let from = (i * BLOB_CHUNK) as usize;
        let to = (from + BLOB_CHUNK as usize).min(plaintext.len());
        let payload = Payload { msg: &plaintext[from..to], aad: &header.aad(i) };
        // Encryption with a 32-byte key and a 24-byte nonce cannot fail.
        out.extend(cipher.encrypt(XNonce::from_slice(&header.nonce(i)), payload).unwrap_or_default());
    }
    out
}

/// Opens a whole sealed file held in memory.
pub fn open_blob(blob: &[u8], key: &SecretKey) -> Result<Vec<u8>, BlobError> {
    let header = BlobHeader::parse(blob)?;
    if header.len == 0 {
        return open_chunks(blob, key, &header, 0..1);
    }
    open_blob_range(blob, key, 0..header.len)
}

/// Opens the plaintext bytes `range` of a sealed file held in memory.
pub fn open_blob_range(blob: &[u8], key: &SecretKey, range: Range<u64>) -> Result<Vec<u8>, BlobError> {
    let header = BlobHeader::parse(blob)?;
    if blob.len() as u64 != header.sealed_len() {
        return Err(BlobError::Unopenable);
    }
    let chunks = header.chunks_for(&range)?;
    let first = chunks.start;
    let plain = open_chunks(blob, key, &header, chunks)?;
    let skip = (range.start - first * BLOB_CHUNK) as usize;
    Ok(plain[skip..skip + (range.end - range.start) as usize].to_vec())
}

fn open_chunks(blob: &[u8], key: &SecretKey, header: &BlobHeader, chunks: Range<u64>) -> Result<Vec<u8>, BlobError> {
    let mut out = Vec::new();
    for i in chunks {
        let (at, len) = header.chunk_span(i);
        let sealed = blob.get(at as usize..(at + len) as usize).ok_or(BlobError::Unopenable)?;
        out.extend(header.open_chunk(key, i, sealed)?);
    }
    Ok(out)
}
