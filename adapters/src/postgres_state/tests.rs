//! The shared state on a real server: the same suites as the SQLite twins, with each
//! `open` a new pool (another node), and what only a shared database must add.

use super::*;
use crate::port_suites;
use crate::postgres_log::testing::TestDatabase;
use laras_commands::access::{ApiKeys, Role};
use laras_commands::credentials::{AccessToken, ChannelCredentials};
use laras_commands::keys::{ContactKeys, KeyError};
use laras_domain::channel::ChannelKind;
use laras_domain::ids::{ContactId, PartnerId};
use uuid::Uuid;

fn database(test: &str) -> Option<TestDatabase> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(TestDatabase::create(test))
}

fn master(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32])
}

fn raw(shared: &PgShared, sql: &'static str) -> Vec<Vec<u8>> {
    shared
        .with(move |c| async move {
            let rows = c.query(sql, &[]).await.map_err(storage)?;
            Ok(rows.iter().map(|r| r.get::<_, Vec<u8>>(0)).collect())
        })
        .expect("query")
}

#[test]
fn contact_keys_on_postgres_keep_the_ports_promises() {
    let Some(db) = database("contact_keys_on_postgres_keep_the_ports_promises") else { return };
    let url = db.url.clone();
    port_suites::contact_keys(&move || {
        Arc::new(PgKeyStore::open(PgShared::open(&url).expect("open"), master(1)).expect("keys"))
    });
}

#[test]
fn erasing_a_contact_on_postgres_deletes_its_wrapped_key() {
    let Some(db) = database("erasing_a_contact_on_postgres_deletes_its_wrapped_key") else { return };
    let shared = PgShared::open(&db.url).expect("open");
    let keys = PgKeyStore::open(shared.clone(), master(1)).expect("keys");
    let (p, c) = (PartnerId(Uuid::new_v4()), ContactId(Uuid::new_v4()));
    keys.data_key_for(p, c).expect("key");
    assert_eq!(raw(&shared, "SELECT wrapped FROM data_keys").len(), 1);
    keys.destroy_contact_keys(c).expect("destroy");
    assert!(raw(&shared, "SELECT wrapped FROM data_keys").is_empty(), "the row is gone, not marked");
}

#[test]
fn a_node_with_another_master_key_is_refused() {
    let Some(db) = database("a_node_with_another_master_key_is_refused") else { return };
    let first = PgShared::open(&db.url).expect("open");
    assert!(!first.holds_wrapped_keys().expect("fresh"));
    PgKeyStore::open(first.clone(), master(1)).expect("first node");
    assert!(first.holds_wrapped_keys().expect("used"));
    let second = PgShared::open(&db.url).expect("open");
    assert!(matches!(PgKeyStore::open(second.clone(), master(2)), Err(KeyError::Corrupt)));
    assert_eq!(second.check_master_key(&master(2)), Err(SharedStateError::OtherMasterKey));
    PgKeyStore::open(second, master(1)).expect("the same key is welcome");
}

#[test]
fn api_keys_on_postgres_keep_the_ports_promises_and_store_only_digests() {
    let Some(db) = database("api_keys_on_postgres_keep_the_ports_promises") else { return };
    let url = db.url.clone();
    port_suites::api_keys(&move || Arc::new(PgApiKeys::new(PgShared::open(&url).expect("open"))));
    let shared = PgShared::open(&db.url).expect("open");
    let (_, secret) = PgApiKeys::new(shared.clone()).create(PartnerId(Uuid::new_v4()), Role::Owner, "").expect("key");
    let secret_part = secret.expose().as_bytes()[crate::api_keys::PREFIX.len() + 17..].to_vec();
    let rows = raw(&shared, "SELECT convert_to(id || role || label, 'UTF8') || digest FROM api_keys");
    assert!(rows.iter().all(|row| !row.windows(secret_part.len()).any(|w| w == secret_part)));
}

#[test]
fn channel_credentials_on_postgres_keep_the_ports_promises_and_stay_sealed() {
    let Some(db) = database("channel_credentials_on_postgres_keep_the_ports_promises") else { return };
    let url = db.url.clone();
    port_suites::channel_credentials(&move |byte| {
        Arc::new(PgCredentials::new(PgShared::open(&url).expect("open"), &master(byte)))
    });
    let shared = PgShared::open(&db.url).expect("open");
    PgCredentials::new(shared.clone(), &master(1))
        .store(PartnerId(Uuid::new_v4()), ChannelKind::Messenger, &AccessToken::new("EAAG-plain-needle"))
        .expect("store");
    let needle = b"EAAG-plain-needle";
    assert!(raw(&shared, "SELECT sealed FROM channel_tokens")
        .iter()
        .all(|s| !s.windows(needle.len()).any(|w| w == needle)));
}

#[test]
fn the_tree_store_on_postgres_keeps_the_ports_promises() {
    let Some(db) = database("the_tree_store_on_postgres_keeps_the_ports_promises") else { return };
    let url = db.url.clone();
    port_suites::tree_store(&move || Arc::new(PgTreeStore::new(PgShared::open(&url).expect("open"))));
}

#[test]
fn a_node_behind_cannot_move_the_shared_tree_checkpoint_back() {
    use laras_commands::audit::{TreeBatch, TreeStore};
    let Some(db) = database("a_node_behind_cannot_move_the_shared_tree_checkpoint_back") else { return };
    let (ahead, behind) =
        (PgTreeStore::new(PgShared::open(&db.url).expect("a")), PgTreeStore::new(PgShared::open(&db.url).expect("b")));
    ahead.write(TreeBatch { up_to: 50, ..Default::default() }).expect("write");
    behind.write(TreeBatch { up_to: 20, ..Default::default() }).expect("write");
    assert_eq!(behind.checkpoint().expect("checkpoint"), 50);
}

#[test]
fn nodes_starting_together_migrate_once() {
    let Some(db) = database("nodes_starting_together_migrate_once") else { return };
    let opened: Vec<_> = std::thread::scope(|s| {
        let joins: Vec<_> = (0..4).map(|_| s.spawn(|| PgShared::open(&db.url))).collect();
        joins.into_iter().map(|j| j.join().expect("thread")).collect()
    });
    assert!(
        opened.iter().all(Result::is_ok),
        "{:?}",
        opened.iter().filter_map(|r| r.as_ref().err()).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leases_and_checkpoints_on_postgres_keep_the_contract() {
    let Some(db) = TestDatabase::create("leases_and_checkpoints_on_postgres_keep_the_contract").await else { return };
    let url = db.url.clone();
    let open = move || -> Arc<dyn super::runtime_contract::Runtime> {
        Arc::new(PgRuntime::new(PgShared::open(&url).expect("open")))
    };
    // Opening blocks on the bridge: do it off the test's workers.
    let open = move || tokio::task::block_in_place(&open);
    super::runtime_contract::run_all(&open).await;
}

/// The shared runtime store keeps the runtime ports' contract (commands/src/runtime/contract.rs),
/// snapshots included, each clause on a fresh database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_runtime_store_keeps_the_runtime_contract_snapshots_included() {
    use laras_commands::runtime::contract;
    let test = "the_shared_runtime_store_keeps_the_runtime_contract";
    macro_rules! clause {
        ($name:ident) => {{
            let Some(db) = TestDatabase::create(test).await else { return };
            let url = db.url.clone();
            let rt = tokio::task::block_in_place(|| PgRuntime::new(PgShared::open(&url).expect("open")));
            contract::$name(&rt).await;
        }};
    }
    clause!(one_holder_at_a_time_and_the_fence_rises_on_every_change_of_holder);
    clause!(an_expired_lease_goes_to_the_next_node_and_fences_the_old_one);
    clause!(checkpoints_never_move_back_and_unleased_processes_need_no_lease);
    clause!(snapshots_replace_each_other_are_fenced_and_never_move_back);
    clause!(leases_and_checkpoints_of_different_processes_are_independent);
}

/// A once-only process's snapshot is the cluster's, not the node's: the node that takes the
/// lease over resumes from the last holder's state, and the old holder can no longer write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_taking_a_lease_over_resumes_from_the_last_holders_snapshot() {
    use laras_commands::runtime::{Leases, NodeId, Snapshot, Snapshots};
    use std::time::Duration;
    let Some(db) = TestDatabase::create("the_node_taking_a_lease_over_resumes").await else { return };
    let url = db.url.clone();
    let (a, b) = tokio::task::block_in_place(|| {
        (PgRuntime::new(PgShared::open(&url).expect("a")), PgRuntime::new(PgShared::open(&url).expect("b")))
    });
    let (node_a, node_b) = (NodeId("a".into()), NodeId("b".into()));
    let held = a.try_acquire("follow-ups", &node_a, Duration::from_millis(300)).await.unwrap().expect("free");
    let book = Snapshot { position: 41, state: b"open deals as of 41".to_vec() };
    a.save_snapshot("follow-ups", &book, held.fence).await.unwrap();
    assert_eq!(b.try_acquire("follow-ups", &node_b, Duration::from_secs(60)).await.unwrap(), None, "still a's");
    tokio::time::sleep(Duration::from_millis(450)).await;
    let taken = b.try_acquire("follow-ups", &node_b, Duration::from_secs(60)).await.unwrap().expect("expired");
    assert_eq!(b.load_snapshot("follow-ups").await.unwrap(), Some(book.clone()), "b resumes from a's book");
    let late = Snapshot { position: 50, state: b"a, paused past its lease".to_vec() };
    assert!(matches!(
        a.save_snapshot("follow-ups", &late, held.fence).await,
        Err(laras_commands::runtime::CheckpointError::Fenced { .. })
    ));
    let next = Snapshot { position: 60, state: b"b's book".to_vec() };
    b.save_snapshot("follow-ups", &next, taken.fence).await.unwrap();
    assert_eq!(a.load_snapshot("follow-ups").await.unwrap(), Some(next));
}

/// The Merkle log's writes carry its lease's fence: a node that lost the lease while it
/// worked can write neither leaves nor heads, so no growth gets a second signed head.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_merkle_log_holder_cannot_write_leaves_or_heads() {
    use laras_commands::audit::{AuditError, TreeBatch, TreeStore, PROCESS};
    use laras_commands::runtime::{Leases, NodeId};
    use laras_domain::signing::LedgerSigningKey;
    use laras_domain::time::Timestamp;
    use laras_domain::tree_head::TreeHead;
    use std::time::Duration;
    let Some(db) = TestDatabase::create("a_stale_merkle_log_holder_cannot_write").await else { return };
    let url = db.url.clone();
    let (leases, trees) = tokio::task::block_in_place(|| {
        let shared = PgShared::open(&url).expect("open");
        (PgRuntime::new(shared.clone()), PgTreeStore::new(shared))
    });
    let stale =
        leases.try_acquire(PROCESS, &NodeId("a".into()), Duration::from_millis(300)).await.unwrap().expect("free");
    let (partner, key) = (PartnerId(Uuid::new_v4()), LedgerSigningKey::from_secret([3; 32]));
    let head = |size| TreeHead::sign(partner, size, [7; 32], Timestamp(size as i64), &key);
    tokio::task::block_in_place(|| {
        trees.write(TreeBatch { up_to: 5, fence: stale.fence, ..Default::default() }).expect("the holder writes");
        trees.store_head(&head(1), stale.fence).expect("the holder signs");
    });
    tokio::time::sleep(Duration::from_millis(450)).await;
    let taken =
        leases.try_acquire(PROCESS, &NodeId("b".into()), Duration::from_secs(60)).await.unwrap().expect("expired");
    tokio::task::block_in_place(|| {
        let late = TreeBatch { up_to: 9, fence: stale.fence, heads: vec![head(2)], ..Default::default() };
        assert!(matches!(trees.write(late), Err(AuditError::Fenced)));
        assert!(matches!(trees.store_head(&head(3), stale.fence), Err(AuditError::Fenced)));
        assert_eq!(trees.checkpoint().unwrap(), 5, "the refused batch moved nothing");
        trees.write(TreeBatch { up_to: 12, fence: taken.fence, ..Default::default() }).expect("the new holder writes");
        assert_eq!(trees.checkpoint().unwrap(), 12);
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_on_postgres_keeps_the_ports_promises_and_one_node_reads_what_another_put() {
    use laras_commands::media::{contract, MediaObject, MediaStore};
    let Some(db) = TestDatabase::create("media_on_postgres_keeps_the_ports_promises").await else { return };
    let store = PgMediaStore::new(PgShared::open(&db.url).expect("open"));
    contract::put_objects_read_back_by_range(&store).await;
    contract::putting_an_object_twice_keeps_one(&store).await;
    contract::deleting_one_object_leaves_its_neighbours(&store).await;
    contract::deleting_a_contact_deletes_only_its_objects(&store).await;

    // Another node (its own pool) reads an object this one put, by range.
    let object = MediaObject {
        partner: PartnerId(Uuid::from_u128(11)),
        contact: ContactId(Uuid::from_u128(12)),
        name: "e".repeat(64),
    };
    let sealed: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    store.put(&object, &sealed).await.expect("put");
    let other = PgMediaStore::new(PgShared::open(&db.url).expect("open"));
    assert_eq!(other.len(&object).await.expect("len"), Some(300_000));
    assert_eq!(other.read(&object, 123_456..123_500).await.expect("read").as_deref(), Some(&sealed[123_456..123_500]));
    // A name that is not a content address is refused, never queried.
    let forged = MediaObject { name: "../secret".into(), ..object };
    assert_eq!(other.len(&forged).await.expect("len"), None);
    assert!(other.put(&forged, b"x").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erased_contacts_media_on_postgres_is_unreadable_at_once_then_deleted() {
    use laras_commands::media::contract;
    let Some(db) = TestDatabase::create("an_erased_contacts_media_on_postgres").await else { return };
    let shared = PgShared::open(&db.url).expect("open");
    let keys = Arc::new(PgKeyStore::open(shared.clone(), master(1)).expect("keys"));
    contract::an_erased_contacts_files_are_unreadable_at_once_then_deleted(
        Arc::new(PgMediaStore::new(shared.clone())),
        keys,
    )
    .await;
    assert!(raw(&shared, "SELECT sealed FROM media_objects").is_empty(), "no sealed file is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_copy_moves_a_folders_media_into_the_database_once() {
    use crate::media_folder::{FolderMediaStore, MediaCopied};
    use laras_commands::media::{MediaObject, MediaStore};
    let Some(db) = TestDatabase::create("store_copy_moves_a_folders_media").await else { return };
    let dir = tempfile::tempdir().expect("dir");
    let folder = FolderMediaStore::open(dir.path().join("media")).expect("folder");
    let object = MediaObject {
        partner: PartnerId(Uuid::from_u128(21)),
        contact: ContactId(Uuid::from_u128(22)),
        name: "f".repeat(64),
    };
    folder.put(&object, b"sealed photo").await.expect("put");
    let target = PgMediaStore::new(PgShared::open(&db.url).expect("open"));
    assert_eq!(folder.copy_into(&target).await.expect("copy"), MediaCopied { copied: 1, already: 0 });
    assert_eq!(folder.copy_into(&target).await.expect("rerun"), MediaCopied { copied: 0, already: 1 });
    assert_eq!(target.read(&object, 0..100).await.expect("read").as_deref(), Some(&b"sealed photo"[..]));
}

/// Polls `done` for up to five seconds (notifications arrive asynchronously).
fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::time::Instant::now() < until {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    false
}

#[test]
fn a_node_forgets_the_keys_another_node_erased() {
    let Some(db) = database("a_node_forgets_the_keys_another_node_erased") else { return };
    let (eraser, keeper) = (
        PgKeyStore::open(PgShared::open(&db.url).expect("open"), master(1)).expect("first node"),
        PgKeyStore::open(PgShared::open(&db.url).expect("open"), master(1)).expect("second node"),
    );
    let (p, c) = (PartnerId(Uuid::new_v4()), ContactId(Uuid::new_v4()));
    // The keeper listens once its listener has connected; until then it reads the table.
    assert!(eventually(|| keeper.hears_erasures()), "the keeper's listener connects");
    let (id, _) = eraser.data_key_for(p, c).expect("key");
    assert_eq!(keeper.data_key_for(p, c).expect("key").0, id);
    assert!(keeper.data_key(id).expect("read").is_some());

    eraser.destroy_contact_keys(c).expect("destroy");
    assert!(
        eventually(|| keeper.data_key(id).expect("read").is_none()),
        "the other node stops serving a destroyed key"
    );
    assert_ne!(keeper.data_key_for(p, c).expect("fresh").0, id, "and finds no live key to hand out");
}

#[test]
fn keys_are_served_from_memory_until_an_erasure_is_heard() {
    let Some(db) = database("keys_are_served_from_memory_until_an_erasure_is_heard") else { return };
    let shared = PgShared::open(&db.url).expect("open");
    let keys = PgKeyStore::open(shared.clone(), master(1)).expect("keys");
    assert!(eventually(|| keys.hears_erasures()), "the listener connects");
    let (p, c) = (PartnerId(Uuid::new_v4()), ContactId(Uuid::new_v4()));
    let (id, _) = keys.data_key_for(p, c).expect("key");
    // Deleted behind the store's back, without an announcement: memory still answers, so
    // a known contact's seal costs no round trip.
    raw(&shared, "WITH gone AS (DELETE FROM data_keys RETURNING wrapped) SELECT wrapped FROM gone");
    assert_eq!(keys.data_key_for(p, c).expect("cached").0, id);
    assert!(keys.data_key(id).expect("cached").is_some());
    // The announcement an erasure sends makes it forget.
    let contact = c.0.to_string();
    shared
        .with(move |client| async move {
            client.execute("SELECT pg_notify('laras_keys', $1)", &[&contact]).await.map_err(storage)
        })
        .expect("notify");
    assert!(eventually(|| keys.data_key(id).expect("read").is_none()), "forgotten once heard");
}
