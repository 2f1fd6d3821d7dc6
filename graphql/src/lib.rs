//! The Partner API: GraphQL over HTTP (queries, mutations) and websockets
//! (subscriptions), with API keys, roles, tenant isolation and request limits.
//!
//! This crate knows nothing of SQLite, tantivy or Meta's JSON: it reaches the log
//! through `laras-commands` and the read models through `laras-projections`.

#![forbid(unsafe_code)]

pub mod auth;
pub mod error;
pub mod graphiql;
pub mod guard;
pub mod http;
pub mod media;
pub mod schema;
pub mod ws;

pub use schema::{build_schema, sdl, Api, LarasSchema, Limits, MediaAccess};
