//! Appending leaves in O(log n): the right edge of perfect subtrees.

use super::{empty_root, node_hash, NodeHash};
use serde::{Deserialize, Serialize};

/// A perfect subtree completed by an append: level 0 is a leaf hash; the node at
/// (level, index) covers leaves `[index · 2^level, (index + 1) · 2^level)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CompletedNode {
    pub level: u32,
    pub index: u64,
    pub hash: NodeHash,
}

/// The roots of the perfect subtrees along the right edge, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, from the highest bit to the lowest.
    peaks: Vec<NodeHash>,
}

impl Frontier {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash; returns every perfect subtree this completed (leaf first).
    pub fn push(&mut self, leaf: NodeHash) -> Vec<CompletedNode> {
        let mut completed = vec![CompletedNode { level: 0, index: self.size, hash: leaf }];
        let mut hash = leaf;
        let mut level = 0u32;
        let mut index = self.size;
        // Each trailing one bit of the old size is a peak that merges with the new one.
        while (self.size >> level) & 1 == 1 {
            let left = self.peaks.pop().unwrap_or(hash);
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push(CompletedNode { level, index, hash });
        }
        self.peaks.push(hash);
        self.size += 1;
        completed
    }

    /// The frontier of a stored tree of `size` leaves, from its perfect subtrees: one per
    /// set bit of `size`, highest first (no recompute of anything below them).
    pub fn restore(size: u64, src: &impl super::NodeSource) -> Result<Self, super::MerkleError> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u32).rev() {
            if (size >> level) & 1 == 1 {
                peaks.push(src.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        Ok(Self { size, peaks })
    }

    /// The root of the tree of the current size.
    pub fn root(&self) -> NodeHash {
        let mut peaks = self.peaks.iter().rev();
        let Some(mut acc) = peaks.next().copied() else { return empty_root() };
        for left in peaks {
            acc = node_hash(left, &acc);
        }
        acc
    }
}
