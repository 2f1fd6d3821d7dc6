//! The embedded draft generator: no outside service. It answers from the best-matching
//! article, word for word from the Partner's own text, and its confidence is how much
//! of the question's content words that article covers.

use async_trait::async_trait;
use laras_commands::worker::{DraftGenerator, DraftRequest, GeneratedDraft, Passage, WorkerError};
use laras_domain::event::ArticleKind;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

pub const MODEL: &str = "bm25-compose-v1";
const MAX_REPLY_CHARS: usize = 700;

/// Words that carry no subject: question words, pronouns, particles (English, Indonesian).
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "is",
    "are",
    "was",
    "be",
    "do",
    "does",
    "did",
    "you",
    "your",
    "i",
    "me",
    "my",
    "we",
    "our",
    "it",
    "to",
    "of",
    "in",
    "on",
    "for",
    "at",
    "by",
    "with",
    "and",
    "or",
    "can",
    "could",
    "would",
    "will",
    "what",
    "how",
    "when",
    "where",
    "which",
    "who",
    "why",
    "please",
    "hi",
    "hello",
    "there",
    "this",
    "that",
    "have",
    "has",
    "any",
    "apa",
    "apakah",
    "berapa",
    "bagaimana",
    "gimana",
    "kapan",
    "dimana",
    "di",
    "ke",
    "dari",
    "yang",
    "dan",
    "atau",
    "ini",
    "itu",
    "saya",
    "aku",
    "kamu",
    "anda",
    "kak",
    "kakak",
    "min",
    "gan",
    "sis",
    "mas",
    "mbak",
    "bang",
    "ada",
    "bisa",
    "boleh",
    "mau",
    "ingin",
    "tolong",
    "dong",
    "ya",
    "yah",
    "nya",
    "untuk",
    "dengan",
    "juga",
    "sudah",
    "masih",
    "halo",
    "hai",
    "pagi",
    "siang",
    "sore",
    "malam",
    "terima",
    "kasih",
    "mohon",
    "info",
    "tanya",
];

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase)
}

/// The question's content words.
pub(crate) fn content_words(question: &str) -> BTreeSet<String> {
    words(question)
        .filter(|w| (w.len() >= 3 || w.chars().all(char::is_numeric)) && !STOPWORDS.contains(&w.as_str()))
        .collect()
}

/// Share of the question's content words the passage contains (0 when it has none).
pub(crate) fn coverage(question: &BTreeSet<String>, passage: &Passage) -> f64 {
    if question.is_empty() {
        return 0.0;
    }
    let a = &passage.article;
    let text: BTreeSet<String> =
        words(&a.title).chain(words(&a.body)).chain(a.tags.iter().flat_map(|t| words(t).collect::<Vec<_>>())).collect();
    question.iter().filter(|w| text.contains(*w)).count() as f64 / question.len() as f64
}

/// The article's text, cut at a sentence end near the limit.
fn reply_from(passage: &Passage) -> String {
    let a = &passage.article;
    let body = a.body.trim();
    let text = match a.kind {
        ArticleKind::Product => format!("{}: {body}", a.title.trim()),
        ArticleKind::Faq | ArticleKind::Policy => body.to_owned(),
    };
    if text.chars().count() <= MAX_REPLY_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_REPLY_CHARS).collect();
    match cut.rfind(['.', '!', '?', '\n']) {
        Some(end) if end > MAX_REPLY_CHARS / 2 => cut[..=end].trim_end().to_owned(),
        _ => format!("{}…", cut.trim_end()),
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub struct EmbeddedGenerator;

impl EmbeddedGenerator {
    pub const NAME: &'static str = "embedded-bm25";

    pub fn compose(request: &DraftRequest) -> Option<GeneratedDraft> {
        let question = content_words(&request.question);
        // The best passage by coverage; BM25 order breaks ties.
        let (best, confidence) = request.passages.iter().map(|p| (p, coverage(&question, p))).fold(
            None,
            |best: Option<(&Passage, f64)>, (p, c)| match best {
                Some((_, bc)) if bc >= c => best,
                _ => Some((p, c)),
            },
        )?;
        if confidence <= 0.0 {
            return None;
        }
        let mut prompt = Sha256::new();
        prompt.update(MODEL.as_bytes());
        prompt.update(b"\n");
        prompt.update(request.question.as_bytes());
        for p in &request.passages {
            prompt.update(b"\n");
            prompt.update(p.article.id.to_string().as_bytes());
        }
        Some(GeneratedDraft {
            text: reply_from(best),
            model: MODEL.to_owned(),
            prompt_hash: hex::encode(prompt.finalize()),
            article_ids: vec![best.article.id],
            confidence,
        })
    }
}

#[async_trait]
impl DraftGenerator for EmbeddedGenerator {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn generate(&self, request: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError> {
        Ok(Self::compose(request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use laras_commands::worker::Article;
    use laras_domain::ids::ArticleId;
    use uuid::Uuid;

    fn passage(n: u128, kind: ArticleKind, title: &str, body: &str) -> Passage {
        let article =
            Article { id: ArticleId(Uuid::from_u128(n)), kind, title: title.into(), body: body.into(), tags: vec![] };
        Passage { article, score: 1.0 }
    }

    fn ask(question: &str, passages: Vec<Passage>) -> Option<GeneratedDraft> {
        EmbeddedGenerator::compose(&DraftRequest { question: question.into(), passages, history: vec![] })
    }

    #[test]
    fn the_article_that_covers_the_question_answers_it_with_full_confidence() {
        let batik = passage(1, ArticleKind::Product, "Batik tulis", "Harga batik tulis Rp 450.000, stok 3.");
        let hours = passage(2, ArticleKind::Faq, "Jam buka", "Kami buka jam 9 sampai 17.");
        let draft = ask("Berapa harga batik tulis kak?", vec![hours, batik]).expect("an answer");
        assert_eq!(draft.text, "Batik tulis: Harga batik tulis Rp 450.000, stok 3.");
        assert_eq!(draft.article_ids, vec![ArticleId(Uuid::from_u128(1))]);
        assert!((draft.confidence - 1.0).abs() < f64::EPSILON);
        assert_eq!(draft.prompt_hash.len(), 64);
    }

    #[test]
    fn a_question_the_knowledge_barely_touches_has_low_confidence_and_none_gets_no_answer() {
        let hours = passage(2, ArticleKind::Faq, "Jam buka", "Kami buka jam 9 sampai 17.");
        let draft = ask("Do you sell handmade leather wallets with engraving?", vec![hours.clone()]);
        assert!(draft.is_none_or(|d| d.confidence < 0.5));
        assert_eq!(ask("Berapa harga batik?", vec![]), None);
        assert_eq!(ask("halo kak", vec![hours]), None, "no content words, nothing to answer");
    }

    #[test]
    fn a_long_article_is_cut_at_a_sentence_end() {
        let body = "Kami kirim ke seluruh Indonesia. ".repeat(40);
        let long = passage(3, ArticleKind::Policy, "Pengiriman", &body);
        let draft = ask("kirim ke Indonesia?", vec![long]).expect("answer");
        assert!(draft.text.chars().count() <= MAX_REPLY_CHARS);
        assert!(draft.text.ends_with('.'));
    }
}
