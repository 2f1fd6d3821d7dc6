//! One module per CLI command.

pub mod audit;
pub mod backup;
pub mod bench;
pub mod bench_audit;
pub mod bench_conversation;
pub mod bench_drafts;
pub mod bench_read;
pub mod bench_webhooks;
pub mod bench_wrk;
pub mod conversation;
pub mod keys;
pub mod partner;
pub mod projections;
pub mod serve;
pub mod store;
pub mod verify;
pub mod witness;
