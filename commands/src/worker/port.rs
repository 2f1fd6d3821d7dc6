//! What the AI worker needs from outside: a sentiment scorer, the Partner's knowledge
//! with retrieval, and a draft generator. Adapters implement them.

use async_trait::async_trait;
use laras_domain::event::ArticleKind;
use laras_domain::ids::{ArticleId, PartnerId};

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the knowledge index failed: {0}")]
    Knowledge(String),
    #[error("the draft generator failed: {0}")]
    Generator(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Scores a customer's message from −1 (angry) to 1 (delighted).
pub trait SentimentScorer: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn score(&self, text: &str) -> f64;
}

/// A published article, as the knowledge index takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Article {
    pub id: ArticleId,
    pub kind: ArticleKind,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

/// A retrieved article with its retrieval score (BM25).
#[derive(Clone, Debug, PartialEq)]
pub struct Passage {
    pub article: Article,
    pub score: f32,
}

/// Each Partner's published articles, searchable; fed from the log by the worker.
pub trait KnowledgeBase: Send + Sync + 'static {
    fn publish(&self, partner: PartnerId, article: Article) -> Result<(), WorkerError>;
    fn retire(&self, partner: PartnerId, article: ArticleId) -> Result<(), WorkerError>;
    /// Makes what was published and retired so far searchable.
    fn commit(&self) -> Result<(), WorkerError>;
    /// Commits, recording that the index now reflects the log up to `position`.
    fn commit_at(&self, position: u64) -> Result<(), WorkerError> {
        let _ = position;
        self.commit()
    }
    /// The position up to which the index kept what it learned from earlier runs; `None`
    /// when it keeps nothing across restarts (in memory), so the worker learns from 0.
    fn learned_up_to(&self) -> Option<u64> {
        None
    }
    /// The Partner's best-matching articles, best first.
    fn search(&self, partner: PartnerId, query: &str, limit: usize) -> Result<Vec<Passage>, WorkerError>;
}

/// One earlier message of the conversation, oldest first in a request.
#[derive(Clone, Debug, PartialEq)]
pub struct Turn {
    pub from_customer: bool,
    pub text: String,
}

/// What a generator is asked: the customer's message, the Partner's passages for it,
/// and the recent conversation before it.
#[derive(Clone, Debug)]
pub struct DraftRequest {
    pub question: String,
    pub passages: Vec<Passage>,
    pub history: Vec<Turn>,
}

/// A proposed answer, with what it was made from.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedDraft {
    pub text: String,
    pub model: String,
    /// SHA-256 (hex) of exactly what the generator was given.
    pub prompt_hash: String,
    pub article_ids: Vec<ArticleId>,
    /// 0..1: how well the knowledge supports the answer.
    pub confidence: f64,
}

#[async_trait]
pub trait DraftGenerator: Send + Sync + 'static {
    fn name(&self) -> &str;
    /// None when the passages do not support an answer.
    async fn generate(&self, request: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError>;
}
