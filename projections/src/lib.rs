//! Read models of the ledger: the inbox, conversations, the CRM timeline, the sales
//! pipeline, CLV and RFM segments, and full-text search.
//!
//! Every model is built only from events, in log order, and can be rebuilt from
//! position 0. The tables live in `readmodels.sqlite` (their checkpoint in the same
//! transaction as their rows); the search index is a tantivy folder with its own
//! checkpoint. This crate knows nothing of HTTP, GraphQL or Meta's JSON.

#![forbid(unsafe_code)]

pub mod articles;
pub mod changes;
pub mod error;
mod indexer;
mod models;
mod project;
pub mod query;
pub mod runner;
pub mod search;
pub mod segments;

pub use articles::ArticleView;
pub use changes::{ChangeKind, ReadModelChange};
pub use error::ProjectionError;
pub use models::{decode, decode_owned, Decoded, ReadModels};
pub use project::WINDOW_MS;
pub use query::*;
pub use runner::ProjectionRunner;
pub use search::{SearchHit, SearchQuery};
