//! The log's tables and their migrations, applied once however many nodes start at once.

use tokio_postgres::Client;

/// Held (as a session-level advisory lock) while migrations run, so that nodes starting
/// together apply each migration once, one after another. The number is arbitrary but fixed.
const MIGRATION_LOCK: i64 = 0x6c61_7261_735f_6d69;

/// Each migration runs in its own transaction, in order, exactly once per database.
const MIGRATIONS: &[(i32, &str)] = &[(
    1,
    "
CREATE TABLE events (
    position       bigint PRIMARY KEY,
    event_id       uuid NOT NULL,
    partner_id     uuid NOT NULL,
    stream_id      text NOT NULL,
    stream_version bigint NOT NULL,
    recorded_at    bigint NOT NULL,
    actor_kind     smallint NOT NULL,
    actor_id       text NOT NULL,
    causation_id   uuid NOT NULL,
    correlation_id uuid NOT NULL,
    event_type     text NOT NULL,
    event_version  integer NOT NULL,
    key_id         text NOT NULL,
    prev_hash      bytea NOT NULL,
    payload        bytea NOT NULL,
    signature      bytea NOT NULL,
    hash           bytea NOT NULL,
    CONSTRAINT events_stream_version UNIQUE (stream_id, stream_version)
);
CREATE UNIQUE INDEX events_event_id ON events (event_id);
CREATE INDEX events_by_partner ON events (partner_id, position);
-- One row: the highest position. Every append locks it first, which serialises commits,
-- so positions are handed out and become visible in commit order, without gaps.
CREATE TABLE log_head (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    position bigint NOT NULL
);
INSERT INTO log_head (only_row, position) VALUES (true, 0);
",
)];

/// The columns in the order `row::envelope_from_row` reads them.
pub const COLUMNS: &str =
    "position, event_id, partner_id, stream_id, stream_version, recorded_at, actor_kind, actor_id, \
     causation_id, correlation_id, event_type, event_version, key_id, prev_hash, payload, signature";

/// Brings the schema up to date. `client` is a connection of its own: the advisory lock is
/// the session's, so it is released even if this fails half way and the connection drops.
pub async fn migrate(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client.execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK]).await?;
    let result = apply(client).await;
    let unlocked = client.execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK]).await;
    result.and(unlocked.map(|_| ()))
}

async fn apply(client: &mut Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS laras_migrations (
                version integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let current: i32 = client.query_one("SELECT COALESCE(MAX(version), 0) FROM laras_migrations", &[]).await?.get(0);
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute("INSERT INTO laras_migrations (version) VALUES ($1)", &[version]).await?;
        tx.commit().await?;
        tracing::info!(version, "applied a log schema migration");
    }
    Ok(())
}
