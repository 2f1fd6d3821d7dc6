//! Full-text search over messages, comments, replies and notes (tantivy, BM25).
//!
//! Tokenisation: Unicode word boundaries, lower case, ASCII folding (so "café" finds
//! "cafe"), words over 40 bytes dropped. No stemmer: English stemmers mangle
//! Indonesian words (and Indonesian morphology is affix-based), so both languages are
//! matched on whole words, which BM25 ranks well for short customer messages.
//!
//! The index cannot share SQLite's transaction, so it keeps its own checkpoint in its
//! commit payload and its writes are idempotent (each document is keyed by the ledger
//! position it came from, deleted before it is added). After a crash the runner
//! replays from the index's own checkpoint.

use crate::error::ProjectionError;
use std::ops::Bound;
use std::path::Path;
use std::sync::Mutex;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED, STRING,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer};
use tantivy::{doc, Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

const TOKENIZER: &str = "laras_words";
const WRITER_MEMORY: usize = 64 * 1024 * 1024;

/// A document to index.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchDoc {
    pub position: u64,
    pub partner: String,
    pub channel: String,
    pub contact: String,
    pub conversation: String,
    /// inbound, comment, echo, reply or note.
    pub kind: String,
    pub at: i64,
    pub text: String,
}

pub enum SearchOp {
    Add(SearchDoc),
    /// Erasure: every document of the contact goes.
    EraseContact(String),
}

/// What to look for; the Partner is always a filter.
#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    pub text: String,
    pub channel: Option<String>,
    pub contact: Option<String>,
    /// Inclusive bounds in ms since the epoch.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SearchHit {
    pub position: u64,
    pub score: f32,
    pub kind: String,
    pub channel: String,
    pub contact: String,
    pub conversation: Option<String>,
    pub at: i64,
    /// The matching passage with `<b>` around the matched words (HTML-escaped).
    pub snippet_html: String,
}

struct Fields {
    key: Field,
    partner: Field,
    channel: Field,
    contact: Field,
    conversation: Field,
    kind: Field,
    at: Field,
    text: Field,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
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
        key: b.add_u64_field("key", INDEXED | STORED),
        partner: b.add_text_field("partner", STRING),
        channel: b.add_text_field("channel", STRING | STORED),
        contact: b.add_text_field("contact", STRING | STORED),
        // Shown, never searched by: as an indexed field it cost a term dictionary entry per
        // conversation in every segment, built again by every merge.
        conversation: b.add_text_field("conversation", STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        // Date ranges run on the fast field, so the terms of an index would only cost.
        at: b.add_i64_field("at", STORED | FAST),
        text: b.add_text_field("text", words),
    };
    (b.build(), fields)
}

impl SearchIndex {
    pub fn open(dir: &Path) -> Result<Self, ProjectionError> {
        std::fs::create_dir_all(dir).map_err(|source| ProjectionError::Io { path: dir.to_path_buf(), source })?;
        let (schema, fields) = schema();
        let index = match Index::open_or_create(Self::directory(dir)?, schema.clone()) {
            Ok(index) => index,
            // An index of an older layout is dropped: its checkpoint goes with it, so the
            // runner replays the log into the new one (the tables, ahead, skip those events).
            Err(tantivy::TantivyError::SchemaError(reason)) => {
                tracing::info!(%reason, "search index is of an older layout: rebuilding it from the log");
                std::fs::remove_dir_all(dir)
                    .map_err(|source| ProjectionError::Io { path: dir.to_path_buf(), source })?;
                std::fs::create_dir_all(dir)
                    .map_err(|source| ProjectionError::Io { path: dir.to_path_buf(), source })?;
                Index::create(Self::directory(dir)?, schema, Default::default())?
            }
            Err(e) => return Err(e.into()),
        };
        let analyzer = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(RemoveLongFilter::limit(40))
            .filter(LowerCaser)
            .filter(AsciiFoldingFilter)
            .build();
        index.tokenizers().register(TOKENIZER, analyzer);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        // One indexing thread with the whole budget: each thread fills segments of its own,
        // and every segment repeats the term dictionary of (nearly) every contact, which
        // merging then builds again.
        let writer = index.writer_with_num_threads(1, WRITER_MEMORY)?;
        Ok(Self { index, reader, writer: Mutex::new(writer), fields })
    }

    fn directory(dir: &Path) -> Result<MmapDirectory, ProjectionError> {
        MmapDirectory::open(dir).map_err(|e| ProjectionError::Search(e.into()))
    }

    /// The ledger position of the last committed batch (0 for a new index).
    pub fn checkpoint(&self) -> u64 {
        self.index.load_metas().ok().and_then(|m| m.payload).and_then(|p| p.parse().ok()).unwrap_or(0)
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, IndexWriter> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stages operations; they become visible at the next [`SearchIndex::commit`].
    pub fn stage(&self, ops: Vec<SearchOp>) -> Result<(), ProjectionError> {
        let writer = self.writer();
        let f = &self.fields;
        for op in ops {
            match op {
                SearchOp::Add(d) => {
                    writer.delete_term(Term::from_field_u64(f.key, d.position));
                    writer.add_document(doc!(
                        f.key => d.position,
                        f.partner => d.partner,
                        f.channel => d.channel,
                        f.contact => d.contact,
                        f.conversation => d.conversation,
                        f.kind => d.kind,
                        f.at => d.at,
                        f.text => d.text,
                    ))?;
                }
                SearchOp::EraseContact(contact) => {
                    writer.delete_term(Term::from_field_text(f.contact, &contact));
                }
            }
        }
        Ok(())
    }

    /// Makes staged operations durable and visible, recording `position` as the checkpoint.
    pub fn commit(&self, position: u64) -> Result<(), ProjectionError> {
        let mut writer = self.writer();
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&position.to_string());
        prepared.commit()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// Drops every document (for a rebuild).
    pub fn clear(&self) -> Result<(), ProjectionError> {
        self.writer().delete_all_documents()?;
        self.commit(0)
    }

    pub fn search(&self, partner: &str, q: &SearchQuery) -> Result<Vec<SearchHit>, ProjectionError> {
        let f = &self.fields;
        if q.text.trim().is_empty() {
            return Err(ProjectionError::BadQuery("the search text is empty".into()));
        }
        let parser = QueryParser::for_index(&self.index, vec![f.text]);
        let (words, _ignored) = parser.parse_query_lenient(&q.text);
        let term = |field, value: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Must, words.box_clone()), (Occur::Must, term(f.partner, partner))];
        if let Some(channel) = &q.channel {
            clauses.push((Occur::Must, term(f.channel, channel)));
        }
        if let Some(contact) = &q.contact {
            clauses.push((Occur::Must, term(f.contact, contact)));
        }
        if q.from.is_some() || q.to.is_some() {
            let lower = q.from.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.at, v)));
            let upper = q.to.map_or(Bound::Unbounded, |v| Bound::Included(Term::from_field_i64(f.at, v)));
            clauses.push((Occur::Must, Box::new(RangeQuery::new(lower, upper))));
        }
        let query = BooleanQuery::new(clauses);
        let searcher = self.reader.searcher();
        let top = searcher.search(&query, &TopDocs::with_limit(q.limit.clamp(1, 100)))?;
        let snippets = SnippetGenerator::create(&searcher, &*words, f.text)?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text_of = |field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
            let conversation = text_of(f.conversation);
            hits.push(SearchHit {
                position: doc.get_first(f.key).and_then(|v| v.as_u64()).unwrap_or_default(),
                score,
                kind: text_of(f.kind),
                channel: text_of(f.channel),
                contact: text_of(f.contact),
                conversation: (!conversation.is_empty()).then_some(conversation),
                at: doc.get_first(f.at).and_then(|v| v.as_i64()).unwrap_or_default(),
                snippet_html: snippets.snippet_from_doc(&doc).to_html(),
            });
        }
        Ok(hits)
    }
}
