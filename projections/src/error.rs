//! Why a read model could not answer or could not follow the log.

#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("the read-model database failed: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("the search index failed: {0}")]
    Search(#[from] tantivy::TantivyError),
    #[error("the search query is not valid: {0}")]
    BadQuery(String),
    #[error("the page cursor is not one this API gave out")]
    BadCursor,
    #[error("the read models did not reach position {wanted} within the timeout (at {reached})")]
    Timeout { wanted: u64, reached: u64 },
    #[error("the log failed: {0}")]
    Store(#[from] laras_commands::store::StoreError),
    #[error("event at position {position} does not decode: {reason}")]
    Decode { position: u64, reason: String },
    #[error("cannot use {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("the search indexer failed: {0}")]
    Indexer(String),
    #[error("the projection runner stopped")]
    Stopped,
}
