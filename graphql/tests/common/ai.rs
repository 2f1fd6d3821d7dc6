//! The AI worker's ports in memory, for "ask Laras": a knowledge base that matches any
//! shared word, and a generator that answers with the best article's body.

use async_trait::async_trait;
use laras_commands::worker::{
    Article, DraftGenerator, DraftRequest, GeneratedDraft, KnowledgeBase, Passage, SentimentScorer, WorkerError,
};
use laras_domain::ids::{ArticleId, PartnerId};
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryKnowledge {
    articles: Mutex<Vec<(PartnerId, Article)>>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| w.len() > 2).map(str::to_lowercase).collect()
}

impl KnowledgeBase for MemoryKnowledge {
    fn publish(&self, partner: PartnerId, article: Article) -> Result<(), WorkerError> {
        self.articles.lock().unwrap_or_else(|p| p.into_inner()).push((partner, article));
        Ok(())
    }
    fn retire(&self, partner: PartnerId, article: ArticleId) -> Result<(), WorkerError> {
        self.articles.lock().unwrap_or_else(|p| p.into_inner()).retain(|(p, a)| !(*p == partner && a.id == article));
        Ok(())
    }
    fn commit(&self) -> Result<(), WorkerError> {
        Ok(())
    }
    fn search(&self, partner: PartnerId, query: &str, limit: usize) -> Result<Vec<Passage>, WorkerError> {
        let asked = words(query);
        let all = self.articles.lock().unwrap_or_else(|p| p.into_inner());
        let mut found: Vec<Passage> = all
            .iter()
            .filter(|(p, _)| *p == partner)
            .filter_map(|(_, a)| {
                let have = words(&format!("{} {}", a.title, a.body));
                let score = asked.iter().filter(|w| have.contains(w)).count();
                (score > 0).then(|| Passage { article: a.clone(), score: score as f32 })
            })
            .collect();
        found.sort_by(|x, y| y.score.total_cmp(&x.score));
        found.truncate(limit);
        Ok(found)
    }
}

pub struct EchoGenerator;

#[async_trait]
impl DraftGenerator for EchoGenerator {
    fn name(&self) -> &str {
        "echo"
    }
    async fn generate(&self, request: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError> {
        Ok(request.passages.first().map(|p| GeneratedDraft {
            text: p.article.body.clone(),
            model: "echo-1".into(),
            prompt_hash: String::new(),
            article_ids: vec![p.article.id],
            confidence: 0.8,
        }))
    }
}

pub struct Neutral;

impl SentimentScorer for Neutral {
    fn name(&self) -> &str {
        "neutral"
    }
    fn score(&self, _text: &str) -> f64 {
        0.0
    }
}
