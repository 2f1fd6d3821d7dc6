//! The Partner's knowledge articles as the console lists them: published, and retired
//! with when. Articles are the Partner's own words, stored in the clear in their events
//! (no customer's data), so the rows need no sealing.

use crate::error::ProjectionError;
use crate::models::ReadModels;
use laras_domain::event::{ArticleKind, DomainEvent};
use rusqlite::{params, Transaction};

#[derive(Clone, Debug, PartialEq)]
pub struct ArticleView {
    pub article_id: String,
    /// faq, policy or product.
    pub kind: String,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
    pub published_at: i64,
    pub retired_at: Option<i64>,
}

pub(crate) fn kind_name(kind: ArticleKind) -> &'static str {
    match kind {
        ArticleKind::Faq => "faq",
        ArticleKind::Policy => "policy",
        ArticleKind::Product => "product",
    }
}

/// Applies an event of an `article-<id>` stream.
pub(crate) fn apply(
    tx: &Transaction<'_>,
    partner: &str,
    article: &str,
    at: i64,
    event: &DomainEvent,
) -> rusqlite::Result<()> {
    match event {
        DomainEvent::KnowledgeArticlePublished { kind, title, body, tags, .. } => {
            tx.prepare_cached(
                "INSERT OR IGNORE INTO articles (article_id, partner_id, kind, title, body, tags, published_at)
                 VALUES (?1,?2,?3,?4,?5,?6,?7)",
            )?
            .execute(params![
                article,
                partner,
                kind_name(*kind),
                title,
                body,
                serde_json::to_string(tags).unwrap_or_else(|_| "[]".to_owned()),
                at
            ])?;
        }
        DomainEvent::KnowledgeArticleRetired { .. } => {
            tx.prepare_cached("UPDATE articles SET retired_at = ?2 WHERE article_id = ?1")?
                .execute(params![article, at])?;
        }
        _ => {}
    }
    Ok(())
}

impl ReadModels {
    /// The Partner's articles, newest first; retired ones only when asked for.
    pub fn articles(&self, partner: &str, include_retired: bool) -> Result<Vec<ArticleView>, ProjectionError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT article_id, kind, title, body, tags, published_at, retired_at FROM articles
             WHERE partner_id = ?1 AND (?2 OR retired_at IS NULL) ORDER BY published_at DESC, article_id",
        )?;
        let rows = stmt
            .query_map(params![partner, include_retired], |r| {
                let tags: String = r.get(4)?;
                Ok(ArticleView {
                    article_id: r.get(0)?,
                    kind: r.get(1)?,
                    title: r.get(2)?,
                    body: r.get(3)?,
                    tags: serde_json::from_str(&tags).unwrap_or_default(),
                    published_at: r.get(5)?,
                    retired_at: r.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
