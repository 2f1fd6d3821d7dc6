//! Reading an envelope back from its canonical bytes, as an auditor's tool does with an
//! export bundle: every field is length-checked, nothing is trusted, nothing panics.

use super::{Envelope, EnvelopeHeader, ENVELOPE_MAGIC};
use crate::actor::Actor;
use crate::ids::{EventId, PartnerId};
use crate::signing::KeyId;
use crate::stream::StreamId;
use crate::time::Timestamp;
use uuid::Uuid;

/// Why canonical bytes do not form an envelope.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CanonicalError {
    #[error("the bytes do not start with the magic \"LARASEV1\"")]
    Magic,
    #[error("the bytes end inside field {0}")]
    Short(&'static str),
    #[error("field {0} is not valid UTF-8")]
    NotUtf8(&'static str),
    #[error("actor kind {0} with that id is not a known actor (a UUID id is lowercase and hyphenated)")]
    Actor(u8),
    #[error("{0} bytes follow the payload")]
    Trailing(usize),
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], CanonicalError> {
        if self.rest.len() < n {
            return Err(CanonicalError::Short(field));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], CanonicalError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    fn uuid(&mut self, field: &'static str) -> Result<Uuid, CanonicalError> {
        self.array::<16>(field).map(Uuid::from_bytes)
    }

    fn str16(&mut self, field: &'static str) -> Result<String, CanonicalError> {
        let len = u16::from_be_bytes(self.array(field)?) as usize;
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CanonicalError::NotUtf8(field))
    }
}

impl Envelope {
    /// The envelope whose canonical bytes are `bytes`, with `signature` (not checked here).
    pub fn from_canonical(bytes: &[u8], signature: [u8; 64]) -> Result<Self, CanonicalError> {
        let mut c = Cursor { rest: bytes };
        if c.take(8, "magic").map_err(|_| CanonicalError::Magic)? != ENVELOPE_MAGIC {
            return Err(CanonicalError::Magic);
        }
        let event_id = EventId(c.uuid("event_id")?);
        let partner_id = PartnerId(c.uuid("partner_id")?);
        let stream_id = StreamId::from_stored(c.str16("stream_id")?);
        let stream_version = u64::from_be_bytes(c.array("stream_version")?);
        let recorded_at = Timestamp(i64::from_be_bytes(c.array("recorded_at")?));
        let [actor_kind] = c.array::<1>("actor_kind")?;
        let actor_id = c.str16("actor_id")?;
        let actor = Actor::from_parts(actor_kind, &actor_id).ok_or(CanonicalError::Actor(actor_kind))?;
        let causation_id = c.uuid("causation_id")?;
        let correlation_id = c.uuid("correlation_id")?;
        let event_type = c.str16("event_type")?;
        let event_version = u16::from_be_bytes(c.array("event_version")?);
        let key_id = KeyId(c.str16("key_id")?);
        let prev_hash = c.array("prev_hash")?;
        let len = u32::from_be_bytes(c.array("payload")?) as usize;
        let payload = c.take(len, "payload")?.to_vec();
        if !c.rest.is_empty() {
            return Err(CanonicalError::Trailing(c.rest.len()));
        }
        let header = EnvelopeHeader {
            event_id,
            partner_id,
            stream_id,
            stream_version,
            recorded_at,
            actor,
            causation_id,
            correlation_id,
            event_type,
            event_version,
            key_id,
            prev_hash,
        };
        Ok(Self { header, payload, signature })
    }
}
