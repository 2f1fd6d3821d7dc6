//! Each Partner's knowledge in a tantivy index, fed from the article events by the AI
//! worker. On disk (`knowledge/` in the data dir) it keeps the log position it reflects
//! in its commit payload, so a restarted worker learns only what came after; in memory
//! (tests, benchmarks) it is learned from the log on every start.
//! Retrieval is BM25 over title (boosted), body and tags, filtered to one Partner.

use laras_commands::worker::{Article, KnowledgeBase, Passage, WorkerError};
use laras_domain::event::ArticleKind;
use laras_domain::ids::{ArticleId, PartnerId};
use std::sync::{Mutex, MutexGuard};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, STORED, STRING};
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const TOKENIZER: &str = "laras_words";

struct Fields {
    key: Field,
    partner: Field,
    article: Field,
    kind: Field,
    title: Field,
    body: Field,
    tags: Field,
}

pub struct TantivyKnowledge {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    durable: bool,
}

fn failed(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Knowledge(e.to_string())
}

fn key(partner: PartnerId, article: ArticleId) -> String {
    format!("{partner}/{article}")
}

fn kind_name(kind: ArticleKind) -> String {
    serde_json::to_value(kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

impl TantivyKnowledge {
    pub fn in_memory() -> Result<Self, WorkerError> {
        let (schema, fields) = schema();
        Self::with_index(Index::create_in_ram(schema), fields, false)
    }

    /// Opens (creating) the index in `dir`.
    pub fn open(dir: &std::path::Path) -> Result<Self, WorkerError> {
        std::fs::create_dir_all(dir).map_err(failed)?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir).map_err(failed)?;
        Self::with_index(Index::open_or_create(directory, schema).map_err(failed)?, fields, true)
    }

    fn with_index(index: Index, fields: Fields, durable: bool) -> Result<Self, WorkerError> {
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build();
        index.tokenizers().register(TOKENIZER, analyzer);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(failed)?;
        let writer = index.writer(32 * 1024 * 1024).map_err(failed)?;
        Ok(Self { index, reader, writer: Mutex::new(writer), fields, durable })
    }

    fn writer(&self) -> MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let words = TextOptions::default()
        .set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        )
        .set_stored();
    let fields = Fields {
        key: b.add_text_field("key", STRING),
        partner: b.add_text_field("partner", STRING),
        article: b.add_text_field("article", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        title: b.add_text_field("title", words.clone()),
        body: b.add_text_field("body", words.clone()),
        tags: b.add_text_field("tags", words),
    };
    (b.build(), fields)
}

impl KnowledgeBase for TantivyKnowledge {
    fn publish(&self, partner: PartnerId, article: Article) -> Result<(), WorkerError> {
        let f = &self.fields;
        let writer = self.writer();
        // A republished article replaces its earlier version.
        writer.delete_term(Term::from_field_text(f.key, &key(partner, article.id)));
        writer
            .add_document(doc!(
                f.key => key(partner, article.id),
                f.partner => partner.to_string(),
                f.article => article.id.to_string(),
                f.kind => kind_name(article.kind),
                f.title => article.title,
                f.body => article.body,
                f.tags => article.tags.join(" "),
            ))
            .map_err(failed)?;
        Ok(())
    }

    fn retire(&self, partner: PartnerId, article: ArticleId) -> Result<(), WorkerError> {
        self.writer().delete_term(Term::from_field_text(self.fields.key, &key(partner, article)));
        Ok(())
    }

    fn commit(&self) -> Result<(), WorkerError> {
        self.writer().commit().map_err(failed)?;
        self.reader.reload().map_err(failed)
    }

    fn commit_at(&self, position: u64) -> Result<(), WorkerError> {
        let mut writer = self.writer();
        let mut prepared = writer.prepare_commit().map_err(failed)?;
        prepared.set_payload(&position.to_string());
        prepared.commit().map_err(failed)?;
        drop(writer);
        self.reader.reload().map_err(failed)
    }

    fn learned_up_to(&self) -> Option<u64> {
        let payload = self.index.load_metas().ok().and_then(|m| m.payload);
        self.durable.then(|| payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    fn search(&self, partner: PartnerId, query: &str, limit: usize) -> Result<Vec<Passage>, WorkerError> {
        let f = &self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.body, f.tags]);
        parser.set_field_boost(f.title, 2.0);
        // Customers' punctuation is not query syntax: parse leniently, ignore what fails.
        let (words, _ignored) = parser.parse_query_lenient(query);
        let only_partner: Box<dyn Query> =
            Box::new(TermQuery::new(Term::from_field_text(f.partner, &partner.to_string()), IndexRecordOption::Basic));
        let query = BooleanQuery::new(vec![(Occur::Must, only_partner), (Occur::Must, words)]);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(limit.clamp(1, 20))).map_err(failed)?;
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(failed)?;
            let text = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let Ok(id) = text(f.article).parse().map(ArticleId) else { continue };
            let kind = serde_json::from_value(serde_json::Value::String(text(f.kind))).unwrap_or(ArticleKind::Faq);
            let tags = text(f.tags).split_whitespace().map(str::to_owned).collect();
            out.push(Passage { article: Article { id, kind, title: text(f.title), body: text(f.body), tags }, score });
        }
        Ok(out)
    }
}
