//! Witnesses end to end below the binary: a Partner registers witnesses (events in its
//! log), a witness's cosignature of a signed head is kept in `audit.sqlite`, exported in
//! the bundle, and counted by `audit verify`; too few cosignatures is `not_witnessed`.

use laras_adapters::audit_bundle::{export_bundle, verify_bundle_witnessed, BundleReport, ExportRequest, Witnesses};
use laras_adapters::tree_store::SqliteTreeStore;
use laras_commands::audit::{AuditError, HeadPolicy, MerkleLog};
use laras_commands::cosignatures::CosignatureRefused;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{onboard_with_channel, MemoryKeys, MemoryStore};
use laras_commands::signer::LedgerSigner;
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::witnesses::RegisterWitness;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::cosignature::Cosignature;
use laras_domain::ids::PartnerId;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::{Clock, ManualClock, Span, Timestamp};
use laras_domain::verification::FailureKind;
use std::path::Path;
use std::sync::Arc;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const A: PartnerId = PartnerId(Uuid::from_u128(1));

fn witness(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

async fn messages(ledger: &Ledger, from: usize, count: usize) {
    for i in from..from + count {
        let msg = IncomingMessage {
            channel: ChannelKind::WhatsApp,
            account_id: "acct-a".into(),
            sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62{}", i % 3), name: None },
            channel_message_id: format!("wamid.{i}"),
            sent_at: NOW,
            content: PlainContent::Text("Berapa harganya?".into()),
            reply_to: None,
            context: Default::default(),
            also: vec![],
        };
        ledger.record_inbound_message(A, msg, &CommandMeta::system("test")).await.expect("inbound");
    }
}

struct World {
    _dir: tempfile::TempDir,
    ledger: Ledger,
    log: MerkleLog,
    clock: Arc<ManualClock>,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::at(NOW));
    let ledger = Ledger::new(
        Arc::new(MemoryStore::default()),
        Arc::new(MemoryKeys::default()),
        Arc::new(LedgerSigner::new(LedgerSigningKey::from_secret([7; 32]))),
        clock.clone(),
    );
    ledger.ensure_genesis_key().await.expect("genesis key");
    onboard_with_channel(&ledger, A, ChannelKind::WhatsApp, "acct-a").await.expect("onboard");
    for (name, seed) in [("w1.example", 1), ("w2.example", 2)] {
        let public_key = hex::encode(witness(seed).verifying_key().as_bytes());
        let command = RegisterWitness { name: name.into(), public_key };
        ledger.register_witness(A, command, &CommandMeta::system("test")).await.expect("register");
    }
    messages(&ledger, 0, 5).await;
    let trees = Arc::new(SqliteTreeStore::open(&dir.path().join("audit.sqlite")).expect("tree store"));
    let log = MerkleLog {
        store: ledger.store.clone(),
        trees,
        signer: ledger.signer.clone(),
        clock: clock.clone(),
        policy: HeadPolicy { every_events: 1_000, every: Span(3_600_000) },
    };
    log.catch_up().await.expect("merkle");
    World { _dir: dir, ledger, log, clock }
}

impl World {
    /// A fresh head, cosigned by each of `seeds` (registered or not).
    async fn cosign(&self, seeds: &[u8]) -> Vec<Result<(), AuditError>> {
        let head = self.log.issue_head(A).expect("head");
        let registered = self.ledger.partner(A).await.expect("partner").witnesses;
        let now_s = (self.clock.now().0 / 1000) as u64;
        seeds
            .iter()
            .map(|seed| {
                let c = Cosignature::sign(A, head.tree_size, head.root_hash, now_s, &witness(*seed));
                self.log.accept_cosignature(&registered, c).map(|_| ())
            })
            .collect()
    }

    async fn export(&self, out: &Path) {
        self.log.catch_up().await.expect("merkle");
        let all = self.ledger.store.read_all(0, 100_000).await.expect("read");
        let request = ExportRequest {
            partner: A,
            stored_heads: self.log.trees.heads(A).expect("heads"),
            secrets: &[LedgerSigningKey::from_secret([7; 32])],
            now: self.clock.now(),
            cosignatures: self.log.all_cosignatures(A).expect("cosignatures"),
        };
        export_bundle(all.into_iter().map(Ok), request, out, &|_| {}).expect("export");
    }
}

fn verify(dir: &Path, seeds: &[u8], min: u64) -> BundleReport {
    let witnesses = Witnesses { keys: seeds.iter().map(|s| witness(*s).verifying_key()).collect(), min };
    verify_bundle_witnessed(dir, &[LedgerSigningKey::from_secret([7; 32]).public()], &[], &witnesses, &|_| {})
}

fn not_witnessed(report: &BundleReport) -> (u64, u64) {
    let failure = report.first_failure.as_ref().expect("a failure");
    assert_eq!((failure.file.as_str(), failure.failure.position), ("cosignatures.json", 0), "{report}");
    match failure.failure.kind {
        FailureKind::NotWitnessed { required, found, .. } => (required, found),
        ref other => panic!("expected not_witnessed, got {other:?}"),
    }
}

#[tokio::test]
async fn a_cosigned_export_is_witnessed_and_too_few_witnesses_is_not_witnessed() {
    let w = world().await;
    assert!(w.cosign(&[1]).await.iter().all(Result::is_ok));
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    w.export(&bundle).await;

    let report = verify(&bundle, &[1], 1);
    assert!(report.ok, "{report}");
    assert_eq!((report.cosignatures, report.witnesses), (1, 1));
    // The registrations are in the Partner's log, so the auditor sees them.
    let envelopes = std::fs::read(bundle.join("envelopes.bin")).expect("envelopes");
    assert_eq!(envelopes.windows(17).filter(|w| w == b"WitnessRegistered").count(), 2);

    assert_eq!(not_witnessed(&verify(&bundle, &[1, 2], 2)), (2, 1));
    assert_eq!(not_witnessed(&verify(&bundle, &[3], 1)), (1, 0));
    // Without --min-witnesses nothing is required.
    assert!(verify(&bundle, &[], 0).ok);
}

#[tokio::test]
async fn a_bundle_of_a_log_that_grew_since_the_witness_looked_is_not_witnessed() {
    let w = world().await;
    assert!(w.cosign(&[1, 2]).await.iter().all(Result::is_ok));
    messages(&w.ledger, 5, 2).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let bundle = dir.path().join("bundle");
    w.export(&bundle).await;
    let report = verify(&bundle, &[1, 2], 1);
    assert_eq!(not_witnessed(&report), (1, 0));
    // The older state's cosignatures are still in the bundle: they are evidence too.
    assert_eq!(report.cosignatures, 2);
}

#[tokio::test]
async fn only_registered_witnesses_are_kept_and_each_once_per_state() {
    let w = world().await;
    let results = w.cosign(&[1, 3]).await;
    assert!(results[0].is_ok());
    assert!(matches!(results[1], Err(AuditError::Cosignature(CosignatureRefused::UnknownWitness))));
    assert!(w.cosign(&[1]).await[0].is_ok());
    // One per witness and state: the second head has the same state as the first.
    let kept = w.log.all_cosignatures(A).expect("cosignatures");
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].witness_name, "w1.example");
    assert!(kept[0].cosignature.verify());
}
