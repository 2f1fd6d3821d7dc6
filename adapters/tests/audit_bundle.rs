//! Export bundles checked offline: an honest bundle verifies; every kind of tampering
//! is caught and named with the file and position where it shows.

use laras_adapters::audit_bundle::format::{self, ConsistencyProof, Manifest, SignedTreeHead};
use laras_adapters::audit_bundle::{export_bundle, verify_bundle, AnchorSource, BundleReport, ExportRequest};
use laras_commands::audit::{HeadPolicy, MerkleLog, TreeStore};
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{onboard_with_channel, MemoryKeys, MemoryStore, MemoryTreeStore};
use laras_commands::signer::LedgerSigner;
use laras_commands::{CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::envelope::Envelope;
use laras_domain::ids::PartnerId;
use laras_domain::merkle::{leaf_hash, Frontier};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::{Clock, ManualClock, Span, Timestamp};
use laras_domain::tree_head::TreeHead;
use laras_domain::verification::FailureKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const A: PartnerId = PartnerId(Uuid::from_u128(1));
const B: PartnerId = PartnerId(Uuid::from_u128(2));

fn key(n: u8) -> LedgerSigningKey {
    LedgerSigningKey::from_secret([n; 32])
}

async fn messages(ledger: &Ledger, partner: PartnerId, account: &str, from: usize, count: usize) {
    for i in from..from + count {
        let msg = IncomingMessage {
            channel: ChannelKind::WhatsApp,
            account_id: account.into(),
            sender: SenderIdentity {
                kind: IdentityKind::WaId,
                value: format!("62{}", i % 3),
                name: Some("Ana".into()),
            },
            channel_message_id: format!("wamid.{account}.{i}"),
            sent_at: NOW,
            content: PlainContent::Text("Berapa harganya?".into()),
            reply_to: None,
            context: Default::default(),
            also: vec![],
        };
        ledger.record_inbound_message(partner, msg, &CommandMeta::system("test")).await.expect("inbound");
    }
}

struct Bundle {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

/// Two Partners, heads every 4 events, a key rotation, an erased contact; A's bundle.
async fn bundle() -> Bundle {
    let clock = Arc::new(ManualClock::at(NOW));
    let ledger = Ledger::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemoryKeys::default()),
        Arc::new(LedgerSigner::new(key(7))),
        clock.clone(),
    );
    ledger.ensure_genesis_key().await.expect("genesis key");
    onboard_with_channel(&ledger, A, ChannelKind::WhatsApp, "acct-a").await.expect("a");
    onboard_with_channel(&ledger, B, ChannelKind::WhatsApp, "acct-b").await.expect("b");
    let trees = Arc::new(MemoryTreeStore::default());
    let log = MerkleLog {
        store: ledger.store.clone(),
        trees: trees.clone(),
        signer: ledger.signer.clone(),
        clock: clock.clone(),
        policy: HeadPolicy { every_events: 4, every: Span(3_600_000) },
    };
    messages(&ledger, A, "acct-a", 0, 6).await;
    messages(&ledger, B, "acct-b", 0, 3).await;
    log.catch_up().await.expect("merkle");
    clock.advance(Span::seconds(60));
    ledger.rotate_signing_key(key(8), &CommandMeta::system("test")).await.expect("rotate");
    clock.advance(Span::seconds(60));
    messages(&ledger, A, "acct-a", 6, 5).await;
    let all = ledger.store.read_all(0, 100_000).await.expect("read");
    let contact = all
        .iter()
        .find(|s| s.envelope.header.partner_id == A && s.envelope.header.event_type == "ContactIdentified")
        .map(|s| s.envelope.header.stream_id.as_str().trim_start_matches("contact-").parse::<Uuid>().expect("uuid"))
        .expect("a contact");
    ledger.erase_contact(A, laras_domain::ids::ContactId(contact), &CommandMeta::system("test")).await.expect("erase");
    log.catch_up().await.expect("merkle");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bundle");
    let all = ledger.store.read_all(0, 100_000).await.expect("read");
    let request = ExportRequest {
        partner: A,
        stored_heads: trees.heads(A).expect("heads"),
        secrets: &[key(7), key(8)],
        now: clock.now(),
        cosignatures: Vec::new(),
    };
    let summary = export_bundle(all.into_iter().map(Ok), request, &path, &|_| {}).expect("export");
    assert!(summary.tree_heads >= 3, "stored heads and the export's: {}", summary.tree_heads);
    Bundle { _dir: dir, path }
}

fn verify(path: &Path) -> BundleReport {
    verify_bundle(path, &[key(7).public()], &|_| {})
}

/// The file and kind of the first failure.
fn failed(report: &BundleReport) -> (String, u64, FailureKind) {
    let f = report.first_failure.clone().unwrap_or_else(|| panic!("expected a failure: {report}"));
    assert!(!report.ok);
    (f.file, f.failure.position, f.failure.kind)
}

fn read_records(path: &Path) -> Vec<Envelope> {
    let file = std::fs::File::open(path.join(format::ENVELOPES)).expect("open");
    format::RecordReader::new(std::io::BufReader::new(file)).map(|r| r.expect("record")).collect()
}

fn write_records(path: &Path, records: &[Envelope]) {
    let mut out = Vec::new();
    for r in records {
        format::write_record(&mut out, r).expect("write");
    }
    std::fs::write(path.join(format::ENVELOPES), out).expect("write");
}

fn heads(path: &Path) -> Vec<SignedTreeHead> {
    format::read_json(path, format::TREE_HEADS).expect("heads")
}

fn resign(envelope: &mut Envelope, with: &LedgerSigningKey) {
    envelope.header.key_id = with.id().clone();
    envelope.signature = with.sign(&envelope.canonical_bytes().expect("bytes"));
}

/// Index of a record whose stream has a later record in the bundle.
fn record_with_successor(records: &[Envelope]) -> usize {
    (0..records.len())
        .find(|&i| records[i + 1..].iter().any(|r| r.header.stream_id == records[i].header.stream_id))
        .expect("a stream with two events")
}

#[tokio::test]
async fn an_honest_bundle_verifies_and_holds_only_its_partners_envelopes() {
    let b = bundle().await;
    let report = verify(&b.path);
    assert!(report.ok, "{report}");
    assert_eq!(report.anchor, AnchorSource::Given);
    let records = read_records(&b.path);
    assert!(records.iter().all(|r| r.header.partner_id == A), "no other Partner's envelope");
    assert_eq!(report.envelopes, records.len() as u64);
    assert_eq!(report.keys.len(), 2, "the rotation is in the bundle");
    assert!(report.tree_heads >= 3 && report.consistency_proofs >= 2, "{report}");
    assert_eq!(report.erased_contacts, 1, "the erased contact is marked; the history still verifies");
    // Without a trust anchor the bundle's own first key is used, and the report says so.
    let unpinned = verify_bundle(&b.path, &[], &|_| {});
    assert!(unpinned.ok && unpinned.anchor == AnchorSource::Bundle);
    assert!(unpinned.to_string().contains("--trust-key"));
    // A different anchor: the key stream's first key is not trusted.
    let (file, _, kind) = failed(&verify_bundle(&b.path, &[key(9).public()], &|_| {}));
    assert_eq!(file, format::SIGNING_KEYS);
    assert!(matches!(kind, FailureKind::BadKeyEvent { .. }), "{kind:?}");
}

#[tokio::test]
async fn a_changed_payload_byte_is_a_bad_signature_at_that_envelope() {
    let b = bundle().await;
    let mut records = read_records(&b.path);
    let at = records.len() / 2;
    let i = records[at].payload.len() / 2;
    records[at].payload[i] ^= 0x01;
    write_records(&b.path, &records);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::ENVELOPES, at as u64 + 1));
    assert!(matches!(kind, FailureKind::BadSignature { .. }), "{kind:?}");
}

#[tokio::test]
async fn a_dropped_event_leaves_a_version_gap_in_its_stream() {
    let b = bundle().await;
    let mut records = read_records(&b.path);
    let at = record_with_successor(&records);
    let stream = records[at].header.stream_id.clone();
    records.remove(at);
    let next = records[at..].iter().position(|r| r.header.stream_id == stream).expect("successor") + at;
    write_records(&b.path, &records);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::ENVELOPES, next as u64 + 1));
    assert!(matches!(kind, FailureKind::VersionGap { .. }), "{kind:?}");
}

#[tokio::test]
async fn two_swapped_events_break_the_version_order() {
    let b = bundle().await;
    let mut records = read_records(&b.path);
    let at = record_with_successor(&records);
    let stream = records[at].header.stream_id.clone();
    let later = records[at + 1..].iter().position(|r| r.header.stream_id == stream).expect("successor") + at + 1;
    records.swap(at, later);
    write_records(&b.path, &records);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::ENVELOPES, at as u64 + 1));
    assert!(matches!(kind, FailureKind::VersionGap { .. }), "{kind:?}");
}

#[tokio::test]
async fn an_inserted_event_breaks_its_stream_even_when_signed_with_the_real_key() {
    let b = bundle().await;
    let mut records = read_records(&b.path);
    let at = record_with_successor(&records);
    // An insider's forgery: the next version of that stream, correctly linked and signed.
    let mut forged = records[at].clone();
    forged.header.stream_version += 1;
    forged.header.prev_hash = records[at].hash().expect("hash");
    forged.header.event_id = laras_domain::ids::EventId(Uuid::from_u128(0xf00d));
    resign(&mut forged, &key(7));
    records.insert(at + 1, forged);
    let stream = records[at].header.stream_id.clone();
    let next = records[at + 2..].iter().position(|r| r.header.stream_id == stream).expect("successor") + at + 2;
    write_records(&b.path, &records);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::ENVELOPES, next as u64 + 1));
    assert!(matches!(kind, FailureKind::VersionGap { .. } | FailureKind::ChainBroken { .. }), "{kind:?}");
}

#[tokio::test]
async fn a_signature_by_an_unknown_or_a_not_yet_valid_key_is_named() {
    let b = bundle().await;
    let original = read_records(&b.path);
    let mut records = original.clone();
    resign(&mut records[2], &key(9));
    write_records(&b.path, &records);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::ENVELOPES, 3));
    assert!(matches!(kind, FailureKind::UnknownKey { .. }), "{kind:?}");

    // Key 8 exists but was introduced after this early event was recorded.
    let mut records = original;
    resign(&mut records[2], &key(8));
    write_records(&b.path, &records);
    let (_, position, kind) = failed(&verify(&b.path));
    assert_eq!(position, 3);
    assert!(matches!(kind, FailureKind::KeyNotValidAt { .. }), "{kind:?}");
}

/// Replaces the bundle's heads (and proofs) and fixes the manifest's count.
fn set_heads(path: &Path, heads: &[SignedTreeHead], proofs: &[ConsistencyProof]) {
    format::write_json(path, format::TREE_HEADS, &heads).expect("heads");
    format::write_json(path, format::CONSISTENCY, &proofs).expect("proofs");
    let mut manifest: Manifest = format::read_json(path, format::MANIFEST).expect("manifest");
    manifest.tree_heads = heads.len() as u64;
    format::write_json(path, format::MANIFEST, &manifest).expect("manifest");
}

fn signed(size: u64, root: [u8; 32], at: Timestamp, with: &LedgerSigningKey) -> SignedTreeHead {
    SignedTreeHead::from_head(&TreeHead::sign(A, size, root, at, with))
}

#[tokio::test]
async fn a_tree_head_with_a_wrong_root_or_signature_is_named() {
    let b = bundle().await;
    let all = heads(&b.path);
    let last = all.last().expect("a head").clone();
    let at = Timestamp(last.timestamp_ms);
    // Correctly signed, but over a root that is not the envelopes'.
    set_heads(&b.path, &[signed(last.tree_size, [0xab; 32], at, &key(8))], &[]);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::TREE_HEADS, 1));
    assert_eq!(kind, FailureKind::RootMismatch { tree_size: last.tree_size });

    let mut tampered = last.clone();
    tampered.root_hash = hex::encode([0xab; 32]);
    set_heads(&b.path, &[tampered], &[]);
    let (_, _, kind) = failed(&verify(&b.path));
    assert_eq!(kind, FailureKind::BadTreeHeadSignature { tree_size: last.tree_size });
}

#[tokio::test]
async fn two_tree_heads_that_fork_are_inconsistent() {
    let b = bundle().await;
    let mut all = heads(&b.path);
    let proofs: Vec<ConsistencyProof> = format::read_json(&b.path, format::CONSISTENCY).expect("proofs");
    // The last head is re-signed over a history whose last envelope is different.
    let records = read_records(&b.path);
    let mut frontier = Frontier::default();
    for (i, r) in records.iter().enumerate() {
        let hash = if i + 1 == records.len() { [0x55; 32] } else { r.hash().expect("hash") };
        frontier.push(leaf_hash(&hash));
    }
    let last = all.last_mut().expect("head");
    *last = signed(last.tree_size, frontier.root(), Timestamp(last.timestamp_ms), &key(8));
    set_heads(&b.path, &all, &proofs);
    let (file, _, kind) = failed(&verify(&b.path));
    assert_eq!(file, format::CONSISTENCY);
    assert!(matches!(kind, FailureKind::InconsistentTreeHeads { .. }), "{kind:?}");
}

#[tokio::test]
async fn a_bundle_truncated_mid_file_or_at_a_record_boundary_is_truncated() {
    let b = bundle().await;
    let path = b.path.join(format::ENVELOPES);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() - 100]).expect("cut");
    let (file, _, kind) = failed(&verify(&b.path));
    assert_eq!(file, format::ENVELOPES);
    assert!(matches!(kind, FailureKind::Truncated { .. }), "{kind:?}");

    // Whole records cut and the manifest edited to match: the signed head still says more.
    let mut records = read_records_from(&bytes);
    records.truncate(records.len() - 2);
    write_records(&b.path, &records);
    let mut manifest: Manifest = format::read_json(&b.path, format::MANIFEST).expect("manifest");
    manifest.envelopes = records.len() as u64;
    format::write_json(&b.path, format::MANIFEST, &manifest).expect("manifest");
    let (file, _, kind) = failed(&verify(&b.path));
    assert_eq!(file, format::TREE_HEADS);
    assert!(matches!(kind, FailureKind::Truncated { .. }), "{kind:?}");

    // A JSON file cut short is malformed, not a panic.
    let heads_file = b.path.join(format::TREE_HEADS);
    let text = std::fs::read(&heads_file).expect("read");
    std::fs::write(&heads_file, &text[..text.len() / 2]).expect("cut");
    let (file, _, kind) = failed(&verify(&b.path));
    assert_eq!(file, format::TREE_HEADS);
    assert!(matches!(kind, FailureKind::Malformed { .. }), "{kind:?}");
}

fn read_records_from(bytes: &[u8]) -> Vec<Envelope> {
    format::RecordReader::new(bytes).map(|r| r.expect("record")).collect()
}

#[tokio::test]
async fn another_partners_envelope_and_a_missing_erasure_marker_are_named() {
    let b = bundle().await;
    let original = read_records(&b.path);
    let mut records = original.clone();
    let mut foreign = records[0].clone();
    foreign.header.partner_id = B;
    resign(&mut foreign, &key(7));
    records.push(foreign);
    write_records(&b.path, &records);
    let (file, position, kind) = failed(&verify(&b.path));
    assert_eq!((file.as_str(), position), (format::ENVELOPES, records.len() as u64));
    assert!(matches!(kind, FailureKind::ForeignPartner { .. }), "{kind:?}");

    write_records(&b.path, &original);
    assert!(verify(&b.path).ok);
    format::write_json(&b.path, format::ERASED, &Vec::<format::ErasedContact>::new()).expect("markers");
    let (file, _, kind) = failed(&verify(&b.path));
    assert_eq!(file, format::ERASED);
    assert!(matches!(kind, FailureKind::BadErasureMarker { .. }), "{kind:?}");
}

#[tokio::test]
async fn an_export_refuses_a_directory_that_is_not_empty() {
    let b = bundle().await;
    let err = export_bundle(
        std::iter::empty(),
        ExportRequest { partner: A, stored_heads: vec![], secrets: &[key(7)], now: NOW, cosignatures: Vec::new() },
        &b.path,
        &|_| {},
    );
    assert!(matches!(err, Err(laras_adapters::audit_bundle::BundleError::NotEmpty(_))));
}
