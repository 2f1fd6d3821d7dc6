//! Checking a log: which key may sign when, and whether each stream's chain holds.
//!
//! Pure pieces; the driver that reads the log and spreads signature checks over the
//! cores lives in the adapters. The rules are normative in `docs/audit-format.md`.

mod chain;
mod keyring;
mod unique;

pub use chain::ChainChecker;
pub use keyring::{KeyRing, KeyValidity, KEY_EVENT};
pub use unique::EventIds;

use crate::ids::EventId;
use serde::Serialize;
use std::fmt;

/// What is wrong with an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FailureKind {
    /// The row or envelope cannot be read at all.
    Malformed { detail: String },
    /// A second envelope with an event id the log already holds.
    DuplicateEvent { event_id: String },
    /// The Ed25519 signature does not verify over the canonical bytes.
    BadSignature { key_id: String },
    /// The key id names no key introduced before this position.
    UnknownKey { key_id: String },
    /// The key exists but was not valid at the envelope's `recorded_at`.
    KeyNotValidAt { key_id: String, recorded_at: i64 },
    /// A `SigningKeyRotated` event that does not follow the rules.
    BadKeyEvent { detail: String },
    /// `prev_hash` is not the hash of the previous envelope in the stream.
    ChainBroken { stream: String, version: u64 },
    /// The stream's versions do not run 0, 1, 2, … in position order.
    VersionGap { stream: String, expected: u64, found: u64 },
    /// A bundle ends inside a record, or before the envelopes its tree heads cover.
    Truncated { detail: String },
    /// A bundle of one Partner holds an envelope of another.
    ForeignPartner { partner_id: String },
    /// A tree head's signature does not verify with its key.
    BadTreeHeadSignature { tree_size: u64 },
    /// Two tree heads are not views of one append-only log (a fork).
    InconsistentTreeHeads { first: u64, second: u64 },
    /// A tree head's root is not the root of the bundle's first `tree_size` envelopes.
    RootMismatch { tree_size: u64 },
    /// The bundle's envelopes go beyond its latest tree head.
    NotCovered { envelopes: u64, tree_size: u64 },
    /// A head the auditor kept from earlier that the bundle's history does not extend
    /// (a split view: another tree of that size, or a tree the bundle does not reach).
    InconsistentWithKnownHead { tree_size: u64 },
    /// An erased-contact marker without its `ContactErased` event, or the reverse.
    BadErasureMarker { contact_id: String },
    /// Fewer of the auditor's witnesses than required cosigned the covering tree head.
    NotWitnessed { tree_size: u64, required: u64, found: u64 },
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { detail } => write!(f, "malformed envelope: {detail}"),
            Self::DuplicateEvent { event_id } => write!(f, "a second envelope with event id {event_id}"),
            Self::BadSignature { key_id } => write!(f, "signature does not verify with {key_id}"),
            Self::UnknownKey { key_id } => write!(f, "signed by {key_id}, a key the log never introduced"),
            Self::KeyNotValidAt { key_id, recorded_at } => {
                write!(f, "{key_id} was not valid at {}", crate::time::rfc3339(crate::time::Timestamp(*recorded_at)))
            }
            Self::BadKeyEvent { detail } => write!(f, "invalid key event: {detail}"),
            Self::ChainBroken { stream, version } => {
                write!(f, "chain broken: version {version} of {stream} does not link to the previous envelope")
            }
            Self::VersionGap { stream, expected, found } => {
                write!(f, "stream {stream} expected version {expected}, found {found}")
            }
            Self::Truncated { detail } => write!(f, "truncated: {detail}"),
            Self::ForeignPartner { partner_id } => write!(f, "an envelope of another Partner ({partner_id})"),
            Self::BadTreeHeadSignature { tree_size } => {
                write!(f, "the signature of the tree head of size {tree_size} does not verify")
            }
            Self::InconsistentTreeHeads { first, second } => {
                write!(f, "the tree heads of sizes {first} and {second} are inconsistent (a fork)")
            }
            Self::RootMismatch { tree_size } => {
                write!(f, "the tree head of size {tree_size} has a root that is not the envelopes' root")
            }
            Self::NotCovered { envelopes, tree_size } => {
                write!(f, "{envelopes} envelopes, but the latest tree head covers only {tree_size}")
            }
            Self::InconsistentWithKnownHead { tree_size } => {
                write!(f, "the known tree head of size {tree_size} is not a state of this bundle's log (a split view)")
            }
            Self::BadErasureMarker { contact_id } => {
                write!(f, "the erased-contact marker of {contact_id} does not match the ContactErased events")
            }
            Self::NotWitnessed { tree_size, required, found } => write!(
                f,
                "the tree head of size {tree_size} has {found} valid cosignatures by the given witnesses; {required} required"
            ),
        }
    }
}

/// The first thing wrong with a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub position: u64,
    pub event_id: Option<EventId>,
    pub kind: FailureKind,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {}", self.position)?;
        if let Some(id) = self.event_id {
            write!(f, " (event {id})")?;
        }
        write!(f, ": {}", self.kind)
    }
}

#[cfg(test)]
mod tests;
