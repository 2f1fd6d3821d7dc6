//! A fresh rebuild gives, row for row, the read models that were built live.

use laras_commands::handlers::inbound::{IncomingMessage, IncomingReaction, PlainContent, SenderIdentity};
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::memory::{ledger_at, onboard_with_channel};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DeliveryStatus, DraftAuthor, ReplyTarget};
use laras_domain::ids::*;
use laras_domain::time::Timestamp;
use laras_projections::*;
use rusqlite::types::Value;
use std::collections::BTreeMap;
use std::path::Path;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);

fn meta() -> CommandMeta {
    CommandMeta::system("test")
}

fn runner_for(ledger: &Ledger, dir: &Path) -> ProjectionRunner {
    ProjectionRunner {
        store: ledger.store.clone(),
        keys: ledger.keys.clone(),
        models: ReadModels::open(dir).expect("open read models"),
        clock: ledger.clock.clone(),
        skips: None,
    }
}

fn message(from: &str, id: &str, at: i64, text: &str) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "acct1".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: from.into(), name: Some(format!("Customer {from}")) },
        channel_message_id: id.into(),
        sent_at: Timestamp(NOW.0 + at),
        content: PlainContent::Text(text.into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

/// Every row of every table, as text, sorted: two databases with the same rows dump the same.
fn dump(db: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|table| {
            let mut stmt = conn.prepare(&format!("SELECT * FROM \"{table}\"")).unwrap();
            let n = stmt.column_count();
            let mut rows: Vec<String> = stmt
                .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())
                .unwrap()
                .map(|row| format!("{:?}", row.unwrap()))
                .collect();
            rows.sort();
            (table, rows)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_rebuild_equals_the_read_models_built_live() {
    let ledger = ledger_at(NOW);
    let live_dir = tempfile::tempdir().unwrap();
    let live = runner_for(&ledger, live_dir.path());
    let p = PartnerId(Uuid::from_u128(1));
    onboard_with_channel(&ledger, p, ChannelKind::WhatsApp, "acct1").await.unwrap();
    let mut first = None;
    // Built live: the runner catches up between bursts, as it follows the log.
    for round in 0..6 {
        for c in 0..5 {
            let (from, id) = (format!("6281{c}"), format!("wamid.{round}.{c}"));
            let text = format!("batik tulis nomor {round} untuk {c}");
            let rec =
                ledger.record_inbound_message(p, message(&from, &id, round * 1000, &text), &meta()).await.unwrap();
            first.get_or_insert(rec.conversation_id);
        }
        live.catch_up(|_, _| {}).await.unwrap();
    }
    let conversation = first.unwrap();
    let reaction = IncomingReaction {
        channel: ChannelKind::WhatsApp,
        account_id: "acct1".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: "62810".into(), name: None },
        also: vec![],
        reaction_id: "r1".into(),
        to_message: "wamid.0.0".into(),
        emoji: Some("👍".into()),
        sent_at: NOW,
    };
    ledger.record_reaction(p, reaction, &meta()).await.unwrap();
    let author = DraftAuthor::Person { user: UserId(Uuid::from_u128(5)) };
    let target = ReplyTarget::Conversation { quote: None };
    let (draft, _) = ledger.propose_draft(p, conversation, author, "Ada kak", target, &meta()).await.unwrap();
    ledger.approve_draft(p, conversation, draft, &meta()).await.unwrap();
    let request = SendRequest { reply: OutgoingReply::Draft(draft), template: None, marketing: false, media: None };
    let (send, _) = ledger.request_send(p, conversation, request, &meta()).await.unwrap();
    ledger.record_sent(p, conversation, send, "wamid.OUT1", NOW, &meta()).await.unwrap();
    ledger.record_delivery_status(p, conversation, "wamid.OUT1", DeliveryStatus::Read, NOW, &meta()).await.unwrap();
    live.catch_up(|_, _| {}).await.unwrap();
    let live_hits = live
        .models
        .search(&p.to_string(), &SearchQuery { text: "batik".into(), limit: 100, ..Default::default() })
        .unwrap();
    drop(live);

    let fresh_dir = tempfile::tempdir().unwrap();
    // The folder already holds read models (stale ones): the rebuild must replace them whole.
    drop(runner_for(&ledger, fresh_dir.path()));
    let mut seen = Vec::new();
    let position = ProjectionRunner::rebuild_fresh(
        ledger.store.clone(),
        ledger.keys.clone(),
        ledger.clock.clone(),
        None,
        fresh_dir.path(),
        |done, total| seen.push((done, total)),
    )
    .await
    .unwrap();
    assert_eq!(position, *ledger.store.head().borrow());
    assert_eq!(seen.last().map(|(d, t)| d == t), Some(true), "progress reaches the total");
    assert!(!fresh_dir.path().join("readmodels.rebuild").exists(), "the staging folder is gone");

    let live_rows = dump(&live_dir.path().join("readmodels.sqlite"));
    let fresh_rows = dump(&fresh_dir.path().join("readmodels.sqlite"));
    assert!(live_rows["items"].len() > 30 && !live_rows["reactions"].is_empty(), "the comparison covers data");
    assert_eq!(fresh_rows, live_rows);
    let rebuilt = ReadModels::open(fresh_dir.path()).unwrap();
    assert_eq!(rebuilt.position(), position, "the swapped-in models resume where they were built to");
    let hits = rebuilt
        .search(&p.to_string(), &SearchQuery { text: "batik".into(), limit: 100, ..Default::default() })
        .unwrap();
    assert_eq!(hits.len(), live_hits.len());
    assert_eq!(hits.len(), 30);
}

fn index_names(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).expect("open");
    let mut stmt = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").expect("prepare");
    let names = stmt.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("rows");
    names
}

/// A load from empty leaves some indexes out until its end; an erasure on the way (which
/// updates rows by contact) brings them back first. Neither changes a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_load_with_an_erasure_equals_the_read_models_built_event_by_event() {
    let ledger = ledger_at(NOW);
    let p = PartnerId(Uuid::from_u128(1));
    onboard_with_channel(&ledger, p, ChannelKind::WhatsApp, "acct1").await.unwrap();
    let live_dir = tempfile::tempdir().unwrap();
    let live = runner_for(&ledger, live_dir.path());
    live.catch_up(|_, _| {}).await.unwrap();
    let mut erased = None;
    for i in 0..12 {
        // The erased contact writes once: a later message would make it known again.
        let from = if i == 5 { "62899".to_owned() } else { format!("6281{}", i % 4) };
        let rec = ledger
            .record_inbound_message(p, message(&from, &format!("wamid.{i}"), i * 1000, "kopi gayo"), &meta())
            .await
            .unwrap();
        if i == 5 {
            ledger.erase_contact(p, rec.contact_id, &meta()).await.unwrap();
            erased = Some(rec.contact_id);
        }
        live.catch_up(|_, _| {}).await.unwrap();
    }
    drop(live);

    let fresh_dir = tempfile::tempdir().unwrap();
    ProjectionRunner::rebuild_fresh(
        ledger.store.clone(),
        ledger.keys.clone(),
        ledger.clock.clone(),
        None,
        fresh_dir.path(),
        |_, _| {},
    )
    .await
    .unwrap();
    let (live_db, fresh_db) = (live_dir.path().join("readmodels.sqlite"), fresh_dir.path().join("readmodels.sqlite"));
    let fresh_rows = dump(&fresh_db);
    assert_eq!(fresh_rows, dump(&live_db));
    assert!(fresh_rows["contacts"].iter().any(|row| row.contains("Integer(1)")), "the erasure is in the rows");
    assert_eq!(index_names(&fresh_db), index_names(&live_db), "every index is back");
    assert!(index_names(&fresh_db).iter().any(|n| n == "conversations_inbox"));
    let rebuilt = ReadModels::open(fresh_dir.path()).unwrap();
    let c = erased.unwrap().to_string();
    let contact = rebuilt.contact(&p.to_string(), &c).unwrap().unwrap();
    assert!(contact.erased && contact.display_name.is_none());
}

/// A search index of an older layout (tantivy refuses a schema other than its own) is
/// dropped on open and filled again from the log; the tables, ahead, stay as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_index_of_an_older_layout_is_rebuilt_from_the_log() {
    let ledger = ledger_at(NOW);
    let p = PartnerId(Uuid::from_u128(1));
    onboard_with_channel(&ledger, p, ChannelKind::WhatsApp, "acct1").await.unwrap();
    ledger.record_inbound_message(p, message("62811", "wamid.1", 0, "batik tulis"), &meta()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let runner = runner_for(&ledger, dir.path());
    runner.catch_up(|_, _| {}).await.unwrap();
    let position = runner.models.position();
    drop(runner);

    let search = dir.path().join("search");
    std::fs::remove_dir_all(&search).unwrap();
    std::fs::create_dir_all(&search).unwrap();
    let mut old = tantivy::schema::Schema::builder();
    old.add_text_field("conversation", tantivy::schema::STRING | tantivy::schema::STORED);
    let old = tantivy::Index::create_in_dir(&search, old.build()).unwrap();
    old.writer::<tantivy::TantivyDocument>(15_000_000).unwrap().commit().unwrap();
    drop(old);

    let runner = runner_for(&ledger, dir.path());
    assert_eq!(runner.models.search_position(), 0, "the old index went, with its checkpoint");
    assert_eq!(runner.models.position(), position, "the tables did not");
    runner.catch_up(|_, _| {}).await.unwrap();
    let hits = runner
        .models
        .search(&p.to_string(), &SearchQuery { text: "batik".into(), limit: 10, ..Default::default() })
        .unwrap();
    assert_eq!(hits.len(), 1);
}
