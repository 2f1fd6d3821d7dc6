//! The log's table: one row per envelope, one column per header field.

use rusqlite::Connection;

pub const SCHEMA_VERSION: i64 = 1;

pub const CREATE: &str = "
CREATE TABLE IF NOT EXISTS events (
    position       INTEGER PRIMARY KEY,
    event_id       BLOB NOT NULL UNIQUE,
    partner_id     BLOB NOT NULL,
    stream_id      TEXT NOT NULL,
    stream_version INTEGER NOT NULL,
    recorded_at    INTEGER NOT NULL,
    actor_kind     INTEGER NOT NULL,
    actor_id       TEXT NOT NULL,
    causation_id   BLOB NOT NULL,
    correlation_id BLOB NOT NULL,
    event_type     TEXT NOT NULL,
    event_version  INTEGER NOT NULL,
    key_id         TEXT NOT NULL,
    prev_hash      BLOB NOT NULL,
    payload        BLOB NOT NULL,
    signature      BLOB NOT NULL,
    hash           BLOB NOT NULL,
    UNIQUE (stream_id, stream_version)
);
CREATE INDEX IF NOT EXISTS events_by_partner ON events (partner_id, position);
";

/// The columns in the order `row::envelope_from_row` reads them.
pub const COLUMNS: &str =
    "position, event_id, partner_id, stream_id, stream_version, recorded_at, actor_kind, actor_id, \
     causation_id, correlation_id, event_type, event_version, key_id, prev_hash, payload, signature";

/// Durability first: WAL with a full fsync at every commit.
pub fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=10000;")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version == 0 {
        conn.execute_batch(CREATE)?;
        conn.execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))?;
    }
    Ok(())
}

pub fn configure_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("PRAGMA busy_timeout=10000; PRAGMA query_only=ON;")
}
