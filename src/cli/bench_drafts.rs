//! `laras bench drafts`: the embedded generator's draft latency (retrieval from the
//! Partner's knowledge, then composing) with ARTICLES articles, beside the bare BM25
//! search over the same index measured in the same run.

use laras_adapters::ai::embedded::EmbeddedGenerator;
use laras_adapters::ai::knowledge::TantivyKnowledge;
use laras_commands::worker::{Article, DraftRequest, KnowledgeBase};
use laras_domain::event::ArticleKind;
use laras_domain::ids::{ArticleId, PartnerId};
use rand::{Rng, SeedableRng};
use std::process::ExitCode;
use std::time::Instant;
use uuid::Uuid;

const PRODUCTS: &[&str] = &["batik", "kopi", "tas", "sepatu", "kemeja", "selendang", "dompet", "teh", "madu", "sambal"];
const KINDS: &[&str] = &["tulis", "cap", "arabika", "robusta", "kulit", "rotan", "sutra", "katun", "hutan", "bawang"];
const COLOURS: &[&str] = &["merah", "biru", "hijau", "hitam", "putih", "coklat", "emas", "ungu"];

fn article(i: usize) -> (String, String) {
    let (p, k, c) = (PRODUCTS[i % 10], KINDS[(i / 10) % 10], COLOURS[(i / 100) % 8]);
    let size = i / 800;
    let title = format!("{p} {k} {c} seri {size}");
    let body = format!(
        "Harga {p} {k} {c} seri {size} Rp {}.000, stok {}. Dikirim dari Yogyakarta dalam 1-2 hari kerja; \
         bisa bayar transfer bank atau COD. Garansi tukar 7 hari bila ada cacat produksi.",
        100 + i % 900,
        i % 17
    );
    (title, body)
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or(0.0)
}

pub fn drafts(articles: usize, questions: usize) -> anyhow::Result<ExitCode> {
    let partner = PartnerId(Uuid::from_u128(0xbe4c));
    let knowledge = TantivyKnowledge::in_memory()?;
    let started = Instant::now();
    for i in 0..articles {
        let (title, body) = article(i);
        let id = ArticleId(Uuid::from_u128(i as u128 + 1));
        knowledge.publish(partner, Article { id, kind: ArticleKind::Product, title, body, tags: vec![] })?;
    }
    knowledge.commit()?;
    let index_s = started.elapsed().as_secs_f64();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let asks: Vec<String> = (0..questions)
        .map(|_| {
            let i = rng.gen_range(0..articles.max(1));
            let (p, k, c) = (PRODUCTS[i % 10], KINDS[(i / 10) % 10], COLOURS[(i / 100) % 8]);
            format!("Kak, berapa harga {p} {k} {c} seri {}? masih ada stok?", i / 800)
        })
        .collect();
    let (mut search_ms, mut draft_ms, mut answered) = (Vec::new(), Vec::new(), 0usize);
    for question in &asks {
        let t = Instant::now();
        let passages = knowledge.search(partner, question, 3)?;
        search_ms.push(t.elapsed().as_secs_f64() * 1e3);
        drop(passages);
        let t = Instant::now();
        let passages = knowledge.search(partner, question, 3)?;
        let draft = EmbeddedGenerator::compose(&DraftRequest { question: question.clone(), passages, history: vec![] });
        draft_ms.push(t.elapsed().as_secs_f64() * 1e3);
        answered += usize::from(draft.is_some_and(|d| d.confidence >= 0.5));
    }
    let report = serde_json::json!({
        "articles": articles,
        "questions": questions,
        "index_articles_per_s": articles as f64 / index_s,
        "draft_ms_p50": percentile(&mut draft_ms, 0.5), "draft_ms_p99": percentile(&mut draft_ms, 0.99),
        "reference_bm25_search_ms_p50": percentile(&mut search_ms, 0.5),
        "reference_bm25_search_ms_p99": percentile(&mut search_ms, 0.99),
        "answered_with_confidence": answered as f64 / questions.max(1) as f64,
        "note": "draft = retrieval of 3 passages + composing (the AI worker's latency_ms); reference = the same BM25 search alone",
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
