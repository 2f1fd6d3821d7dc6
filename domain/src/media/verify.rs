//! The checks a fetched file passes before it is kept: its size within the limit for its
//! kind, its SHA-256 equal to the platform's, its bytes agreeing with the declared type,
//! and that type one its kind of attachment may be.

use super::{check_type, probe, MediaKind, Probe, TypeVerdict};
use crate::event::MediaUnavailableReason;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A file that passed every check.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CheckedFile {
    pub sha256: [u8; 32],
    pub size: u64,
    pub mime: String,
    pub probe: Probe,
}

/// A SHA-256 as platforms write it: 64 hex digits, or base64 (WhatsApp's webhooks).
pub fn parse_sha256(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 { hex::decode(text).ok()? } else { STANDARD.decode(text).ok()? };
    bytes.try_into().ok()
}

/// Checks `bytes`, fetched for an attachment of `kind` that the platform declared as
/// `declared` with the SHA-256 `expected` (when it gave one).
pub fn check_file(
    kind: MediaKind,
    declared: Option<&str>,
    expected: Option<&str>,
    limit: u64,
    bytes: &[u8],
) -> Result<CheckedFile, MediaUnavailableReason> {
    let size = bytes.len() as u64;
    if size > limit {
        return Err(MediaUnavailableReason::TooLarge { limit });
    }
    if size == 0 {
        return Err(MediaUnavailableReason::Truncated);
    }
    let sha256: [u8; 32] = Sha256::digest(bytes).into();
    // A hash that cannot be read cannot vouch for the file either.
    if expected.is_some_and(|e| parse_sha256(e) != Some(sha256)) {
        return Err(MediaUnavailableReason::HashMismatch);
    }
    let TypeVerdict::Verified(mime) = check_type(declared, bytes) else {
        return Err(MediaUnavailableReason::TypeMismatch);
    };
    if !kind.admits(&mime) {
        return Err(MediaUnavailableReason::TypeMismatch);
    }
    let probe = probe(&mime, bytes);
    Ok(CheckedFile { sha256, size, mime, probe })
}
