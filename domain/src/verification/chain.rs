//! Per-stream hash chains: versions 0, 1, 2, … in position order, each linking to the last.

use super::FailureKind;
use crate::envelope::{EnvelopeHeader, Hash32, ZERO_HASH};
use std::collections::HashMap;

#[derive(Default)]
pub struct ChainChecker {
    heads: HashMap<String, (u64, Hash32)>,
}

impl ChainChecker {
    /// Checks the next envelope (in position order) and remembers its hash.
    pub fn check(&mut self, header: &EnvelopeHeader, hash: Hash32) -> Result<(), FailureKind> {
        let stream = header.stream_id.as_str();
        let (expected, prev) = match self.heads.get(stream) {
            None => (0, ZERO_HASH),
            Some((v, h)) => (v + 1, *h),
        };
        if header.stream_version != expected {
            return Err(FailureKind::VersionGap { stream: stream.to_owned(), expected, found: header.stream_version });
        }
        if header.prev_hash != prev {
            return Err(FailureKind::ChainBroken { stream: stream.to_owned(), version: header.stream_version });
        }
        self.heads.insert(stream.to_owned(), (expected, hash));
        Ok(())
    }

    pub fn streams(&self) -> usize {
        self.heads.len()
    }
}
