//! `laras audit verify`: checks a bundle offline, trusting nothing in it but the
//! auditor's trust anchors. The order of the checks is normative (docs/audit-format.md
//! §7.5): the first failure found is the one reported.

use super::format::{
    self, BundleCosignature, ConsistencyProof, ErasedContact, Manifest, PublishedKey, RecordError, RecordReader,
    SignedTreeHead,
};
use super::known_head::KnownHead;
use crate::log_verify::{in_chunks, EnvelopeChecker};
use laras_commands::store::StoredEnvelope;
use laras_domain::cosignature::Cosignature;
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::merkle::{empty_root, leaf_hash, verify_consistency, Frontier, NodeHash};
use laras_domain::signing::parse_public_hex;
use laras_domain::stream::SIGNING_KEYS_STREAM;
use laras_domain::tree_head::TreeHead;
use laras_domain::verification::{Failure, FailureKind};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use std::time::Instant;

/// Where the trust anchor (the key that must introduce itself first) came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnchorSource {
    /// From the auditor (`--trust-key`): the strong check.
    Given,
    /// The first key of the bundle's own `keys.json`: proves integrity, not origin.
    Bundle,
}

/// The first thing wrong with a bundle, and the file it is in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BundleFailure {
    pub file: String,
    /// Record number (1-based) in a `.bin` file, entry number (1-based) in a JSON list,
    /// 0 for the file as a whole.
    #[serde(flatten)]
    pub failure: Failure,
}

impl fmt::Display for BundleFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {}", self.file, self.failure)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct BundleReport {
    pub ok: bool,
    pub partner_id: Option<PartnerId>,
    pub anchor: AnchorSource,
    /// Envelopes checked (signature, chain, key validity, leaf) before any failure.
    pub envelopes: u64,
    pub envelopes_declared: u64,
    pub streams: usize,
    pub signing_key_events: u64,
    pub keys: Vec<String>,
    /// Tree heads whose signature and root were checked.
    pub tree_heads: u64,
    pub consistency_proofs: u64,
    pub erased_contacts: usize,
    /// Heads the auditor kept from earlier (`--known-head`) that the bundle extends.
    pub known_heads: u64,
    /// Entries of `cosignatures.json`.
    pub cosignatures: u64,
    /// The auditor's witnesses (`--witness-key`) with a valid cosignature of the covering head.
    pub witnesses: u64,
    pub first_failure: Option<BundleFailure>,
    pub seconds: f64,
    pub events_per_s: f64,
}

impl fmt::Display for BundleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.partner_id {
            writeln!(f, "bundle of Partner {p}")?;
        }
        writeln!(
            f,
            "envelopes: {} of {} checked in {} streams ({:.2} s, {:.0} events/s)",
            self.envelopes, self.envelopes_declared, self.streams, self.seconds, self.events_per_s
        )?;
        writeln!(f, "signing keys: {} ({} key events)", self.keys.join(", "), self.signing_key_events)?;
        writeln!(f, "tree heads: {} checked, {} consistency proofs", self.tree_heads, self.consistency_proofs)?;
        writeln!(f, "erased contacts: {} (their sealed fields read as erased)", self.erased_contacts)?;
        if self.known_heads > 0 {
            writeln!(f, "known heads: {} extended by this bundle", self.known_heads)?;
        }
        if self.cosignatures > 0 || self.witnesses > 0 {
            writeln!(
                f,
                "cosignatures: {} in the bundle; {} of the given witnesses cosigned the covering head",
                self.cosignatures, self.witnesses
            )?;
        }
        if self.anchor == AnchorSource::Bundle {
            writeln!(
                f,
                "trust anchor: the bundle's own first key; pass --trust-key to pin the Partner's published key"
            )?;
        }
        match &self.first_failure {
            None => write!(f, "OK: every signature, chain link, key, tree head and proof holds"),
            Some(failure) => write!(f, "FAILED in {failure}"),
        }
    }
}

fn failure(file: &str, position: u64, event_id: Option<EventId>, kind: FailureKind) -> BundleFailure {
    BundleFailure { file: file.to_owned(), failure: Failure { position, event_id, kind } }
}

fn malformed(file: &str, position: u64, detail: impl Into<String>) -> BundleFailure {
    failure(file, position, None, FailureKind::Malformed { detail: detail.into() })
}

/// Verifies the bundle in `dir`. With no `trust` keys the bundle's first published key
/// is the anchor (the report says so). `progress` gets the envelopes checked so far.
pub fn verify_bundle(
    dir: &Path,
    trust: &[ed25519_dalek::VerifyingKey],
    progress: &(dyn Fn(u64) + Sync),
) -> BundleReport {
    verify_bundle_with(dir, trust, &[], progress)
}

/// [`verify_bundle`], and then (step 10) each head the auditor kept from earlier must be
/// a state of the bundle's log: signed by a key of its history, and of a size the bundle
/// reaches with that very root.
pub fn verify_bundle_with(
    dir: &Path,
    trust: &[ed25519_dalek::VerifyingKey],
    known: &[KnownHead],
    progress: &(dyn Fn(u64) + Sync),
) -> BundleReport {
    verify_bundle_witnessed(dir, trust, known, &Witnesses::default(), progress)
}

/// The witnesses an auditor relies on (`--witness-key`, `--min-witnesses`).
#[derive(Clone, Debug, Default)]
pub struct Witnesses {
    pub keys: Vec<ed25519_dalek::VerifyingKey>,
    /// How many of `keys` must have cosigned the covering head; 0 checks nothing.
    pub min: u64,
}

/// [`verify_bundle_with`], and then (step 11) at least `witnesses.min` of the auditor's
/// witnesses must have cosigned the tree state of the covering head.
pub fn verify_bundle_witnessed(
    dir: &Path,
    trust: &[ed25519_dalek::VerifyingKey],
    known: &[KnownHead],
    witnesses: &Witnesses,
    progress: &(dyn Fn(u64) + Sync),
) -> BundleReport {
    let started = Instant::now();
    let mut report = BundleReport {
        ok: false,
        partner_id: None,
        anchor: if trust.is_empty() { AnchorSource::Bundle } else { AnchorSource::Given },
        envelopes: 0,
        envelopes_declared: 0,
        streams: 0,
        signing_key_events: 0,
        keys: Vec::new(),
        tree_heads: 0,
        consistency_proofs: 0,
        erased_contacts: 0,
        known_heads: 0,
        cosignatures: 0,
        witnesses: 0,
        first_failure: None,
        seconds: 0.0,
        events_per_s: 0.0,
    };
    report.first_failure = check(dir, trust, known, witnesses, progress, &mut report).err();
    report.ok = report.first_failure.is_none();
    report.seconds = started.elapsed().as_secs_f64();
    if report.seconds > 0.0 {
        report.events_per_s = report.envelopes as f64 / report.seconds;
    }
    report
}

fn json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<T, BundleFailure> {
    format::read_json(dir, name).map_err(|e| malformed(name, 0, e.to_string()))
}

fn records(dir: &Path, name: &'static str) -> Result<RecordReader<BufReader<File>>, BundleFailure> {
    let file = File::open(dir.join(name)).map_err(|e| malformed(name, 0, e.to_string()))?;
    Ok(RecordReader::new(BufReader::with_capacity(1 << 20, file)))
}

/// A record as the checker takes it: its 1-based number is its position.
fn item(
    name: &str,
    index: usize,
    record: Result<laras_domain::envelope::Envelope, RecordError>,
    partner: Option<PartnerId>,
) -> Result<StoredEnvelope, Failure> {
    let position = index as u64 + 1;
    let fail = |kind| Failure { position, event_id: None, kind };
    match record {
        Ok(envelope) => {
            let h = &envelope.header;
            let refuse = |kind| Err(Failure { position, event_id: Some(h.event_id), kind });
            match partner {
                // envelopes.bin: the manifest's Partner only.
                Some(p) if h.partner_id != p => {
                    refuse(FailureKind::ForeignPartner { partner_id: h.partner_id.to_string() })
                }
                // signing-keys.bin: the signing-keys stream only.
                None if h.stream_id.as_str() != SIGNING_KEYS_STREAM => refuse(FailureKind::BadKeyEvent {
                    detail: format!("{name} holds an envelope of stream {}", h.stream_id.as_str()),
                }),
                _ => Ok(StoredEnvelope { position, envelope }),
            }
        }
        Err(RecordError::Truncated) => {
            Err(fail(FailureKind::Truncated { detail: format!("{name} ends inside record {position}") }))
        }
        Err(RecordError::Malformed(detail)) => Err(fail(FailureKind::Malformed { detail })),
    }
}

fn check(
    dir: &Path,
    trust: &[ed25519_dalek::VerifyingKey],
    known: &[KnownHead],
    witnesses: &Witnesses,
    progress: &(dyn Fn(u64) + Sync),
    report: &mut BundleReport,
) -> Result<(), BundleFailure> {
    let manifest: Manifest = json(dir, format::MANIFEST)?;
    if manifest.format != format::FORMAT || manifest.version != format::VERSION {
        let found = format!("{} version {}", manifest.format, manifest.version);
        return Err(malformed(format::MANIFEST, 0, format!("not a {} version 1: {found}", format::FORMAT)));
    }
    let partner = manifest.partner_id;
    report.partner_id = Some(partner);
    report.envelopes_declared = manifest.envelopes;
    let published: Vec<PublishedKey> = json(dir, format::KEYS)?;
    let signed_heads: Vec<SignedTreeHead> = json(dir, format::TREE_HEADS)?;
    let proofs: Vec<ConsistencyProof> = json(dir, format::CONSISTENCY)?;
    let markers: Vec<ErasedContact> = json(dir, format::ERASED)?;
    let cosignatures = read_cosignatures(dir, partner)?;
    report.cosignatures = cosignatures.len() as u64;
    let heads = signed_heads
        .iter()
        .enumerate()
        .map(|(i, h)| {
            h.to_head(partner).ok_or_else(|| malformed(format::TREE_HEADS, i as u64 + 1, "a hex field is malformed"))
        })
        .collect::<Result<Vec<TreeHead>, _>>()?;
    if heads.len() as u64 != manifest.tree_heads {
        let detail = format!("{} tree heads; the manifest declares {}", heads.len(), manifest.tree_heads);
        return Err(malformed(format::TREE_HEADS, 0, detail));
    }
    if heads.is_empty() {
        return Err(malformed(format::TREE_HEADS, 0, "no tree head (an export always signs one)"));
    }
    if let Some(i) = heads.windows(2).position(|w| w[1].tree_size < w[0].tree_size) {
        return Err(malformed(format::TREE_HEADS, i as u64 + 2, "tree heads are not in ascending size order"));
    }

    let anchors = if trust.is_empty() {
        let Some(first) = published.first() else {
            return Err(malformed(format::KEYS, 0, "no key to take as the trust anchor, and no --trust-key"));
        };
        let first = parse_public_hex(&first.public_key).filter(|_| format::lower_hex(&first.public_key).is_some());
        vec![first.ok_or_else(|| malformed(format::KEYS, 1, "the first key is not 32 bytes of lowercase hex"))?]
    } else {
        trust.to_vec()
    };
    let mut checker = EnvelopeChecker::new(&anchors);

    // The key stream first: it says which key may sign when.
    let key_items: Vec<_> =
        records(dir, format::SIGNING_KEYS)?.enumerate().map(|(i, r)| item(format::SIGNING_KEYS, i, r, None)).collect();
    let outcome = checker.check_chunk(&key_items);
    report.signing_key_events = outcome.hashes.len() as u64;
    if let Some(f) = outcome.failure {
        return Err(BundleFailure { file: format::SIGNING_KEYS.into(), failure: f });
    }
    count_matches(format::SIGNING_KEYS, report.signing_key_events, manifest.signing_key_events)?;
    report.keys = checker.ring.introduced().iter().map(|k| k.to_string()).collect();

    // The Partner's envelopes: each checked, each a leaf; roots kept at the heads' sizes.
    let wanted: HashSet<u64> =
        heads.iter().map(|h| h.tree_size).chain(known.iter().map(|k| k.head.tree_size)).collect();
    let mut roots: HashMap<u64, NodeHash> = HashMap::from([(0, empty_root())]);
    let mut frontier = Frontier::default();
    let mut erased_seen = Vec::new();
    let mut envelope_failure = None;
    let items = records(dir, format::ENVELOPES)?.enumerate().map(|(i, r)| item(format::ENVELOPES, i, r, Some(partner)));
    in_chunks(items, |chunk| {
        let outcome = checker.check_chunk(&chunk);
        for (hash, stored) in outcome.hashes.iter().zip(chunk.iter().flatten()) {
            frontier.push(leaf_hash(hash));
            if wanted.contains(&frontier.size()) {
                roots.insert(frontier.size(), frontier.root());
            }
            let h = &stored.envelope.header;
            if h.event_type == "ContactErased" {
                erased_seen.push(ErasedContact {
                    contact_id: h.stream_id.as_str().trim_start_matches("contact-").to_owned(),
                    event_id: h.event_id.to_string(),
                    erased_at_ms: h.recorded_at.0,
                });
            }
        }
        report.envelopes += outcome.hashes.len() as u64;
        progress(report.envelopes);
        envelope_failure = outcome.failure;
        envelope_failure.is_none()
    });
    report.streams = checker.chains.streams();
    if let Some(f) = envelope_failure {
        return Err(BundleFailure { file: format::ENVELOPES.into(), failure: f });
    }
    count_matches(format::ENVELOPES, report.envelopes, manifest.envelopes)?;

    // The published keys are exactly what the key stream says.
    let derived = PublishedKey::all_of(&checker.ring);
    if derived != published {
        return Err(malformed(format::KEYS, 0, "the published keys differ from the signing-keys stream"));
    }

    check_tree_heads(&heads, &proofs, &roots, report, &checker)?;

    check_erasure_markers(&markers, &erased_seen)?;
    report.erased_contacts = markers.len();
    check_known_heads(known, partner, &roots, report, &checker)?;
    // Step 6 made heads of equal size agree, so the last head is the covering state.
    let covering = heads.last().ok_or_else(|| malformed(format::TREE_HEADS, 0, "no tree head"))?;
    check_witnesses(covering, &cosignatures, witnesses, report)
}

/// `cosignatures.json`, absent in bundles no witness cosigned; read exactly when present.
fn read_cosignatures(dir: &Path, partner: PartnerId) -> Result<Vec<Cosignature>, BundleFailure> {
    if !dir.join(format::COSIGNATURES).exists() {
        return Ok(Vec::new());
    }
    let entries: Vec<BundleCosignature> = json(dir, format::COSIGNATURES)?;
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            e.to_cosignature(partner).ok_or_else(|| {
                malformed(format::COSIGNATURES, i as u64 + 1, "a hex field is malformed or the key is not strict")
            })
        })
        .collect()
}

/// Step 11. Counts the auditor's witnesses with a valid cosignature of the covering head's
/// tree state; entries by other keys, of other states or that do not verify count for nothing.
fn check_witnesses(
    covering: &TreeHead,
    cosignatures: &[Cosignature],
    witnesses: &Witnesses,
    report: &mut BundleReport,
) -> Result<(), BundleFailure> {
    let cosigned = |key: &&ed25519_dalek::VerifyingKey| {
        cosignatures.iter().any(|c| {
            c.witness == **key && c.tree_size == covering.tree_size && c.root_hash == covering.root_hash && c.verify()
        })
    };
    // A key given twice is one witness.
    let mut seen = HashSet::new();
    report.witnesses = witnesses.keys.iter().filter(|k| seen.insert(*k.as_bytes())).filter(cosigned).count() as u64;
    if report.witnesses < witnesses.min {
        let kind = FailureKind::NotWitnessed {
            tree_size: covering.tree_size,
            required: witnesses.min,
            found: report.witnesses,
        };
        return Err(failure(format::COSIGNATURES, 0, None, kind));
    }
    Ok(())
}

/// Step 10. The root of the bundle's first `tree_size` leaves is computed while the
/// envelopes stream past; a known head whose root differs, or whose size the bundle
/// does not reach, is a view of another log.
fn check_known_heads(
    known: &[KnownHead],
    partner: PartnerId,
    roots: &HashMap<u64, NodeHash>,
    report: &mut BundleReport,
    checker: &EnvelopeChecker,
) -> Result<(), BundleFailure> {
    for k in known {
        let (file, position) = (k.source.as_str(), k.entry);
        let head = k.head.to_head(partner).ok_or_else(|| malformed(file, position, "a hex field is malformed"))?;
        let key =
            checker.ring.valid_key(&head.key_id, head.timestamp).map_err(|kind| failure(file, position, None, kind))?;
        if !head.verify(&key) {
            return Err(failure(file, position, None, FailureKind::BadTreeHeadSignature { tree_size: head.tree_size }));
        }
        if roots.get(&head.tree_size) != Some(&head.root_hash) {
            let kind = FailureKind::InconsistentWithKnownHead { tree_size: head.tree_size };
            return Err(failure(file, position, None, kind));
        }
        report.known_heads += 1;
    }
    Ok(())
}

/// `erased.json` is exactly the `ContactErased` envelopes, in `envelopes.bin` order: the
/// first entry that differs (or is missing, or is one too many) is named.
fn check_erasure_markers(markers: &[ErasedContact], seen: &[ErasedContact]) -> Result<(), BundleFailure> {
    let differs = markers.iter().zip(seen).position(|(m, s)| m != s);
    let at = match differs {
        Some(i) => i,
        None if markers.len() == seen.len() => return Ok(()),
        None => markers.len().min(seen.len()),
    };
    let contact_id = markers.get(at).or(seen.get(at)).map_or_else(String::new, |m| m.contact_id.clone());
    let event_id = seen.get(at).and_then(|s| s.event_id.parse().ok()).map(EventId);
    Err(failure(format::ERASED, at as u64 + 1, event_id, FailureKind::BadErasureMarker { contact_id }))
}

fn count_matches(file: &str, found: u64, declared: u64) -> Result<(), BundleFailure> {
    if found < declared {
        let detail = format!("{file} holds {found} records; the manifest declares {declared}");
        return Err(failure(file, found + 1, None, FailureKind::Truncated { detail }));
    }
    if found > declared {
        return Err(malformed(file, declared + 1, format!("{found} records; the manifest declares {declared}")));
    }
    Ok(())
}

/// Signatures, then consistency between heads (a fork shows here even without the
/// envelopes), then each root against the envelopes, then coverage.
fn check_tree_heads(
    heads: &[TreeHead],
    proofs: &[ConsistencyProof],
    roots: &HashMap<u64, NodeHash>,
    report: &mut BundleReport,
    checker: &EnvelopeChecker,
) -> Result<(), BundleFailure> {
    let file = format::TREE_HEADS;
    for (i, head) in heads.iter().enumerate() {
        let position = i as u64 + 1;
        let key = checker.ring.valid_key(&head.key_id, head.timestamp).map_err(|k| failure(file, position, None, k))?;
        if !head.verify(&key) {
            return Err(failure(file, position, None, FailureKind::BadTreeHeadSignature { tree_size: head.tree_size }));
        }
    }
    // The heads are in size order (step 1). consistency.json holds exactly one proof per
    // adjacent pair with 0 < first < second, in that order: nothing missing, nothing extra.
    let by_size: Vec<&TreeHead> = heads.iter().collect();
    let pairs: Vec<(u64, u64)> =
        by_size.windows(2).map(|w| (w[0].tree_size, w[1].tree_size)).filter(|(a, b)| 0 < *a && a < b).collect();
    for (i, p) in proofs.iter().enumerate() {
        if pairs.get(i) != Some(&(p.first, p.second)) {
            let detail =
                format!("a proof between sizes {} and {} that no two adjacent heads need here", p.first, p.second);
            return Err(malformed(format::CONSISTENCY, i as u64 + 1, detail));
        }
    }
    for pair in by_size.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let fork = FailureKind::InconsistentTreeHeads { first: a.tree_size, second: b.tree_size };
        if a.tree_size == b.tree_size {
            if a.root_hash != b.root_hash {
                return Err(failure(format::TREE_HEADS, 0, None, fork));
            }
            continue;
        }
        if a.tree_size == 0 {
            continue;
        }
        let found = pairs.iter().position(|p| *p == (a.tree_size, b.tree_size)).filter(|i| *i < proofs.len());
        let Some(index) = found else {
            let detail = format!("no proof between the heads of sizes {} and {}", a.tree_size, b.tree_size);
            return Err(malformed(format::CONSISTENCY, 0, detail));
        };
        let position = index as u64 + 1;
        let path = proofs[index]
            .hashes()
            .ok_or_else(|| malformed(format::CONSISTENCY, position, "a hash is not 32 bytes of hex"))?;
        verify_consistency(a.tree_size, b.tree_size, &a.root_hash, &b.root_hash, &path)
            .map_err(|_| failure(format::CONSISTENCY, position, None, fork))?;
        report.consistency_proofs += 1;
    }
    for (i, head) in heads.iter().enumerate() {
        let position = i as u64 + 1;
        if head.tree_size > report.envelopes {
            let detail =
                format!("the tree head of size {} covers more than the {} envelopes", head.tree_size, report.envelopes);
            return Err(failure(file, position, None, FailureKind::Truncated { detail }));
        }
        if roots.get(&head.tree_size) != Some(&head.root_hash) {
            return Err(failure(file, position, None, FailureKind::RootMismatch { tree_size: head.tree_size }));
        }
        report.tree_heads += 1;
    }
    let latest = by_size.last().map_or(0, |h| h.tree_size);
    if report.envelopes > latest {
        let kind = FailureKind::NotCovered { envelopes: report.envelopes, tree_size: latest };
        return Err(failure(file, 0, None, kind));
    }
    Ok(())
}
