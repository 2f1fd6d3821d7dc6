//! Export bundles for auditors (docs/audit-format.md §7): one Partner's signed history,
//! its tree heads and proofs, written by `laras export` and checked offline by
//! `laras audit verify` without trusting the server that wrote it.

mod export;
pub mod format;
mod known_head;
mod verify;

pub use export::{export_bundle, ExportRequest, ExportSummary};
pub use known_head::{read_known_heads, KnownHead};
pub use verify::{
    verify_bundle, verify_bundle_with, verify_bundle_witnessed, AnchorSource, BundleFailure, BundleReport, Witnesses,
};

use laras_commands::store::StoreError;
use laras_domain::merkle::MerkleError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("{0}: {1}")]
    Json(String, String),
    #[error("an envelope cannot be written: {0}")]
    Envelope(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Merkle(#[from] MerkleError),
    #[error("the signing-keys stream does not hold together: {0}")]
    KeyEvent(String),
    #[error("no signing key the log introduced is in the data dir, so the export's tree head cannot be signed")]
    NoSigningKey,
    #[error("{0} is not empty; a bundle goes into a new or empty directory")]
    NotEmpty(PathBuf),
}
