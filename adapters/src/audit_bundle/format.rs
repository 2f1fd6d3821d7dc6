//! The files of an export bundle (docs/audit-format.md §7.4) and their records.
//!
//! `envelopes.bin` and `signing-keys.bin` are sequences of records
//! `u32 length ‖ canonical bytes ‖ 64-byte signature`, so a verifier needs no JSON
//! to check the signed data; the small files around them are JSON.

use super::BundleError;
use laras_commands::cosignatures::NamedCosignature;
use laras_domain::cosignature::{parse_key_hex, Cosignature};
use laras_domain::envelope::Envelope;
use laras_domain::ids::PartnerId;
use laras_domain::merkle::NodeHash;
use laras_domain::signing::KeyId;
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::io::{self, Read, Write};
use std::path::Path;

pub const FORMAT: &str = "laras-audit-bundle";
pub const VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const ENVELOPES: &str = "envelopes.bin";
pub const SIGNING_KEYS: &str = "signing-keys.bin";
pub const KEYS: &str = "keys.json";
pub const TREE_HEADS: &str = "tree-heads.json";
pub const CONSISTENCY: &str = "consistency.json";
pub const ERASED: &str = "erased.json";
/// Present when a witness cosigned one of the bundle's heads; absent means none.
pub const COSIGNATURES: &str = "cosignatures.json";

/// No envelope comes near this; a larger length prefix is a damaged file, not a reason
/// to allocate gigabytes.
pub const MAX_RECORD: u32 = 64 << 20;

// Every JSON file of a bundle is read exactly: an unknown field is `malformed`
// (docs/audit-format.md §7.4), so two verifiers never differ on what a field means.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    #[serde(deserialize_with = "canonical_partner")]
    pub partner_id: PartnerId,
    pub exported_at: String,
    pub exported_at_ms: i64,
    /// Records in `envelopes.bin`: the Partner's envelopes in leaf order.
    pub envelopes: u64,
    /// Records in `signing-keys.bin`: the `signing-keys` stream in order.
    pub signing_key_events: u64,
    pub tree_heads: u64,
}

/// A published signing key and when it may sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedKey {
    pub key_id: String,
    /// The raw 32-byte Ed25519 public key, hex.
    pub public_key: String,
    pub valid_from_ms: i64,
    /// Null while the key is current.
    pub valid_until_ms: Option<i64>,
}

impl PublishedKey {
    /// The keys a key ring derived from the `signing-keys` stream, as `keys.json` lists them.
    pub fn all_of(ring: &laras_domain::verification::KeyRing) -> Vec<Self> {
        ring.validity()
            .into_iter()
            .map(|k| Self {
                key_id: k.key_id.as_str().to_owned(),
                public_key: hex::encode(k.public.as_bytes()),
                valid_from_ms: k.valid_from.0,
                valid_until_ms: k.valid_until.map(|t| t.0),
            })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedTreeHead {
    pub tree_size: u64,
    pub root_hash: String,
    pub timestamp_ms: i64,
    pub key_id: String,
    pub signature: String,
}

impl SignedTreeHead {
    pub fn from_head(h: &TreeHead) -> Self {
        Self {
            tree_size: h.tree_size,
            root_hash: hex::encode(h.root_hash),
            timestamp_ms: h.timestamp.0,
            key_id: h.key_id.as_str().to_owned(),
            signature: hex::encode(h.signature),
        }
    }

    /// The head of `partner` this describes, or None when a hex field is malformed.
    pub fn to_head(&self, partner: PartnerId) -> Option<TreeHead> {
        Some(TreeHead {
            partner,
            tree_size: self.tree_size,
            root_hash: hex32(&self.root_hash)?,
            timestamp: Timestamp(self.timestamp_ms),
            key_id: KeyId(self.key_id.clone()),
            signature: lower_hex(&self.signature)?.try_into().ok()?,
        })
    }
}

/// A consistency proof between two of the bundle's tree heads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    pub path: Vec<String>,
}

impl ConsistencyProof {
    pub fn hashes(&self) -> Option<Vec<NodeHash>> {
        self.path.iter().map(|h| hex32(h)).collect()
    }
}

/// A contact whose data keys were destroyed: its sealed fields can never be opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErasedContact {
    pub contact_id: String,
    /// The `ContactErased` event.
    pub event_id: String,
    pub erased_at_ms: i64,
}

/// A witness's cosignature of one of the bundle's tree states (docs/audit-format.md §8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleCosignature {
    pub tree_size: u64,
    pub root_hash: String,
    pub witness_name: String,
    pub witness_key: String,
    /// POSIX seconds.
    pub timestamp: u64,
    pub signature: String,
}

impl BundleCosignature {
    pub fn from_named(n: &NamedCosignature) -> Self {
        let c = &n.cosignature;
        Self {
            tree_size: c.tree_size,
            root_hash: hex::encode(c.root_hash),
            witness_name: n.witness_name.clone(),
            witness_key: hex::encode(c.witness.as_bytes()),
            timestamp: c.timestamp,
            signature: hex::encode(c.signature),
        }
    }

    /// The cosignature of `partner`'s log this describes, or None when a hex field is
    /// malformed or the key is not a strict point encoding.
    pub fn to_cosignature(&self, partner: PartnerId) -> Option<Cosignature> {
        Some(Cosignature {
            partner,
            tree_size: self.tree_size,
            root_hash: hex32(&self.root_hash)?,
            witness: parse_key_hex(&self.witness_key)?,
            timestamp: self.timestamp,
            signature: lower_hex(&self.signature)?.try_into().ok()?,
        })
    }
}

pub fn hex32(text: &str) -> Option<NodeHash> {
    lower_hex(text)?.try_into().ok()
}

/// Hex in a bundle is lowercase (docs/audit-format.md, notation); anything else is malformed.
pub fn lower_hex(text: &str) -> Option<Vec<u8>> {
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()
}

/// A UUID in a bundle's JSON is written in its canonical text: lowercase, hyphenated.
fn canonical_partner<'de, D: serde::Deserializer<'de>>(d: D) -> Result<PartnerId, D::Error> {
    use serde::de::Error;
    let text = String::deserialize(d)?;
    let id: uuid::Uuid = text.parse().map_err(D::Error::custom)?;
    if id.hyphenated().to_string() != text {
        return Err(D::Error::custom("a UUID is written lowercase and hyphenated"));
    }
    Ok(PartnerId(id))
}

pub fn write_json(dir: &Path, name: &str, value: &impl Serialize) -> Result<(), BundleError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| BundleError::Json(name.into(), e.to_string()))?;
    std::fs::write(dir.join(name), bytes).map_err(|e| BundleError::Io(name.into(), e))
}

pub fn read_json<T: DeserializeOwned>(dir: &Path, name: &str) -> Result<T, BundleError> {
    let bytes = std::fs::read(dir.join(name)).map_err(|e| BundleError::Io(name.into(), e))?;
    serde_json::from_slice(&bytes).map_err(|e| BundleError::Json(name.into(), e.to_string()))
}

/// Writes one envelope as a record.
pub fn write_record(out: &mut impl Write, envelope: &Envelope) -> Result<(), BundleError> {
    let canonical = envelope.canonical_bytes().map_err(|e| BundleError::Envelope(e.to_string()))?;
    let len = u32::try_from(canonical.len()).map_err(|_| BundleError::Envelope("envelope too large".into()))?;
    let io = |e| BundleError::Io("record".into(), e);
    out.write_all(&len.to_be_bytes()).map_err(io)?;
    out.write_all(&canonical).map_err(io)?;
    out.write_all(&envelope.signature).map_err(io)
}

/// Why a record could not be read.
#[derive(Debug, PartialEq, Eq)]
pub enum RecordError {
    /// The file ends inside the record.
    Truncated,
    /// The record is there but is not an envelope.
    Malformed(String),
}

/// Reads records until the file ends at a record boundary.
pub struct RecordReader<R> {
    input: R,
}

impl<R: Read> RecordReader<R> {
    pub fn new(input: R) -> Self {
        Self { input }
    }

    fn fill(&mut self, buf: &mut [u8]) -> Result<usize, io::Error> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }

    /// The next record, None at the end of the file.
    pub fn next_record(&mut self) -> Option<Result<Envelope, RecordError>> {
        let io = |e: io::Error| RecordError::Malformed(e.to_string());
        let mut len = [0u8; 4];
        match self.fill(&mut len) {
            Ok(0) => return None,
            Ok(4) => {}
            Ok(_) => return Some(Err(RecordError::Truncated)),
            Err(e) => return Some(Err(io(e))),
        }
        let len = u32::from_be_bytes(len);
        if len > MAX_RECORD {
            return Some(Err(RecordError::Malformed(format!("a record of {len} bytes"))));
        }
        // Grown as the bytes arrive: a length prefix alone, in a file that ends after it,
        // must not make the reader hold 64 MiB.
        let wanted = len as usize + 64;
        let mut body = Vec::with_capacity(wanted.min(1 << 16));
        match (&mut self.input).take(wanted as u64).read_to_end(&mut body) {
            Ok(n) if n == wanted => {}
            Ok(_) => return Some(Err(RecordError::Truncated)),
            Err(e) => return Some(Err(io(e))),
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&body[len as usize..]);
        Some(
            Envelope::from_canonical(&body[..len as usize], signature)
                .map_err(|e| RecordError::Malformed(e.to_string())),
        )
    }
}

impl<R: Read> Iterator for RecordReader<R> {
    type Item = Result<Envelope, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_record()
    }
}
