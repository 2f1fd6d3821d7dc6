//! Laras domain: what may happen in a Partner's ledger, and is it allowed?
//!
//! Events, aggregates, policies, canonical encoding and signing. Pure: this crate
//! knows nothing of tokio, SQLite, HTTP, GraphQL or Meta's JSON, and never reads the
//! system clock (time is passed in; see [`time::Clock`]).

#![forbid(unsafe_code)]

pub mod actor;
pub mod aggregate;
pub mod blind;
pub mod channel;
pub mod cosignature;
pub mod currency;
pub mod envelope;
pub mod error;
pub mod event;
pub mod ids;
pub mod media;
pub mod merkle;
pub mod policy;
pub mod sealed;
pub mod signing;
pub mod stream;
pub mod testing;
pub mod time;
pub mod tree_head;
pub mod verification;
pub mod witness;
