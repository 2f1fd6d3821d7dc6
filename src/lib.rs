//! The `laras` binary's library: settings, data dir, composition root, HTTP server and
//! the CLI commands. `main.rs` only parses arguments and calls in here.

#![forbid(unsafe_code)]

pub mod app;
pub mod backup;
pub mod cli;
pub mod connections;
pub mod console;
pub mod data_dir;
pub mod demo;
pub mod health;
pub mod limits;
pub mod log_store;
pub mod outbox_settings;
pub mod processes;
pub mod server;
pub mod settings;
