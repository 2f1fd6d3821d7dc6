//! The Partner's knowledge: its articles, and "ask Laras", what the AI worker would
//! propose to a customer's question, asked without sending or recording anything.

use super::api;
use super::reads::read;
use super::types::{time, ArticleKind};
use crate::auth::{partner_in, READERS, WORKERS};
use crate::error::OrApi;
use async_graphql::{Context, Object, SimpleObject, ID};
use laras_commands::worker::{Passage, PreviewOutcome};
use laras_domain::event::{self, DeclineReason};
use laras_domain::policy::keywords::KeywordSignal;
use laras_domain::time::Timestamp;

#[derive(Default)]
pub struct KnowledgeQueries;

/// A knowledge article the AI worker may ground its drafts in.
#[derive(SimpleObject)]
pub struct Article {
    pub id: ID,
    pub kind: ArticleKind,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub published_at: String,
    /// When it was retired; a retired article grounds no draft.
    pub retired_at: Option<String>,
}

/// An article retrieved for a question.
#[derive(SimpleObject)]
pub struct PreviewArticle {
    pub id: ID,
    pub kind: ArticleKind,
    pub title: String,
    /// Retrieval score (BM25): higher is a closer match.
    pub score: f64,
    /// The draft names this article as one it was made from.
    pub cited: bool,
}

/// What the AI worker would propose to a question; nothing was sent or recorded.
#[derive(SimpleObject)]
pub struct DraftPreview {
    /// The draft's text; null when the worker would propose none (see `declined`).
    pub text: Option<String>,
    /// 0..1: how well the knowledge supports the draft.
    pub confidence: Option<f64>,
    pub model: Option<String>,
    /// Why no draft: off_topic, low_confidence, generator_unavailable, or opt_out_keyword /
    /// opt_in_keyword (the customer's choice is recorded, not answered).
    pub declined: Option<String>,
    /// The articles retrieved for the question, best first.
    pub articles: Vec<PreviewArticle>,
}

impl From<event::ArticleKind> for ArticleKind {
    fn from(k: event::ArticleKind) -> Self {
        match k {
            event::ArticleKind::Faq => ArticleKind::Faq,
            event::ArticleKind::Policy => ArticleKind::Policy,
            event::ArticleKind::Product => ArticleKind::Product,
        }
    }
}

fn stored_kind(kind: &str) -> ArticleKind {
    match kind {
        "policy" => ArticleKind::Policy,
        "product" => ArticleKind::Product,
        _ => ArticleKind::Faq,
    }
}

fn declined(reason: DeclineReason) -> &'static str {
    match reason {
        DeclineReason::OffTopic => "off_topic",
        DeclineReason::LowConfidence => "low_confidence",
        DeclineReason::GeneratorUnavailable => "generator_unavailable",
    }
}

#[Object]
impl KnowledgeQueries {
    /// The Partner's knowledge articles, newest first; retired ones with `includeRetired`.
    async fn articles(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = false)] include_retired: bool,
        min_position: Option<u64>,
    ) -> async_graphql::Result<Vec<Article>> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let partner = partner.to_string();
        let rows = read(ctx, min_position, move |m| m.articles(&partner, include_retired)).await?;
        Ok(rows
            .into_iter()
            .map(|a| Article {
                id: ID(a.article_id),
                kind: stored_kind(&a.kind),
                title: a.title,
                body: a.body,
                tags: a.tags,
                published_at: time(Timestamp(a.published_at)),
                retired_at: a.retired_at.map(|t| time(Timestamp(t))),
            })
            .collect())
    }

    /// "Ask Laras": the draft the AI worker would propose if a customer wrote `question`
    /// now, with its confidence and the articles behind it. A dry run: it reads the
    /// Partner's knowledge and asks the generator, and sends and records nothing (so the
    /// conversation's earlier turns, which a real message would add, are not given).
    async fn ask_laras(&self, ctx: &Context<'_>, question: String) -> async_graphql::Result<DraftPreview> {
        let (partner, _) = partner_in(ctx, WORKERS)?;
        laras_domain::error::require_text("question", &question, 4096).api()?;
        let preview = api(ctx).worker.preview(partner, &question).await;
        let cited: Vec<_> = match &preview.outcome {
            PreviewOutcome::Draft(d) => d.article_ids.clone(),
            _ => Vec::new(),
        };
        let articles = preview
            .passages
            .iter()
            .map(|Passage { article, score }| PreviewArticle {
                id: ID(article.id.to_string()),
                kind: article.kind.into(),
                title: article.title.clone(),
                score: f64::from(*score),
                cited: cited.contains(&article.id),
            })
            .collect();
        Ok(match preview.outcome {
            PreviewOutcome::Draft(d) => DraftPreview {
                text: Some(d.text),
                confidence: Some(d.confidence),
                model: Some(d.model),
                declined: None,
                articles,
            },
            PreviewOutcome::Declined(reason) => DraftPreview {
                text: None,
                confidence: None,
                model: None,
                declined: Some(declined(reason).to_owned()),
                articles,
            },
            PreviewOutcome::Keyword(signal) => DraftPreview {
                text: None,
                confidence: None,
                model: None,
                declined: Some(
                    match signal {
                        KeywordSignal::OptOut => "opt_out_keyword",
                        KeywordSignal::OptIn => "opt_in_keyword",
                    }
                    .to_owned(),
                ),
                articles,
            },
        })
    }
}
