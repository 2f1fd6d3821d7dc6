//! Laras commands: load, decide, sign, append.
//!
//! Command handlers and the ports they need (the event store, contact keys). This
//! crate knows nothing of SQLite, HTTP, GraphQL or Meta's JSON.

#![forbid(unsafe_code)]

pub mod access;
pub mod account_proof;
pub mod aggregate_cache;
pub mod audit;
pub mod contract;
pub mod cosignatures;
pub mod credentials;
pub mod directory;
pub mod error;
pub mod handlers;
pub mod keys;
pub mod ledger;
pub mod media;
pub mod memory;
pub mod meta;
pub mod outbox;
pub mod runtime;
pub mod sampled;
pub mod signer;
pub mod store;
pub mod subscription;
pub mod together;
pub mod worker;

pub use error::CommandError;
pub use ledger::{Committed, Ledger};
pub use meta::CommandMeta;
