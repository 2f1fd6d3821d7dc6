//! The AI worker under its supervisor: drafts for several conversations at once (a slow
//! generator for one Partner does not hold another's drafts), skips and records an event
//! that keeps failing and goes on, and resumes from its checkpoint.

use async_trait::async_trait;
use laras_adapters::ai::embedded::EmbeddedGenerator;
use laras_adapters::ai::knowledge::TantivyKnowledge;
use laras_adapters::ai::sentiment::LexiconSentiment;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{ledger_at, onboard_with_channel};
use laras_commands::runtime::memory::MemoryRuntime;
use laras_commands::runtime::{
    Checkpoints, NodeId, PoisonPolicy, ProcessState, Registry, Supervisor, SupervisorSettings,
};
use laras_commands::worker::{
    AiWorker, Article, DraftGenerator, DraftRequest, GeneratedDraft, KnowledgeBase, Passage, WorkerError,
    WorkerProcess, WorkerSettings, AI_WORKER,
};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::article::PublishArticle;
use laras_domain::aggregate::partner::SetApprovalMode;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{ApprovalMode, ArticleKind, DomainEvent, SkipReason};
use laras_domain::ids::{ArticleId, ConversationId, PartnerId};
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const SLOW: PartnerId = PartnerId(Uuid::from_u128(1));
const QUICK: PartnerId = PartnerId(Uuid::from_u128(2));

async fn partner(ledger: &Ledger, partner: PartnerId, account: &str) {
    onboard_with_channel(ledger, partner, ChannelKind::WhatsApp, account).await.expect("onboard");
    let meta = CommandMeta::system("test");
    let set = SetApprovalMode { channel: None, mode: ApprovalMode::Approval };
    ledger.set_approval_mode(partner, set, &meta).await.expect("mode");
    let publish = PublishArticle {
        article_id: ArticleId(Uuid::from_u128(partner.0.as_u128() << 8)),
        kind: ArticleKind::Product,
        title: "Batik tulis".into(),
        body: "Harga batik tulis Rp 450.000 per lembar.".into(),
        tags: vec![],
    };
    ledger.publish_article(partner, publish, &meta).await.expect("article");
    let hours = PublishArticle {
        article_id: ArticleId(Uuid::from_u128((partner.0.as_u128() << 8) + 1)),
        kind: ArticleKind::Faq,
        title: "Jam buka".into(),
        body: "Toko buka setiap hari jam 9 sampai 17.".into(),
        tags: vec![],
    };
    ledger.publish_article(partner, hours, &meta).await.expect("article");
}

async fn publish(ledger: &Ledger, partner: PartnerId, n: u128, title: &str) {
    let publish = PublishArticle {
        article_id: ArticleId(Uuid::from_u128(n)),
        kind: ArticleKind::Faq,
        title: title.into(),
        body: "Toko buka setiap hari jam 9 sampai 17.".into(),
        tags: vec![],
    };
    ledger.publish_article(partner, publish, &CommandMeta::system("test")).await.expect("article");
}

async fn customer_says(ledger: &Ledger, partner: PartnerId, account: &str, n: u32, text: &str) -> ConversationId {
    let msg = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: account.into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62812{n}"), name: None },
        channel_message_id: format!("wamid.{partner}.{n}"),
        sent_at: NOW,
        content: PlainContent::Text(text.into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    ledger.record_inbound_message(partner, msg, &CommandMeta::system("test")).await.expect("inbound").conversation_id
}

/// Whether the worker has answered in the conversation: a draft, or a recorded decline.
async fn drafted(ledger: &Ledger, conversation: ConversationId) -> bool {
    let stored = ledger.store.read_stream(&StreamId::conversation(conversation), 0).await.expect("read");
    stored.iter().any(|s| {
        matches!(s.envelope.event(), Ok(DomainEvent::DraftProposed { .. } | DomainEvent::DraftDeclined { .. }))
    })
}

/// Answers like the embedded generator, but holds questions with "lambat" until released.
struct Gated {
    gate: Arc<Semaphore>,
}

#[async_trait]
impl DraftGenerator for Gated {
    fn name(&self) -> &str {
        "gated"
    }
    async fn generate(&self, request: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError> {
        if request.question.contains("lambat") {
            let _held = self.gate.acquire().await.map_err(|e| WorkerError::Generator(e.to_string()))?;
        }
        EmbeddedGenerator.generate(request).await
    }
}

fn worker(ledger: &Ledger, generator: Arc<dyn DraftGenerator>, knowledge: Arc<dyn KnowledgeBase>) -> AiWorker {
    AiWorker {
        ledger: ledger.clone(),
        knowledge,
        generator,
        sentiment: Arc::new(LexiconSentiment),
        settings: WorkerSettings { concurrency: 4, ..WorkerSettings::default() },
    }
}

fn supervise(runtime: &MemoryRuntime, process: WorkerProcess) -> Supervisor {
    let settings = SupervisorSettings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..SupervisorSettings::default()
    };
    let supervisor = Supervisor::new(Arc::new(runtime.clone()), NodeId("test".into()), settings);
    supervisor.spawn(Arc::new(process));
    supervisor
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn status(registry: &Registry) -> laras_commands::runtime::ProcessStatus {
    registry.get(AI_WORKER).expect("registered")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_generator_for_one_partner_does_not_delay_another_partners_drafts() {
    let ledger = ledger_at(NOW);
    partner(&ledger, SLOW, "slow-acct").await;
    partner(&ledger, QUICK, "quick-acct").await;
    // The slow Partner's question is first in the log.
    let slow = customer_says(&ledger, SLOW, "slow-acct", 1, "Berapa harga batik tulis? jawab lambat").await;
    let quick = customer_says(&ledger, QUICK, "quick-acct", 2, "Berapa harga batik tulis?").await;

    let gate = Arc::new(Semaphore::new(0));
    let generator = Arc::new(Gated { gate: gate.clone() });
    let knowledge = Arc::new(TantivyKnowledge::in_memory().expect("index"));
    let runtime = MemoryRuntime::default();
    let process = WorkerProcess {
        worker: worker(&ledger, generator, knowledge),
        checkpoints: Arc::new(runtime.clone()),
        poison: PoisonPolicy::default(),
    };
    let supervisor = supervise(&runtime, process);

    until("the quick Partner's draft", async || drafted(&ledger, quick).await).await;
    assert!(!drafted(&ledger, slow).await, "the slow Partner's draft is still being generated");
    // The checkpoint stays before the slow message: a restart now would answer it.
    let stream = ledger.store.read_stream(&StreamId::conversation(slow), 0).await.unwrap();
    let slow_position =
        stream.iter().find(|s| s.envelope.header.event_type == "InboundMessageReceived").unwrap().position;
    assert!(runtime.load(AI_WORKER).await.unwrap().unwrap_or(0) < slow_position);

    gate.add_permits(1);
    until("the slow Partner's draft", async || drafted(&ledger, slow).await).await;
    let head = *ledger.store.head().borrow();
    until("the checkpoint reaches the head", async || runtime.load(AI_WORKER).await.unwrap() >= Some(head - 1)).await;
    supervisor.shutdown().await;
}

/// A knowledge index that fails on articles titled "racun" (poison), every time.
struct Poisoned(TantivyKnowledge);

impl KnowledgeBase for Poisoned {
    fn publish(&self, partner: PartnerId, article: Article) -> Result<(), WorkerError> {
        if article.title == "racun" {
            return Err(WorkerError::Knowledge("cannot index this article".into()));
        }
        self.0.publish(partner, article)
    }
    fn retire(&self, partner: PartnerId, article: ArticleId) -> Result<(), WorkerError> {
        self.0.retire(partner, article)
    }
    fn commit(&self) -> Result<(), WorkerError> {
        self.0.commit()
    }
    fn search(&self, partner: PartnerId, query: &str, limit: usize) -> Result<Vec<Passage>, WorkerError> {
        self.0.search(partner, query, limit)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_that_keeps_failing_is_recorded_as_skipped_and_the_worker_goes_on() {
    let ledger = ledger_at(NOW);
    partner(&ledger, QUICK, "quick-acct").await;
    publish(&ledger, QUICK, 0x7, "racun").await;
    let poisoned_position = *ledger.store.head().borrow();
    let conversation = customer_says(&ledger, QUICK, "quick-acct", 1, "Berapa harga batik tulis?").await;

    let knowledge = Arc::new(Poisoned(TantivyKnowledge::in_memory().expect("index")));
    let runtime = MemoryRuntime::default();
    let process = WorkerProcess {
        worker: worker(&ledger, Arc::new(EmbeddedGenerator), knowledge),
        checkpoints: Arc::new(runtime.clone()),
        poison: PoisonPolicy { attempts: 3, first_delay: Duration::from_millis(5) },
    };
    let supervisor = supervise(&runtime, process);
    let registry = supervisor.registry().clone();

    until("the message after the poison is answered", async || drafted(&ledger, conversation).await).await;
    let skips = ledger.store.read_stream(&StreamId::process(AI_WORKER), 0).await.unwrap();
    assert_eq!(skips.len(), 1, "one skip recorded");
    match skips[0].envelope.event().unwrap() {
        DomainEvent::ProcessSkippedEvent { process, position, reason, .. } => {
            assert_eq!((process.as_str(), position), (AI_WORKER, poisoned_position));
            assert_eq!(reason, SkipReason::Failed { failure: "knowledge".into(), attempts: 3 });
        }
        other => panic!("not a skip: {other:?}"),
    }
    let s = status(&registry);
    assert_eq!((s.skipped, s.failures, s.state.clone()), (1, 0, ProcessState::Running), "{s:?}");
    supervisor.shutdown().await;

    // A restart resumes from the checkpoint: it neither fails on the poison again nor
    // records it twice, and answers nothing twice.
    let knowledge = Arc::new(Poisoned(TantivyKnowledge::in_memory().expect("index")));
    let process = WorkerProcess {
        worker: worker(&ledger, Arc::new(EmbeddedGenerator), knowledge),
        checkpoints: Arc::new(runtime.clone()),
        poison: PoisonPolicy { attempts: 3, first_delay: Duration::from_millis(5) },
    };
    let checkpoint = runtime.load(AI_WORKER).await.unwrap().expect("a checkpoint");
    assert!(checkpoint > poisoned_position);
    let head_before = *ledger.store.head().borrow();
    let supervisor = supervise(&runtime, process);
    let registry = supervisor.registry().clone();
    until("running again", async || status(&registry).started_from.is_some()).await;
    assert_eq!(status(&registry).started_from, Some(checkpoint));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*ledger.store.head().borrow(), head_before, "nothing recorded again");
    supervisor.shutdown().await;
}
