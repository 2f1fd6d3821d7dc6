//! Rows to envelopes and back. A tampered row reads back as a typed error or as an
//! envelope that fails verification; it never panics.

use laras_commands::store::{Position, StoredEnvelope};
use laras_domain::actor::Actor;
use laras_domain::envelope::{Envelope, EnvelopeHeader};
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::signing::KeyId;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use rusqlite::Row;
use uuid::Uuid;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the row at position {position} is malformed: {field} {problem}")]
pub struct RowError {
    pub position: Position,
    pub field: &'static str,
    pub problem: &'static str,
}

fn blob<const N: usize>(row: &Row, i: usize, position: Position, field: &'static str) -> Result<[u8; N], RowError> {
    let bytes: Vec<u8> = row.get(i).map_err(|_| RowError { position, field, problem: "is not a blob" })?;
    bytes.try_into().map_err(|_| RowError { position, field, problem: "has the wrong length" })
}

fn int(row: &Row, i: usize, position: Position, field: &'static str) -> Result<i64, RowError> {
    row.get(i).map_err(|_| RowError { position, field, problem: "is not an integer" })
}

fn text(row: &Row, i: usize, position: Position, field: &'static str) -> Result<String, RowError> {
    row.get(i).map_err(|_| RowError { position, field, problem: "is not text" })
}

/// Reads a row selected with `schema::COLUMNS`.
pub fn envelope_from_row(row: &Row) -> Result<StoredEnvelope, RowError> {
    let raw_position: i64 =
        row.get(0).map_err(|_| RowError { position: 0, field: "position", problem: "is not an integer" })?;
    let position =
        u64::try_from(raw_position).map_err(|_| RowError { position: 0, field: "position", problem: "is negative" })?;
    let uuid = |i, field| blob::<16>(row, i, position, field).map(Uuid::from_bytes);
    let actor_kind = u8::try_from(int(row, 6, position, "actor_kind")?).map_err(|_| RowError {
        position,
        field: "actor_kind",
        problem: "is out of range",
    })?;
    let actor_id = text(row, 7, position, "actor_id")?;
    let actor = Actor::from_parts(actor_kind, &actor_id).ok_or(RowError {
        position,
        field: "actor",
        problem: "is not a known actor",
    })?;
    let header = EnvelopeHeader {
        event_id: EventId(uuid(1, "event_id")?),
        partner_id: PartnerId(uuid(2, "partner_id")?),
        stream_id: StreamId::from_stored(text(row, 3, position, "stream_id")?),
        stream_version: u64::try_from(int(row, 4, position, "stream_version")?).map_err(|_| RowError {
            position,
            field: "stream_version",
            problem: "is negative",
        })?,
        recorded_at: Timestamp(int(row, 5, position, "recorded_at")?),
        actor,
        causation_id: uuid(8, "causation_id")?,
        correlation_id: uuid(9, "correlation_id")?,
        event_type: text(row, 10, position, "event_type")?,
        event_version: u16::try_from(int(row, 11, position, "event_version")?).map_err(|_| RowError {
            position,
            field: "event_version",
            problem: "is out of range",
        })?,
        key_id: KeyId(text(row, 12, position, "key_id")?),
        prev_hash: blob::<32>(row, 13, position, "prev_hash")?,
    };
    let payload: Vec<u8> =
        row.get(14).map_err(|_| RowError { position, field: "payload", problem: "is not a blob" })?;
    let signature = blob::<64>(row, 15, position, "signature")?;
    Ok(StoredEnvelope { position, envelope: Envelope { header, payload, signature } })
}
