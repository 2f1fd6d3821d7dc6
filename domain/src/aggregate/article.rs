//! A knowledge article the AI worker may ground replies in.

use super::{Aggregate, Decide};
use crate::error::{require_line, require_text, DomainError};
use crate::event::{ArticleKind, DomainEvent};
use crate::ids::ArticleId;
use crate::time::Timestamp;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Article {
    pub id: Option<ArticleId>,
    pub retired: bool,
}

impl Aggregate for Article {
    fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::KnowledgeArticlePublished { article_id, .. } => {
                self.id = Some(*article_id);
                self.retired = false;
            }
            DomainEvent::KnowledgeArticleRetired { .. } => self.retired = true,
            _ => {}
        }
    }
}

/// Publishes an article, or a new revision of it (the latest revision counts).
pub struct PublishArticle {
    pub article_id: ArticleId,
    pub kind: ArticleKind,
    pub title: String,
    pub body: String,
    pub tags: Vec<String>,
}

impl Decide for PublishArticle {
    type State = Article;
    fn decide(&self, _state: &Article, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_line("title", &self.title, 300)?;
        require_text("body", &self.body, 64 * 1024)?;
        if self.tags.len() > 32 || self.tags.iter().any(|t| t.is_empty() || t.len() > 64) {
            return Err(DomainError::bad_input("tags", "at most 32 tags of 1 to 64 bytes"));
        }
        for tag in &self.tags {
            require_line("tags", tag, 64)?;
        }
        Ok(vec![DomainEvent::KnowledgeArticlePublished {
            article_id: self.article_id,
            kind: self.kind,
            title: self.title.trim().to_owned(),
            body: self.body.clone(),
            tags: self.tags.clone(),
        }])
    }
}

pub struct RetireArticle;

impl Decide for RetireArticle {
    type State = Article;
    fn decide(&self, state: &Article, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        let id = state.id.ok_or(DomainError::ArticleNotFound)?;
        if state.retired {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::KnowledgeArticleRetired { article_id: id }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::given;
    use uuid::Uuid;

    #[test]
    fn retiring_an_unknown_article_is_refused() {
        given::<Article>(vec![]).when(&RetireArticle).then_err(DomainError::ArticleNotFound);
    }

    #[test]
    fn an_empty_body_is_bad_input() {
        let cmd = PublishArticle {
            article_id: ArticleId(Uuid::nil()),
            kind: ArticleKind::Faq,
            title: "Hours".into(),
            body: " ".into(),
            tags: vec![],
        };
        assert!(matches!(
            given::<Article>(vec![]).when(&cmd).result(),
            Err(DomainError::BadInput { field: "body", .. })
        ));
    }
}
