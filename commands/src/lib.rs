//! Laras commands: load, decide, sign, append.
//!
//! Command handlers and the ports they need (the event store, contact keys). This
//! crate knows nothing of SQLite, HTTP, GraphQL or Meta's JSON.

#![forbid(unsafe_code)]

pub mod keys;
pub mod store;
pub mod subscription;
