//! The per-Partner Merkle log on the SQLite tree store: built incrementally, signed
//! heads by count, proofs that verify, and a restart that continues without recompute.

use laras_adapters::tree_store::SqliteTreeStore;
use laras_commands::audit::{HeadPolicy, MerkleLog, TreeStore};
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{ledger_at, onboard_with_channel};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use laras_domain::merkle::{leaf_hash, root_at, verify_consistency, verify_inclusion, MemoryNodes};
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::{Span, Timestamp};
use std::sync::Arc;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);

async fn messages(ledger: &Ledger, partner: PartnerId, n: u128, from: usize, count: usize) {
    for i in from..from + count {
        let msg = IncomingMessage {
            channel: ChannelKind::WhatsApp,
            account_id: format!("acct{n}"),
            sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62{}", i % 3), name: None },
            channel_message_id: format!("wamid.{n}.{i}"),
            sent_at: NOW,
            content: PlainContent::Text("halo".into()),
            reply_to: None,
            context: Default::default(),
            also: vec![],
        };
        ledger.record_inbound_message(partner, msg, &CommandMeta::system("test")).await.expect("inbound");
    }
}

fn merkle(ledger: &Ledger, trees: Arc<SqliteTreeStore>) -> MerkleLog {
    MerkleLog {
        store: ledger.store.clone(),
        trees,
        signer: ledger.signer.clone(),
        clock: ledger.clock.clone(),
        policy: HeadPolicy { every_events: 5, every: Span(3_600_000) },
    }
}

/// Leaf hashes of a Partner's events in commit order, computed from the log directly.
async fn expected_leaves(ledger: &Ledger, partner: PartnerId) -> Vec<[u8; 32]> {
    let all = ledger.store.read_all(0, 100_000).await.expect("read");
    all.iter()
        .filter(|s| s.envelope.header.partner_id == partner)
        .map(|s| leaf_hash(&s.envelope.hash().expect("hash")))
        .collect()
}

#[tokio::test]
async fn each_partner_gets_its_own_tree_with_signed_heads_and_proofs_that_verify() {
    let ledger = ledger_at(NOW);
    let dir = tempfile::tempdir().expect("tempdir");
    let trees = Arc::new(SqliteTreeStore::open(&dir.path().join("audit.sqlite")).expect("open"));
    let (a, b) = (PartnerId(Uuid::from_u128(1)), PartnerId(Uuid::from_u128(2)));
    onboard_with_channel(&ledger, a, ChannelKind::WhatsApp, "acct1").await.expect("a");
    onboard_with_channel(&ledger, b, ChannelKind::WhatsApp, "acct2").await.expect("b");
    messages(&ledger, a, 1, 0, 7).await;
    messages(&ledger, b, 2, 0, 2).await;
    let log = merkle(&ledger, trees.clone());
    log.catch_up().await.expect("catch up");

    let leaves = expected_leaves(&ledger, a).await;
    let state = trees.trees().expect("trees")[&a];
    assert_eq!(state.size, leaves.len() as u64);
    let head = log.issue_head(a).expect("head on demand");
    assert_eq!(head.tree_size, leaves.len() as u64);
    assert_eq!(head.root_hash, root_at(&MemoryNodes::from_leaves(&leaves), leaves.len() as u64).expect("root"));
    let public = LedgerSigningKey::from_secret([7; 32]).public();
    assert!(head.verify(&public));

    let heads = trees.heads(a).expect("heads");
    assert!(heads.len() >= 3, "a head every 5 events, plus the one asked for: {}", heads.len());
    for pair in heads.windows(2) {
        let proof = log.consistency(a, pair[0].tree_size, pair[1].tree_size).expect("proof");
        verify_consistency(pair[0].tree_size, pair[1].tree_size, &pair[0].root_hash, &pair[1].root_hash, &proof)
            .expect("consistent");
    }
    let all = ledger.store.read_all(0, 100_000).await.expect("read");
    for stored in all.iter().filter(|s| s.envelope.header.partner_id == a) {
        let proof = log.inclusion(a, stored.envelope.header.event_id, head.tree_size).expect("inclusion");
        verify_inclusion(proof.leaf_index, head.tree_size, &proof.leaf_hash, &proof.path, &head.root_hash)
            .expect("included");
    }
    // B's events are in B's tree only.
    let b_event = all.iter().find(|s| s.envelope.header.partner_id == b).expect("b event");
    assert!(log.inclusion(a, b_event.envelope.header.event_id, head.tree_size).is_err());
}

#[tokio::test]
async fn a_restarted_log_continues_from_its_stored_nodes() {
    let ledger = ledger_at(NOW);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("audit.sqlite");
    let a = PartnerId(Uuid::from_u128(1));
    onboard_with_channel(&ledger, a, ChannelKind::WhatsApp, "acct1").await.expect("a");
    messages(&ledger, a, 1, 0, 5).await;
    merkle(&ledger, Arc::new(SqliteTreeStore::open(&path).expect("open"))).catch_up().await.expect("first");
    messages(&ledger, a, 1, 5, 6).await;
    let trees = Arc::new(SqliteTreeStore::open(&path).expect("reopen"));
    let log = merkle(&ledger, trees.clone());
    log.catch_up().await.expect("second");
    let leaves = expected_leaves(&ledger, a).await;
    let head = log.issue_head(a).expect("head");
    assert_eq!(head.tree_size, leaves.len() as u64);
    assert_eq!(head.root_hash, root_at(&MemoryNodes::from_leaves(&leaves), leaves.len() as u64).expect("root"));
    // Catching up again adds nothing: no leaf is appended twice.
    log.catch_up().await.expect("again");
    assert_eq!(trees.trees().expect("trees")[&a].size, leaves.len() as u64);
}
