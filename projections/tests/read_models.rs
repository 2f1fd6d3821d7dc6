//! Read models from events made by the real command handlers on in-memory ports.

use laras_commands::handlers::inbound::{IncomingComment, IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::memory::{ledger_at, onboard_with_channel};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::opportunity::{MoveOpportunity, OpenOpportunity, WinOpportunity};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DeliveryStatus, DraftAuthor, Money, OptScope, OptSignal, ReplyTarget};
use laras_domain::ids::*;
use laras_domain::time::Timestamp;
use laras_projections::*;
use std::sync::Arc;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const HOUR: i64 = 3_600_000;

fn meta() -> CommandMeta {
    CommandMeta::system("test")
}

struct Setup {
    ledger: Ledger,
    dir: tempfile::TempDir,
    runner: ProjectionRunner,
}

fn setup() -> Setup {
    let ledger = ledger_at(NOW);
    let dir = tempfile::tempdir().expect("tempdir");
    let runner = runner_for(&ledger, dir.path());
    Setup { ledger, dir, runner }
}

fn runner_for(ledger: &Ledger, dir: &std::path::Path) -> ProjectionRunner {
    ProjectionRunner {
        store: ledger.store.clone(),
        keys: ledger.keys.clone(),
        models: ReadModels::open(dir).expect("open read models"),
        clock: ledger.clock.clone(),
        skips: None,
    }
}

async fn partner(ledger: &Ledger, n: u128, channel: ChannelKind) -> PartnerId {
    let id = PartnerId(Uuid::from_u128(n));
    onboard_with_channel(ledger, id, channel, &format!("acct{n}")).await.expect("onboard");
    id
}

fn wa_message(n: u128, from: &str, id: &str, at: Timestamp, text: &str) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: format!("acct{n}"),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: from.into(), name: Some(format!("Customer {from}")) },
        channel_message_id: id.into(),
        sent_at: at,
        content: PlainContent::Text(text.into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

async fn catch_up(runner: &ProjectionRunner) {
    runner.catch_up(|_, _| {}).await.expect("catch up");
}

fn all(models: &ReadModels, partner: PartnerId) -> Vec<InboxItem> {
    models
        .inbox(&partner.to_string(), &InboxFilter::default(), &PageRequest { first: 500, after: None })
        .expect("inbox")
        .items
}

#[tokio::test]
async fn the_inbox_and_conversation_follow_messages_drafts_and_deliveries() {
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    let rec = s
        .ledger
        .record_inbound_message(p, wa_message(1, "62811", "wamid.1", NOW, "Halo, ada batik tulis?"), &meta())
        .await
        .expect("in");
    s.ledger
        .record_inbound_message(p, wa_message(1, "62811", "wamid.2", Timestamp(NOW.0 + 1000), "Ukuran L ya"), &meta())
        .await
        .expect("in");
    let author = DraftAuthor::Person { user: UserId(Uuid::from_u128(5)) };
    let (draft, _) = s
        .ledger
        .propose_draft(
            p,
            rec.conversation_id,
            author,
            "Ada kak, Rp 450.000",
            ReplyTarget::Conversation { quote: None },
            &meta(),
        )
        .await
        .expect("draft");
    catch_up(&s.runner).await;
    let inbox = all(&s.runner.models, p);
    assert_eq!(inbox.len(), 1);
    let row = &inbox[0];
    assert_eq!(row.status, "awaiting_approval");
    assert_eq!(row.unread, 2);
    assert_eq!(row.last_text.as_deref(), Some("Ukuran L ya"));
    assert_eq!(row.contact_name.as_deref(), Some("Customer 62811"));
    assert_eq!(row.window_closes_at, Some(NOW.0 + 1000 + 24 * HOUR), "24 h after the last inbound message");

    s.ledger.approve_draft(p, rec.conversation_id, draft, &meta()).await.expect("approve");
    let request = SendRequest { reply: OutgoingReply::Draft(draft), template: None, marketing: false, media: None };
    let (send, _) = s.ledger.request_send(p, rec.conversation_id, request, &meta()).await.expect("send");
    s.ledger.record_sent(p, rec.conversation_id, send, "wamid.OUT1", NOW, &meta()).await.expect("sent");
    s.ledger
        .record_delivery_status(p, rec.conversation_id, "wamid.OUT1", DeliveryStatus::Delivered, NOW, &meta())
        .await
        .expect("delivered");
    catch_up(&s.runner).await;
    let row = &all(&s.runner.models, p)[0];
    assert_eq!((row.status.as_str(), row.unread, row.drafts_waiting), ("open", 0, 0));
    assert_eq!(row.window_closes_at, Some(NOW.0 + 1000 + 24 * HOUR), "our reply does not extend the window");
    let view =
        s.runner.models.conversation(&p.to_string(), &rec.conversation_id.to_string()).expect("q").expect("found");
    let kinds: Vec<_> = view.items.iter().map(|i| (i.kind.as_str(), i.state.as_deref())).collect();
    assert_eq!(
        kinds,
        vec![("inbound", None), ("inbound", None), ("draft", Some("sent")), ("reply", Some("delivered"))]
    );
    assert_eq!(view.items[3].draft_id, Some(draft.to_string()));
}

#[tokio::test]
async fn erasure_removes_plaintext_from_every_read_model_and_the_index() {
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    let rec = s
        .ledger
        .record_inbound_message(p, wa_message(1, "62811", "wamid.1", NOW, "alamat saya Jalan Melati 7"), &meta())
        .await
        .expect("in");
    s.ledger.add_note(p, rec.contact_id, "prefers melati tea", &meta()).await.expect("note");
    s.ledger.opt_out(p, rec.contact_id, None, OptScope::Marketing, OptSignal::Manual, &meta()).await.expect("opt out");
    catch_up(&s.runner).await;
    let m = &s.runner.models;
    let query = SearchQuery { text: "melati".into(), limit: 10, ..Default::default() };
    assert_eq!(m.search(&p.to_string(), &query).expect("search").len(), 2, "message and note are found");
    let contact = m.contact(&p.to_string(), &rec.contact_id.to_string()).expect("q").expect("found");
    let kinds: Vec<_> = contact.timeline.iter().map(|t| t.kind.as_str()).collect();
    assert_eq!(kinds, vec!["identified", "message_in", "note", "opted_out"]);
    assert!(contact.opted_out.is_some());

    s.ledger.erase_contact(p, rec.contact_id, &meta()).await.expect("erase");
    catch_up(&s.runner).await;
    assert!(m.search(&p.to_string(), &query).expect("search").is_empty(), "gone from the index");
    let contact = m.contact(&p.to_string(), &rec.contact_id.to_string()).expect("q").expect("still listed");
    assert!(contact.erased && contact.display_name.is_none());
    assert!(contact.timeline.iter().all(|t| t.summary.as_deref().is_none_or(|s| !s.contains("elati"))));
    assert_eq!(contact.timeline.last().map(|t| t.kind.as_str()), Some("erased"));
    let view = m.conversation(&p.to_string(), &rec.conversation_id.to_string()).expect("q").expect("found");
    assert!(view.items.iter().all(|i| i.text.is_none()) && view.summary.last_text.is_none());
    // Nothing readable in the database file either.
    drop(s.runner);
    let bytes = std::fs::read(s.dir.path().join("readmodels.sqlite")).expect("db");
    let wal = std::fs::read(s.dir.path().join("readmodels.sqlite-wal")).unwrap_or_default();
    for file in [bytes, wal] {
        assert!(!file.windows(6).any(|w| w == b"Melati"), "plaintext left on disk");
    }
}

#[tokio::test]
async fn a_rebuild_from_position_zero_gives_the_same_read_models() {
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    for i in 0..20 {
        let from = format!("628{}", i % 7);
        let at = Timestamp(NOW.0 + i * 1000);
        s.ledger
            .record_inbound_message(p, wa_message(1, &from, &format!("wamid.{i}"), at, "harga kopi gayo?"), &meta())
            .await
            .expect("in");
    }
    catch_up(&s.runner).await;
    let before = all(&s.runner.models, p);
    s.runner.rebuild(|_, _| {}).await.expect("rebuild");
    assert_eq!(all(&s.runner.models, p), before);
    assert_eq!(before.len(), 7);
    assert_eq!(before.iter().map(|r| r.unread).sum::<i64>(), 20);
}

#[tokio::test]
async fn a_restart_resumes_from_the_checkpoint_without_applying_anything_twice() {
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    for i in 0..5 {
        s.ledger
            .record_inbound_message(p, wa_message(1, "62811", &format!("wamid.{i}"), NOW, "halo"), &meta())
            .await
            .expect("in");
    }
    catch_up(&s.runner).await;
    let applied = s.runner.models.position();
    // A batch handed over again (a crash after commit, before the subscription moved on) is skipped.
    let again = s.ledger.store.read_all(0, 10_000).await.expect("read");
    s.runner.models.apply_batch(&again, s.ledger.keys.as_ref(), NOW.0).expect("replay");
    assert_eq!(all(&s.runner.models, p)[0].unread, 5);
    for i in 5..8 {
        s.ledger
            .record_inbound_message(p, wa_message(1, "62811", &format!("wamid.{i}"), NOW, "halo"), &meta())
            .await
            .expect("in");
    }
    // Reopen from disk, as after a restart.
    let dir = s.dir.path().to_path_buf();
    drop(s.runner);
    let runner = runner_for(&s.ledger, &dir);
    assert_eq!(runner.models.position(), applied);
    catch_up(&runner).await;
    assert_eq!(all(&runner.models, p)[0].unread, 8);
    let query = SearchQuery { text: "halo".into(), limit: 100, ..Default::default() };
    assert_eq!(runner.models.search(&p.to_string(), &query).expect("search").len(), 8, "each message indexed once");
}

#[tokio::test]
async fn search_is_scoped_to_the_partner_filtered_and_highlighted() {
    let s = setup();
    let a = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    let b = partner(&s.ledger, 2, ChannelKind::WhatsApp).await;
    s.ledger
        .record_inbound_message(a, wa_message(1, "62811", "w1", NOW, "Apakah pengiriman ke Surabaya gratis?"), &meta())
        .await
        .expect("in");
    s.ledger
        .record_inbound_message(
            a,
            wa_message(1, "62812", "w2", Timestamp(NOW.0 + 10 * HOUR), "Is shipping to Surabaya free?"),
            &meta(),
        )
        .await
        .expect("in");
    s.ledger
        .record_inbound_message(b, wa_message(2, "62811", "w3", NOW, "pengiriman ke Surabaya?"), &meta())
        .await
        .expect("in");
    catch_up(&s.runner).await;
    let m = &s.runner.models;
    let q = |text: &str| SearchQuery { text: text.into(), limit: 10, ..Default::default() };
    let hits = m.search(&a.to_string(), &q("pengiriman")).expect("search");
    assert_eq!(hits.len(), 1, "only partner A's message");
    assert!(
        hits[0].snippet_html.contains("<b>pengiriman</b>") || hits[0].snippet_html.contains("<b>Pengiriman</b>"),
        "{}",
        hits[0].snippet_html
    );
    assert_eq!(m.search(&a.to_string(), &q("SURABAYA")).expect("search").len(), 2, "case-insensitive");
    let dated = SearchQuery { from: Some(NOW.0 + HOUR), ..q("surabaya") };
    assert_eq!(m.search(&a.to_string(), &dated).expect("search").len(), 1, "date filter");
    let other_channel = SearchQuery { channel: Some("instagram".into()), ..q("surabaya") };
    assert!(m.search(&a.to_string(), &other_channel).expect("search").is_empty(), "channel filter");
    let ranked = m.search(&a.to_string(), &q("shipping free surabaya")).expect("search");
    assert_eq!(ranked[0].kind, "inbound");
    assert!(ranked[0].snippet_html.contains("<b>shipping</b>"), "BM25 puts the best match first");
    assert!(matches!(m.search(&a.to_string(), &q("  ")), Err(ProjectionError::BadQuery(_))));
}

#[tokio::test]
async fn the_pipeline_weights_open_deals_and_segments_follow_won_deals_and_time() {
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    let mut contacts = Vec::new();
    for i in 0..5 {
        // Contact 4 wrote most recently; the others 30, 60, … days ago.
        let at = Timestamp(NOW.0 - (4 - i) * 30 * 24 * HOUR);
        let rec = s
            .ledger
            .record_inbound_message(p, wa_message(1, &format!("6281{i}"), &format!("w{i}"), at, "halo"), &meta())
            .await
            .expect("in");
        contacts.push(rec.contact_id);
    }
    let idr = |v| Money { minor_units: v, currency: "IDR".into() };
    let mut deals = Vec::new();
    for (i, contact) in contacts.iter().enumerate() {
        let id = OpportunityId(Uuid::from_u128(100 + i as u128));
        let open = OpenOpportunity {
            opportunity_id: id,
            contact_id: *contact,
            conversation_id: None,
            title: format!("deal {i}"),
            stage: None,
            value: idr(1_000 * (i as i64 + 1)),
        };
        s.ledger.open_opportunity(p, open, &meta()).await.expect("open");
        deals.push(id);
    }
    s.ledger.on_opportunity(p, deals[0], &MoveOpportunity { to: "proposal".into() }, &meta()).await.expect("move");
    s.ledger.on_opportunity(p, deals[4], &WinOpportunity { value: Some(idr(900_000)) }, &meta()).await.expect("win");
    catch_up(&s.runner).await;
    let pipeline = s.runner.models.pipeline(&p.to_string()).expect("pipeline");
    let lead = pipeline.stages.iter().find(|st| st.name == "lead").expect("lead");
    assert_eq!(lead.open_count, 3);
    assert_eq!(lead.totals[0].value_minor, 2_000 + 3_000 + 4_000);
    assert_eq!(lead.totals[0].weighted_minor, 9_000 * 10 / 100);
    let proposal = pipeline.stages.iter().find(|st| st.name == "proposal").expect("proposal");
    assert_eq!((proposal.open_count, proposal.totals[0].weighted_minor), (1, 600));
    assert_eq!(lead.avg_duration_ms, Some(0), "deal 0 left lead at once (the clock did not move)");
    assert_eq!((pipeline.won_count, pipeline.won[0].value_minor), (1, 900_000));

    let segments = s.runner.models.segments(&p.to_string(), None).expect("segments");
    assert_eq!(segments.len(), 5);
    let top = &segments[0];
    assert_eq!((top.contact_id.clone(), top.clv_minor, top.won_deals), (contacts[4].to_string(), 900_000, 1));
    assert_eq!(top.segment, "Champions");
    // Time passes: a year later the same customer is slipping away.
    s.runner.models.recompute_segments(NOW.0 + 400 * 24 * HOUR).expect("recompute");
    let later = s.runner.models.segments(&p.to_string(), None).expect("segments");
    assert_eq!(later[0].recency_days, 400);
    assert!(later.iter().all(|s| (1..=5).contains(&s.r) && (1..=5).contains(&s.f) && (1..=5).contains(&s.m)));
}

#[tokio::test]
async fn comments_and_other_partners_ids_stay_where_they_belong() {
    let s = setup();
    let a = partner(&s.ledger, 1, ChannelKind::Instagram).await;
    let b = partner(&s.ledger, 2, ChannelKind::Instagram).await;
    let comment = IncomingComment {
        channel: ChannelKind::Instagram,
        account_id: "acct1".into(),
        sender: SenderIdentity { kind: IdentityKind::Igsid, value: "1784".into(), name: Some("rina".into()) },
        post_id: "media1".into(),
        comment_id: "c1".into(),
        parent_id: None,
        text: "Masih ada stok?".into(),
        sent_at: NOW,
    };
    let rec = s.ledger.record_public_comment(a, comment, &meta()).await.expect("comment");
    catch_up(&s.runner).await;
    let m = &s.runner.models;
    let view = m.conversation(&a.to_string(), &rec.conversation_id.to_string()).expect("q").expect("found");
    assert_eq!(view.items[0].kind, "comment");
    assert!(view.thread.contains("media1"));
    assert!(m.conversation(&b.to_string(), &rec.conversation_id.to_string()).expect("q").is_none());
    assert!(m.contact(&b.to_string(), &rec.contact_id.to_string()).expect("q").is_none());
    assert!(all(m, b).is_empty());
}

#[tokio::test]
async fn read_your_writes_waits_for_a_position_and_times_out_with_a_typed_error() {
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    let models = s.runner.models.clone();
    let stop = tokio::sync::oneshot::channel::<()>();
    let live = tokio::spawn(s.runner.clone().run(async move {
        let _ = stop.1.await;
    }));
    let rec = s.ledger.record_inbound_message(p, wa_message(1, "62811", "w1", NOW, "halo"), &meta()).await.expect("in");
    let position = rec.committed.last_position().expect("position");
    models.wait_for(position, std::time::Duration::from_secs(5)).await.expect("visible");
    assert_eq!(all(&models, p).len(), 1);
    let far = models.wait_for(position + 1_000, std::time::Duration::from_millis(50)).await;
    assert!(matches!(far, Err(ProjectionError::Timeout { .. })));
    let _ = stop.0.send(());
    live.await.expect("join").expect("runner");
    let _ = Arc::strong_count(&s.ledger.store);
}

mod pagination {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]
        #[test]
        fn paging_visits_every_conversation_exactly_once(n in 0usize..40, page in 1usize..9, same_time in any::<bool>()) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
            rt.block_on(async {
                let s = setup();
                let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
                for i in 0..n {
                    let at = if same_time { NOW } else { Timestamp(NOW.0 + (i as i64 % 5) * 1000) };
                    s.ledger.record_inbound_message(p, wa_message(1, &format!("62{i}"), &format!("w{i}"), at, "x"), &meta()).await.expect("in");
                }
                catch_up(&s.runner).await;
                let mut seen = Vec::new();
                let mut after = None;
                loop {
                    let got = s.runner.models.inbox(&p.to_string(), &InboxFilter::default(), &PageRequest { first: page, after: after.clone() }).expect("page");
                    seen.extend(got.items.iter().map(|i| i.conversation_id.clone()));
                    if !got.has_next_page { break; }
                    after = got.end_cursor;
                }
                let unique: std::collections::BTreeSet<_> = seen.iter().cloned().collect();
                assert_eq!(seen.len(), n);
                assert_eq!(unique.len(), n);
            });
        }
    }
}

/// A sender whose calls all go out and never answer: every attempt is left in doubt.
struct NoAnswer;

#[async_trait::async_trait]
impl laras_commands::outbox::ChannelSender for NoAnswer {
    async fn deliver(
        &self,
        _: &laras_commands::outbox::OutboundMessage,
    ) -> Result<String, laras_commands::outbox::DeliveryError> {
        Err(laras_commands::outbox::DeliveryError::Unknown { detail: "timed out after sending".into() })
    }
}

#[tokio::test]
async fn a_send_held_in_doubt_shows_in_the_conversation_and_the_held_list_until_a_person_resolves_it() {
    use laras_commands::outbox::{DeliveryOutcome, InDoubtBounds, Outbox, OutboxSettings, PendingSends};
    use laras_domain::event::InDoubtPolicy;
    let s = setup();
    let p = partner(&s.ledger, 1, ChannelKind::WhatsApp).await;
    let rec =
        s.ledger.record_inbound_message(p, wa_message(1, "62811", "wamid.1", NOW, "Halo"), &meta()).await.unwrap();
    s.ledger.set_in_doubt_policy(p, ChannelKind::WhatsApp, InDoubtPolicy::HoldForPerson, &meta()).await.unwrap();
    let request = SendRequest {
        reply: OutgoingReply::Person { text: "Ada kak".into(), target: ReplyTarget::Conversation { quote: None } },
        template: None,
        marketing: false,
        media: None,
    };
    let (send, _) = s.ledger.request_send(p, rec.conversation_id, request, &meta()).await.unwrap();
    let bounds = InDoubtBounds { whatsapp: std::time::Duration::ZERO, ..InDoubtBounds::default() };
    let outbox = Outbox::with_settings(
        s.ledger.clone(),
        Arc::new(NoAnswer),
        OutboxSettings { in_doubt: bounds, ..OutboxSettings::default() },
    );
    let mut pending = PendingSends::default();
    for stored in s.ledger.store.read_all(0, 1000).await.unwrap() {
        pending.observe(&stored).unwrap();
    }
    let pending = pending.take_all();
    assert_eq!(outbox.deliver(&pending[0]).await.unwrap(), DeliveryOutcome::InDoubt { attempt: 1 });
    assert_eq!(outbox.deliver(&pending[0]).await.unwrap(), DeliveryOutcome::Held);
    catch_up(&s.runner).await;
    let (partner_id, conversation) = (p.to_string(), rec.conversation_id.to_string());
    let view = s.runner.models.conversation(&partner_id, &conversation).unwrap().unwrap();
    assert_eq!(view.in_doubt_policy, "hold_for_person");
    let reply = view.items.iter().find(|i| i.kind == "reply").unwrap();
    assert_eq!(
        (reply.state.as_deref(), reply.attempts, reply.in_doubt.as_deref(), reply.evidence.as_deref()),
        (Some("held"), Some(1), Some("held"), None)
    );
    let held = s.runner.models.held_sends(&partner_id).unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!((held[0].send_id.as_str(), held[0].text.as_deref()), (send.to_string().as_str(), Some("Ada kak")));
    assert!(s.runner.models.held_sends(&PartnerId(Uuid::from_u128(2)).to_string()).unwrap().is_empty());

    s.ledger.mark_sent(p, rec.conversation_id, send, None, &meta()).await.unwrap();
    catch_up(&s.runner).await;
    let view = s.runner.models.conversation(&partner_id, &conversation).unwrap().unwrap();
    let reply = view.items.iter().find(|i| i.kind == "reply").unwrap();
    assert_eq!(
        (reply.state.as_deref(), reply.in_doubt.as_deref(), reply.evidence.as_deref()),
        (Some("sent"), Some("resolved"), Some("person_confirmed"))
    );
    assert!(s.runner.models.held_sends(&partner_id).unwrap().is_empty());
}
