//! The log's tables and their migrations, applied once however many nodes start at once.

use tokio_postgres::Client;

/// Held (as a session-level advisory lock) while migrations run, so that nodes starting
/// together apply each migration once, one after another. The number is arbitrary but fixed.
const MIGRATION_LOCK: i64 = 0x6c61_7261_735f_6d69;

/// Each migration runs in its own transaction, in order, exactly once per database.
const MIGRATIONS: &[(i32, &str)] = &[
    (
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
    ),
    (
        2,
        "
-- State shared by every node beside the log (adapters/src/postgres_state/).
-- Contact data keys, wrapped by the master key. Erasure deletes the row, so a contact
-- has at most one key here and nodes racing on a new contact end with one.
CREATE TABLE data_keys (
    key_id     uuid PRIMARY KEY,
    contact_id uuid NOT NULL UNIQUE,
    partner_id uuid NOT NULL,
    wrapped    bytea NOT NULL
);
CREATE TABLE erase_intents (contact_id uuid PRIMARY KEY);
-- What the master key derives for this check, so a node started with another master
-- key refuses to start rather than wrap keys nobody else can open.
CREATE TABLE master_key_check (
    only_row    boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    fingerprint bytea NOT NULL
);
CREATE TABLE api_keys (
    id         text PRIMARY KEY,
    partner_id uuid NOT NULL,
    role       text NOT NULL,
    label      text NOT NULL,
    digest     bytea NOT NULL,
    revoked    boolean NOT NULL DEFAULT false,
    created    bigserial NOT NULL
);
CREATE INDEX api_keys_partner ON api_keys (partner_id, created);
CREATE TABLE channel_tokens (
    partner_id uuid NOT NULL,
    channel    text NOT NULL,
    sealed     bytea NOT NULL,
    PRIMARY KEY (partner_id, channel)
);
CREATE TABLE tree_checkpoint (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    position bigint NOT NULL
);
CREATE TABLE tree_nodes (
    partner uuid NOT NULL, level integer NOT NULL, idx bigint NOT NULL, hash bytea NOT NULL,
    PRIMARY KEY (partner, level, idx)
);
CREATE TABLE tree_leaves (
    partner uuid NOT NULL, idx bigint NOT NULL, position bigint NOT NULL, event_id uuid NOT NULL,
    PRIMARY KEY (partner, idx),
    UNIQUE (partner, event_id)
);
CREATE TABLE tree_sizes (partner uuid PRIMARY KEY, size bigint NOT NULL);
CREATE TABLE tree_heads (
    seq       bigserial PRIMARY KEY,
    partner   uuid NOT NULL,
    size      bigint NOT NULL,
    root      bytea NOT NULL,
    timestamp bigint NOT NULL,
    key_id    text NOT NULL,
    signature bytea NOT NULL
);
CREATE INDEX tree_heads_partner ON tree_heads (partner, seq);
-- Leases: the row stays after a release, so its fence only ever rises.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    fence      bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
CREATE TABLE checkpoints (
    process  text PRIMARY KEY,
    position bigint NOT NULL
);
",
    ),
    (
        3,
        "
-- Witnesses' cosignatures of tree heads: one per witness and tree state, the latest kept.
CREATE TABLE cosignatures (
    partner   uuid NOT NULL,
    size      bigint NOT NULL,
    root      bytea NOT NULL,
    witness   bytea NOT NULL,
    name      text NOT NULL,
    timestamp bigint NOT NULL,
    signature bytea NOT NULL,
    PRIMARY KEY (partner, size, root, witness)
);
",
    ),
    (
        4,
        "
-- Snapshots of once-only processes (follow-ups' book of open deals): shared, so the node
-- that takes a lease over resumes from the last holder's state, not from one of its own.
CREATE TABLE snapshots (
    process  text PRIMARY KEY,
    position bigint NOT NULL,
    state    bytea NOT NULL
);
",
    ),
    (
        5,
        "
-- Sealed media files (adapters/src/postgres_state/media.rs), shared so that any node
-- serves a file another node fetched. Stored out of line and uncompressed: sealed bytes do
-- not compress, and an uncompressed value lets substring() read a range without the rest.
CREATE TABLE media_objects (
    partner uuid NOT NULL,
    contact uuid NOT NULL,
    name    text NOT NULL,
    sealed  bytea NOT NULL,
    PRIMARY KEY (partner, contact, name)
);
ALTER TABLE media_objects ALTER COLUMN sealed SET STORAGE EXTERNAL;
",
    ),
];

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
