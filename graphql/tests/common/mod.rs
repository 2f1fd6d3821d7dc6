//! An in-process API over in-memory ports, with a Partner that has a conversation,
//! a draft, a note and an opportunity.

#![allow(dead_code)]

pub mod ai;

use async_graphql::{Request, Variables};
use laras_commands::access::{ApiKeys, Role};
use laras_commands::audit::{HeadPolicy, MerkleLog};
use laras_commands::directory::ChannelDirectory;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::memory::{
    ledger_at, onboard_with_channel, MemoryApiKeys, MemoryCredentials, MemoryProver, MemoryTreeStore,
};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::opportunity::OpenOpportunity;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{DraftAuthor, Money, ReplyTarget};
use laras_domain::ids::*;
use laras_domain::time::Timestamp;
use laras_graphql::auth::Caller;
use laras_graphql::{build_schema, Api, LarasSchema, Limits};
use laras_projections::{ProjectionRunner, ReadModels};
use serde_json::Value;
use std::sync::Arc;
use uuid::Uuid;

pub const NOW: Timestamp = Timestamp(1_767_225_600_000);

pub struct World {
    pub ledger: Ledger,
    /// The platform: `prover.grant(token, channel, account)` makes a token control an account.
    pub prover: Arc<MemoryProver>,
    pub directory: Arc<ChannelDirectory>,
    pub keys: Arc<MemoryApiKeys>,
    pub schema: LarasSchema,
    /// What the schema was built from, for serving it over HTTP.
    pub api: Api,
    pub runner: ProjectionRunner,
    pub audit: MerkleLog,
    /// What "ask Laras" searches; `tenant` publishes each Partner's article here too.
    pub knowledge: Arc<ai::MemoryKnowledge>,
    _dir: tempfile::TempDir,
}

/// What one Partner has, with an owner, an agent and an auditor key.
pub struct Tenant {
    pub partner: PartnerId,
    pub owner: Caller,
    pub agent: Caller,
    pub auditor: Caller,
    pub conversation: ConversationId,
    pub contact: ContactId,
    pub draft: DraftId,
    pub opportunity: OpportunityId,
    pub article: ArticleId,
    /// The id of the Partner's first event (its onboarding).
    pub first_event: EventId,
}

pub fn world() -> World {
    world_with(Limits::default())
}

pub fn world_with(limits: Limits) -> World {
    let ledger = ledger_at(NOW);
    let keys = Arc::new(MemoryApiKeys::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let read = ReadModels::open(dir.path()).expect("read models");
    let runner = ProjectionRunner {
        store: ledger.store.clone(),
        keys: ledger.keys.clone(),
        models: read.clone(),
        clock: ledger.clock.clone(),
        skips: None,
    };
    let prover = Arc::new(MemoryProver::default());
    let directory = ChannelDirectory::new(ledger.store.clone());
    let knowledge = Arc::new(ai::MemoryKnowledge::default());
    let worker = laras_commands::worker::AiWorker {
        ledger: ledger.clone(),
        knowledge: knowledge.clone(),
        generator: Arc::new(ai::EchoGenerator),
        sentiment: Arc::new(ai::Neutral),
        settings: laras_commands::worker::WorkerSettings::default(),
    };
    let api = Api {
        ledger: ledger.clone(),
        keys: keys.clone(),
        credentials: Arc::new(MemoryCredentials::default()),
        prover: prover.clone(),
        directory: directory.clone(),
        read,
        audit: MerkleLog {
            store: ledger.store.clone(),
            trees: Arc::new(MemoryTreeStore::default()),
            signer: ledger.signer.clone(),
            clock: ledger.clock.clone(),
            policy: HeadPolicy::default(),
        },
        media: laras_graphql::MediaAccess {
            vault: laras_commands::media::MediaVault {
                store: Arc::new(laras_commands::media::MemoryMediaStore::default()),
                keys: ledger.keys.clone(),
            },
            link_key: laras_domain::sealed::SecretKey::from_bytes([9; 32]),
        },
        worker,
        limits,
    };
    let audit = api.audit.clone();
    World {
        ledger,
        prover,
        directory,
        keys,
        schema: build_schema(api.clone()),
        api,
        runner,
        audit,
        knowledge,
        _dir: dir,
    }
}

impl World {
    /// Brings the read models up to the log.
    pub async fn sync(&self) {
        self.runner.catch_up(|_, _| {}).await.expect("catch up");
        self.audit.catch_up().await.expect("merkle log");
    }

    pub async fn tenant(&self, n: u128) -> Tenant {
        let partner = PartnerId(Uuid::from_u128(n));
        let account = format!("10{n}");
        onboard_with_channel(&self.ledger, partner, ChannelKind::WhatsApp, &account).await.expect("onboard");
        let meta = CommandMeta::system("test");
        let msg = IncomingMessage {
            channel: ChannelKind::WhatsApp,
            account_id: account,
            sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62812{n}"), name: Some("Ana".into()) },
            channel_message_id: format!("wamid.{n}"),
            sent_at: NOW,
            content: PlainContent::Text(format!("Berapa harga batik tulis, toko {n}?")),
            reply_to: None,
            context: Default::default(),
            also: vec![],
        };
        let recorded = self.ledger.record_inbound_message(partner, msg, &meta).await.expect("inbound");
        let draft = self.propose(partner, recorded.conversation_id, "Rp 450.000, kak.").await;
        let opportunity = OpportunityId(Uuid::now_v7());
        let open = OpenOpportunity {
            opportunity_id: opportunity,
            contact_id: recorded.contact_id,
            conversation_id: Some(recorded.conversation_id),
            title: "Batik tulis".into(),
            stage: None,
            value: Money { minor_units: 45_000_000, currency: "IDR".into() },
        };
        self.ledger.open_opportunity(partner, open, &meta).await.expect("opportunity");
        let article = ArticleId(Uuid::now_v7());
        let (title, body) = ("Hours", "Open 9 to 5");
        let publish = laras_domain::aggregate::article::PublishArticle {
            article_id: article,
            kind: laras_domain::event::ArticleKind::Faq,
            title: title.into(),
            body: body.into(),
            tags: vec![],
        };
        self.ledger.publish_article(partner, publish, &meta).await.expect("article");
        // The AI worker would learn it from the log; the tests' worker never runs.
        let learned = laras_commands::worker::Article {
            id: article,
            kind: laras_domain::event::ArticleKind::Faq,
            title: title.into(),
            body: body.into(),
            tags: vec![],
        };
        laras_commands::worker::KnowledgeBase::publish(&*self.knowledge, partner, learned).expect("learn");
        let key = |role| Caller::Key(self.keys.create(partner, role, "").expect("key").0);
        let onboarded = self.ledger.store.read_stream(&laras_domain::stream::StreamId::partner(partner), 0).await;
        let first_event = onboarded.expect("read")[0].envelope.header.event_id;
        Tenant {
            partner,
            owner: key(Role::Owner),
            agent: key(Role::Agent),
            auditor: key(Role::Auditor),
            conversation: recorded.conversation_id,
            contact: recorded.contact_id,
            draft,
            opportunity,
            article,
            first_event,
        }
    }

    /// A person's draft on a conversation, waiting for approval.
    pub async fn propose(&self, partner: PartnerId, conversation: ConversationId, text: &str) -> DraftId {
        let author = DraftAuthor::Person { user: UserId(Uuid::from_u128(99)) };
        let target = ReplyTarget::Conversation { quote: None };
        let meta = CommandMeta::system("test");
        let (draft, _) =
            self.ledger.propose_draft(partner, conversation, author, text, target, &meta).await.expect("draft");
        draft
    }

    /// Runs a request as `caller` and returns the whole response as JSON.
    pub async fn run(&self, caller: Option<&Caller>, query: &str, vars: Value) -> Value {
        let mut request = Request::new(query).variables(Variables::from_json(vars));
        if let Some(c) = caller {
            request = request.data(c.clone());
        }
        serde_json::to_value(self.schema.execute(request).await).expect("json")
    }

    pub async fn event_count(&self) -> usize {
        self.ledger.store.read_all(0, 1_000_000).await.expect("read").len()
    }
}

/// The first error's code, or None when the response has no errors.
pub fn code(response: &Value) -> Option<String> {
    response["errors"][0]["extensions"]["code"].as_str().map(str::to_owned)
}

pub fn ok(response: &Value) -> &Value {
    assert!(response.get("errors").is_none_or(|e| e.as_array().is_none_or(|a| a.is_empty())), "errors: {response}");
    &response["data"]
}
