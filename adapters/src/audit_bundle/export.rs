//! Writing a Partner's bundle from the log: its envelopes in leaf order, the key
//! stream, every stored tree head it covers plus a fresh one over the whole export,
//! consistency proofs between consecutive heads, and the erased-contact markers.

use super::format::{self, BundleCosignature, ConsistencyProof, ErasedContact, Manifest, PublishedKey, SignedTreeHead};
use super::BundleError;
use laras_commands::cosignatures::NamedCosignature;
use laras_commands::store::{StoreError, StoredEnvelope};
use laras_domain::envelope::Envelope;
use laras_domain::event::DomainEvent;
use laras_domain::ids::PartnerId;
use laras_domain::merkle::{consistency_proof, leaf_hash, Frontier, LevelNodes};
use laras_domain::signing::{parse_public_hex, LedgerSigningKey};
use laras_domain::stream::StreamId;
use laras_domain::time::{rfc3339, Timestamp};
use laras_domain::tree_head::TreeHead;
use laras_domain::verification::KeyRing;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

pub struct ExportRequest<'a> {
    pub partner: PartnerId,
    /// The Partner's stored heads (any sizes; those beyond the export are left out).
    pub stored_heads: Vec<TreeHead>,
    /// The signing keys whose secrets this installation holds; the newest one the log
    /// introduced signs the export's head.
    pub secrets: &'a [LedgerSigningKey],
    pub now: Timestamp,
    /// Witnesses' cosignatures of the Partner's heads; those of a state the bundle's heads
    /// carry go into `cosignatures.json`.
    pub cosignatures: Vec<NamedCosignature>,
}

#[derive(Clone, Debug)]
pub struct ExportSummary {
    pub envelopes: u64,
    pub signing_key_events: u64,
    pub tree_heads: u64,
    pub erased_contacts: usize,
    pub cosignatures: usize,
    /// The head signed for this export, over all its envelopes.
    pub head: TreeHead,
}

struct RecordFile {
    name: &'static str,
    out: BufWriter<File>,
    count: u64,
}

impl RecordFile {
    fn create(dir: &Path, name: &'static str) -> Result<Self, BundleError> {
        let file = File::create(dir.join(name)).map_err(|e| BundleError::Io(name.into(), e))?;
        Ok(Self { name, out: BufWriter::with_capacity(1 << 20, file), count: 0 })
    }

    fn push(&mut self, envelope: &Envelope) -> Result<(), BundleError> {
        format::write_record(&mut self.out, envelope)?;
        self.count += 1;
        Ok(())
    }

    /// Flushed and on disk: a bundle is evidence.
    fn finish(self) -> Result<u64, BundleError> {
        let io = |e| BundleError::Io(self.name.into(), e);
        let file = self.out.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok(self.count)
    }
}

/// Writes `request.partner`'s bundle into the empty or new directory `out`.
pub fn export_bundle(
    log: impl Iterator<Item = Result<StoredEnvelope, StoreError>>,
    request: ExportRequest<'_>,
    out: &Path,
    progress: &dyn Fn(u64),
) -> Result<ExportSummary, BundleError> {
    prepare_dir(out)?;
    // The export does not judge the key stream (the auditor's verifier does, against
    // anchors of their own); it only derives each key's validity from it.
    let mut ring: Option<KeyRing> = None;
    let mut envelopes = RecordFile::create(out, format::ENVELOPES)?;
    let mut key_events = RecordFile::create(out, format::SIGNING_KEYS)?;
    let mut frontier = Frontier::default();
    let mut nodes = LevelNodes::default();
    let mut erased = Vec::new();
    let key_stream = StreamId::signing_keys();
    for (scanned, stored) in log.enumerate() {
        let envelope = stored?.envelope;
        let h = &envelope.header;
        if h.stream_id == key_stream {
            let ring = ring.get_or_insert_with(|| KeyRing::new(introduced_key(&envelope).into_iter().collect()));
            ring.signer_of(&envelope).map_err(|kind| BundleError::KeyEvent(kind.to_string()))?;
            key_events.push(&envelope)?;
        } else if h.partner_id == request.partner {
            let hash = envelope.hash().map_err(|e| BundleError::Envelope(e.to_string()))?;
            nodes.extend(frontier.push(leaf_hash(&hash)));
            if h.event_type == "ContactErased" {
                erased.push(ErasedContact {
                    contact_id: h.stream_id.as_str().trim_start_matches("contact-").to_owned(),
                    event_id: h.event_id.to_string(),
                    erased_at_ms: h.recorded_at.0,
                });
            }
            envelopes.push(&envelope)?;
        }
        if scanned % 4096 == 0 {
            progress(scanned as u64);
        }
    }
    let size = envelopes.finish()?;
    let signing_key_events = key_events.finish()?;

    let ring = ring.unwrap_or_else(|| KeyRing::new(Vec::new()));
    let signer = ring
        .introduced()
        .iter()
        .rev()
        .find_map(|id| request.secrets.iter().find(|k| k.id() == id))
        .ok_or(BundleError::NoSigningKey)?;
    let head = TreeHead::sign(request.partner, size, frontier.root(), request.now, signer);
    let mut heads: Vec<TreeHead> = request.stored_heads.into_iter().filter(|h| h.tree_size <= size).collect();
    heads.push(head.clone());
    heads.sort_by_key(|h| (h.tree_size, h.timestamp.0));
    let mut proofs = Vec::new();
    for pair in heads.windows(2) {
        let (first, second) = (pair[0].tree_size, pair[1].tree_size);
        // Sorted by size, so each adjacent pair with first < second is distinct.
        if first > 0 && first < second {
            let path = consistency_proof(&nodes, first, second)?;
            proofs.push(ConsistencyProof { first, second, path: path.iter().map(hex::encode).collect() });
        }
    }
    let keys = PublishedKey::all_of(&ring);
    format::write_json(out, format::KEYS, &keys)?;
    let signed: Vec<SignedTreeHead> = heads.iter().map(SignedTreeHead::from_head).collect();
    format::write_json(out, format::TREE_HEADS, &signed)?;
    format::write_json(out, format::CONSISTENCY, &proofs)?;
    format::write_json(out, format::ERASED, &erased)?;
    // Only states the bundle's heads carry: a cosignature of anything else proves nothing here.
    let cosigned: Vec<BundleCosignature> = request
        .cosignatures
        .iter()
        .filter(|c| heads.iter().any(|h| c.covers(h)))
        .map(BundleCosignature::from_named)
        .collect();
    if !cosigned.is_empty() {
        format::write_json(out, format::COSIGNATURES, &cosigned)?;
    }
    let manifest = Manifest {
        format: format::FORMAT.into(),
        version: format::VERSION,
        partner_id: request.partner,
        exported_at: rfc3339(request.now),
        exported_at_ms: request.now.0,
        envelopes: size,
        signing_key_events,
        tree_heads: heads.len() as u64,
    };
    // The manifest last: a bundle without one was not finished.
    format::write_json(out, format::MANIFEST, &manifest)?;
    Ok(ExportSummary {
        envelopes: size,
        signing_key_events,
        tree_heads: heads.len() as u64,
        erased_contacts: erased.len(),
        cosignatures: cosigned.len(),
        head,
    })
}

/// The public key a `SigningKeyRotated` envelope introduces.
fn introduced_key(envelope: &Envelope) -> Option<ed25519_dalek::VerifyingKey> {
    match envelope.event().ok()? {
        DomainEvent::SigningKeyRotated { public_key, .. } => parse_public_hex(&public_key),
        _ => None,
    }
}

fn prepare_dir(out: &Path) -> Result<(), BundleError> {
    let io = |e| BundleError::Io(out.display().to_string(), e);
    std::fs::create_dir_all(out).map_err(io)?;
    if std::fs::read_dir(out).map_err(io)?.next().is_some() {
        return Err(BundleError::NotEmpty(out.to_path_buf()));
    }
    Ok(())
}
