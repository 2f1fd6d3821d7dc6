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
    /// One event's statements failed (the batch was rolled back; the rest of it can go on
    /// once this event is skipped).
    #[error("event at position {position} could not be applied: {source}")]
    Apply { position: u64, source: rusqlite::Error },
    #[error("cannot use {path}: {source}")]
    Io { path: std::path::PathBuf, source: std::io::Error },
    #[error("a skipped event could not be recorded: {0}")]
    SkipNotRecorded(String),
    #[error("the search indexer failed: {0}")]
    Indexer(String),
    #[error("the projection runner stopped")]
    Stopped,
}

impl ProjectionError {
    /// The event this error is about, when it is one event's: its position, and the kind
    /// of failure a skip records (None: it does not decode, and never will).
    pub fn poison(&self) -> Option<(u64, Option<&'static str>)> {
        match self {
            Self::Decode { position, .. } => Some((*position, None)),
            Self::Apply { position, .. } => Some((*position, Some("database"))),
            _ => None,
        }
    }
}
