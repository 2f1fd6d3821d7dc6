//! Laras adapters: everything outside the domain. The embedded SQLite event store, the
//! PostgreSQL event store,
//! the contact-key table, channel credentials, Meta's webhooks and Graph API, the
//! parallel log verifier. Meta's JSON types never leave `meta/`.

#![forbid(unsafe_code)]
pub mod ai;
pub mod api_keys;
pub mod audit_bundle;
pub mod contact_keys;
pub mod credentials;
pub mod graph_api;
pub mod log_verify;
pub mod media_folder;
pub mod meta_webhook;
#[cfg(test)]
mod port_suites;
pub mod postgres_log;
pub mod postgres_state;
pub mod runtime_store;
pub mod sqlite_log;
pub mod tree_store;
