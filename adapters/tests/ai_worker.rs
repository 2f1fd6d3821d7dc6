//! The AI worker with its embedded parts: answers from the Partner's articles, waits
//! for approval or sends under autopilot, declines what is off-topic or unsupported,
//! never auto-sends to an upset customer, and handles each message once.

use async_trait::async_trait;
use laras_adapters::ai::embedded::EmbeddedGenerator;
use laras_adapters::ai::knowledge::TantivyKnowledge;
use laras_adapters::ai::sentiment::LexiconSentiment;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{ledger_at, onboard_with_channel};
use laras_commands::worker::{AiWorker, DraftGenerator, DraftRequest, GeneratedDraft, WorkerError, WorkerSettings};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::article::PublishArticle;
use laras_domain::aggregate::partner::SetApprovalMode;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{ApprovalMode, ArticleKind, DeclineReason, DomainEvent, DraftAuthor};
use laras_domain::ids::{ArticleId, ConversationId, PartnerId};
use laras_domain::time::Timestamp;
use std::sync::Arc;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const PARTNER: PartnerId = PartnerId(Uuid::from_u128(1));
const BATIK: ArticleId = ArticleId(Uuid::from_u128(0xba));

async fn shop(mode: ApprovalMode) -> Ledger {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, PARTNER, ChannelKind::WhatsApp, "acct").await.expect("onboard");
    let meta = CommandMeta::system("test");
    let set = SetApprovalMode { channel: None, mode };
    ledger.set_approval_mode(PARTNER, set, &meta).await.expect("mode");
    let articles = [
        (BATIK, ArticleKind::Product, "Batik tulis", "Harga batik tulis Rp 450.000 per lembar, stok 3."),
        (ArticleId(Uuid::from_u128(0xb0)), ArticleKind::Faq, "Jam buka", "Toko buka setiap hari jam 9 sampai 17."),
    ];
    for (id, kind, title, body) in articles {
        let publish = PublishArticle { article_id: id, kind, title: title.into(), body: body.into(), tags: vec![] };
        ledger.publish_article(PARTNER, publish, &meta).await.expect("article");
    }
    ledger
}

fn worker(ledger: &Ledger, generator: Arc<dyn DraftGenerator>) -> AiWorker {
    AiWorker {
        ledger: ledger.clone(),
        knowledge: Arc::new(TantivyKnowledge::in_memory().expect("index")),
        generator,
        sentiment: Arc::new(LexiconSentiment),
        settings: WorkerSettings::default(),
    }
}

async fn customer_says(ledger: &Ledger, n: u32, text: &str) -> ConversationId {
    let msg = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "acct".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: "6281234".into(), name: None },
        channel_message_id: format!("wamid.{n}"),
        sent_at: NOW,
        content: PlainContent::Text(text.into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    ledger.record_inbound_message(PARTNER, msg, &CommandMeta::system("test")).await.expect("inbound").conversation_id
}

async fn events_of(ledger: &Ledger, conversation: ConversationId) -> Vec<DomainEvent> {
    let stream = laras_domain::stream::StreamId::conversation(conversation);
    let stored = ledger.store.read_stream(&stream, 0).await.expect("read");
    stored.iter().map(|s| s.envelope.event().expect("event")).collect()
}

fn count(events: &[DomainEvent], name: &str) -> usize {
    events.iter().filter(|e| e.event_type() == name).count()
}

#[tokio::test]
async fn under_autopilot_a_question_the_knowledge_answers_is_drafted_from_the_article_and_sent() {
    let ledger = shop(ApprovalMode::Autopilot).await;
    let w = worker(&ledger, Arc::new(EmbeddedGenerator));
    let conversation = customer_says(&ledger, 1, "Berapa harga batik tulis kak?").await;
    w.catch_up().await.expect("worker");
    let events = events_of(&ledger, conversation).await;
    let draft = events.iter().find_map(|e| match e {
        DomainEvent::DraftProposed { author, body, .. } => Some((author.clone(), ledger.open(body).expect("open"))),
        _ => None,
    });
    let (author, text) = draft.expect("a draft");
    assert_eq!(text.as_deref(), Some("Batik tulis: Harga batik tulis Rp 450.000 per lembar, stok 3."));
    match author {
        DraftAuthor::AiWorker { generator, model, article_ids, confidence, prompt_hash, .. } => {
            assert_eq!((generator.as_str(), model.as_str()), ("embedded-bm25", "bm25-compose-v1"));
            assert_eq!(article_ids, vec![BATIK]);
            assert!(confidence >= 0.5 && prompt_hash.len() == 64);
        }
        other => panic!("not the AI worker: {other:?}"),
    }
    assert_eq!(count(&events, "SentimentScored"), 1);
    assert_eq!(count(&events, "ReplySendRequested"), 1, "autopilot sends: {events:?}");

    // Handled once: a second pass (a restart) records nothing more.
    let before = events.len();
    w.catch_up().await.expect("again");
    assert_eq!(events_of(&ledger, conversation).await.len(), before);
}

#[tokio::test]
async fn in_approval_mode_the_draft_waits_for_a_person() {
    let ledger = shop(ApprovalMode::Approval).await;
    let conversation = customer_says(&ledger, 1, "Berapa harga batik tulis?").await;
    worker(&ledger, Arc::new(EmbeddedGenerator)).catch_up().await.expect("worker");
    let events = events_of(&ledger, conversation).await;
    assert_eq!(count(&events, "DraftProposed"), 1);
    assert_eq!(count(&events, "ReplySendRequested"), 0);
}

#[tokio::test]
async fn an_off_topic_request_is_declined_and_an_unsupported_question_is_low_confidence() {
    let ledger = shop(ApprovalMode::Autopilot).await;
    let off = customer_says(&ledger, 1, "Tolong buatkan puisi tentang laut").await;
    worker(&ledger, Arc::new(EmbeddedGenerator)).catch_up().await.expect("worker");
    let events = events_of(&ledger, off).await;
    assert!(events.iter().any(|e| matches!(e, DomainEvent::DraftDeclined { reason: DeclineReason::OffTopic, .. })));
    assert_eq!(count(&events, "DraftProposed"), 0);

    let unknown = customer_says(&ledger, 2, "Do you sell handmade leather wallets with engraving?").await;
    worker(&ledger, Arc::new(EmbeddedGenerator)).catch_up().await.expect("worker");
    let events = events_of(&ledger, unknown).await;
    assert!(events
        .iter()
        .any(|e| matches!(e, DomainEvent::DraftDeclined { reason: DeclineReason::LowConfidence, .. })));
    assert_eq!(count(&events, "ReplySendRequested"), 0);
}

#[tokio::test]
async fn an_upset_customer_is_scored_negative_and_never_auto_sent_a_reply() {
    let ledger = shop(ApprovalMode::Autopilot).await;
    let conversation = customer_says(&ledger, 1, "Kecewa banget! Berapa harga batik tulis?").await;
    worker(&ledger, Arc::new(EmbeddedGenerator)).catch_up().await.expect("worker");
    let events = events_of(&ledger, conversation).await;
    let score = events.iter().find_map(|e| match e {
        DomainEvent::SentimentScored { score, .. } => Some(*score),
        _ => None,
    });
    assert!(score.expect("scored") <= -0.3);
    assert_eq!(count(&events, "DraftProposed"), 1, "a draft for a person to approve");
    assert_eq!(count(&events, "ReplySendRequested"), 0);
}

struct Broken;

#[async_trait]
impl DraftGenerator for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    async fn generate(&self, _: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError> {
        Err(WorkerError::Generator("connection refused".into()))
    }
}

#[tokio::test]
async fn a_failing_generator_hands_the_conversation_to_a_person_and_off_mode_only_scores() {
    let ledger = shop(ApprovalMode::Autopilot).await;
    let conversation = customer_says(&ledger, 1, "Berapa harga batik tulis?").await;
    worker(&ledger, Arc::new(Broken)).catch_up().await.expect("worker");
    let events = events_of(&ledger, conversation).await;
    assert!(events
        .iter()
        .any(|e| matches!(e, DomainEvent::DraftDeclined { reason: DeclineReason::GeneratorUnavailable, .. })));

    let off = shop(ApprovalMode::Off).await;
    let conversation = customer_says(&off, 1, "Berapa harga batik tulis?").await;
    worker(&off, Arc::new(EmbeddedGenerator)).catch_up().await.expect("worker");
    let events = events_of(&off, conversation).await;
    assert_eq!(count(&events, "SentimentScored"), 1);
    assert_eq!(count(&events, "DraftProposed") + count(&events, "DraftDeclined"), 0);
}

async fn customer_sends(ledger: &Ledger, n: u32, content: PlainContent, standby: bool) -> ConversationId {
    let msg = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "acct".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62899{n}"), name: None },
        channel_message_id: format!("wamid.kind.{n}"),
        sent_at: NOW,
        content,
        reply_to: None,
        context: laras_commands::handlers::inbound::PlainContext { standby, ..Default::default() },
        also: vec![],
    };
    ledger.record_inbound_message(PARTNER, msg, &CommandMeta::system("test")).await.expect("inbound").conversation_id
}

#[tokio::test]
async fn buttons_lists_postbacks_flows_and_captions_are_answered_and_standby_messages_are_not() {
    let ledger = shop(ApprovalMode::Approval).await;
    let question = "Berapa harga batik tulis?";
    let answered = [
        PlainContent::ButtonReply { payload: "PRICE".into(), text: question.into() },
        PlainContent::ButtonReply { payload: "Berapa harga batik tulis".into(), text: String::new() },
        PlainContent::InteractiveReply { reply_id: "row-1".into(), title: question.into() },
        PlainContent::FlowReply {
            name: Some("flow".into()),
            response_json: r#"{"flow_token":"t","pertanyaan":"Berapa harga batik tulis?"}"#.into(),
        },
        PlainContent::Image { media: "m1".into(), mime: None, caption: Some(question.into()), sha256: None },
    ];
    let mut conversations = Vec::new();
    for (n, content) in answered.into_iter().enumerate() {
        conversations.push(customer_sends(&ledger, n as u32, content, false).await);
    }
    let standby = customer_sends(&ledger, 9, PlainContent::Text(question.into()), true).await;
    worker(&ledger, Arc::new(EmbeddedGenerator)).catch_up().await.expect("worker");
    for conversation in conversations {
        let events = events_of(&ledger, conversation).await;
        assert_eq!(count(&events, "DraftProposed"), 1, "{events:?}");
    }
    let events = events_of(&ledger, standby).await;
    assert_eq!(count(&events, "SentimentScored") + count(&events, "DraftProposed"), 0, "{events:?}");
}

/// Answers every question and remembers the history it was given for each.
#[derive(Default)]
struct Recording {
    histories: std::sync::Mutex<Vec<(String, Vec<laras_commands::worker::Turn>)>>,
}

#[async_trait]
impl DraftGenerator for Recording {
    fn name(&self) -> &str {
        "recording"
    }
    async fn generate(&self, request: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError> {
        self.histories.lock().unwrap().push((request.question.clone(), request.history.clone()));
        Ok(Some(GeneratedDraft {
            text: format!("jawaban untuk {}", request.question),
            model: "recording".into(),
            prompt_hash: String::new(),
            article_ids: vec![BATIK],
            confidence: 0.9,
        }))
    }
}

/// The turns before the message whose text is `question`, read from the whole stream:
/// what the worker's windowed read must give.
async fn turns_before(ledger: &Ledger, conversation: ConversationId, question: &str) -> Vec<(bool, String)> {
    let stream = laras_domain::stream::StreamId::conversation(conversation);
    let mut turns = Vec::new();
    for stored in ledger.store.read_stream(&stream, 0).await.expect("read") {
        match stored.envelope.event().expect("event") {
            DomainEvent::InboundMessageReceived {
                content: laras_domain::event::MessageContent::Text { body }, ..
            } => {
                let text = ledger.open(&body).expect("open").expect("readable");
                if text == question {
                    break;
                }
                turns.push((true, text));
            }
            DomainEvent::DraftProposed { body, .. } => {
                turns.push((false, ledger.open(&body).expect("open").expect("readable")))
            }
            _ => {}
        }
    }
    turns
}

#[tokio::test]
async fn a_long_conversations_history_is_its_last_turns_read_from_a_window_not_the_whole_stream() {
    for history in [6, 200] {
        let ledger = shop(ApprovalMode::Approval).await;
        let generator = Arc::new(Recording::default());
        let mut worker = worker(&ledger, generator.clone());
        worker.settings = WorkerSettings { history, ..WorkerSettings::default() };
        let mut conversation = None;
        for n in 0..60 {
            conversation = Some(customer_says(&ledger, n, &format!("berapa harga batik nomor {n}?")).await);
            worker.catch_up().await.expect("worker");
        }
        let conversation = conversation.expect("a conversation");
        let last = "berapa harga batik nomor 59?";
        let (question, given) = generator.histories.lock().unwrap().last().cloned().expect("asked");
        assert_eq!(question, last);
        let all = turns_before(&ledger, conversation, last).await;
        assert!(all.len() > 100, "the conversation is long: {} turns", all.len());
        let expected = &all[all.len().saturating_sub(history)..];
        let given: Vec<(bool, String)> = given.into_iter().map(|t| (t.from_customer, t.text)).collect();
        assert_eq!(given, expected, "history {history}: the last turns, oldest first");
    }
}
