//! Rows to envelopes. A tampered row reads back as a typed error or as an envelope that
//! fails verification; it never panics.

use super::schema::COLUMNS;
use laras_commands::store::{Position, StoreError, StoredEnvelope};
use laras_domain::actor::Actor;
use laras_domain::envelope::{Envelope, EnvelopeHeader};
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::signing::KeyId;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use tokio_postgres::Row;
use uuid::Uuid;

pub fn select(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM events {filter}")
}

fn malformed(position: Position, field: &str, problem: &str) -> StoreError {
    StoreError::Storage(format!("the row at position {position} is malformed: {field} {problem}"))
}

fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a Row,
    i: usize,
    position: Position,
    field: &str,
) -> Result<T, StoreError> {
    row.try_get(i).map_err(|_| malformed(position, field, "has the wrong type"))
}

fn fixed<const N: usize>(row: &Row, i: usize, position: Position, field: &str) -> Result<[u8; N], StoreError> {
    let bytes: Vec<u8> = get(row, i, position, field)?;
    bytes.try_into().map_err(|_| malformed(position, field, "has the wrong length"))
}

/// Reads a row selected with `schema::COLUMNS`.
pub fn envelope_from_row(row: &Row) -> Result<StoredEnvelope, StoreError> {
    let raw: i64 = get(row, 0, 0, "position")?;
    let position = u64::try_from(raw).map_err(|_| malformed(0, "position", "is negative"))?;
    let kind: i16 = get(row, 6, position, "actor_kind")?;
    let kind = u8::try_from(kind).map_err(|_| malformed(position, "actor_kind", "is out of range"))?;
    let actor_id: String = get(row, 7, position, "actor_id")?;
    let actor =
        Actor::from_parts(kind, &actor_id).ok_or_else(|| malformed(position, "actor", "is not a known actor"))?;
    let version: i64 = get(row, 4, position, "stream_version")?;
    let event_version: i32 = get(row, 11, position, "event_version")?;
    let header = EnvelopeHeader {
        event_id: EventId(get::<Uuid>(row, 1, position, "event_id")?),
        partner_id: PartnerId(get::<Uuid>(row, 2, position, "partner_id")?),
        stream_id: StreamId::from_stored(get(row, 3, position, "stream_id")?),
        stream_version: u64::try_from(version).map_err(|_| malformed(position, "stream_version", "is negative"))?,
        recorded_at: Timestamp(get(row, 5, position, "recorded_at")?),
        actor,
        causation_id: get(row, 8, position, "causation_id")?,
        correlation_id: get(row, 9, position, "correlation_id")?,
        event_type: get(row, 10, position, "event_type")?,
        event_version: u16::try_from(event_version)
            .map_err(|_| malformed(position, "event_version", "is out of range"))?,
        key_id: KeyId(get(row, 12, position, "key_id")?),
        prev_hash: fixed::<32>(row, 13, position, "prev_hash")?,
    };
    let payload: Vec<u8> = get(row, 14, position, "payload")?;
    let signature = fixed::<64>(row, 15, position, "signature")?;
    Ok(StoredEnvelope { position, envelope: Envelope { header, payload, signature } })
}
