//! `laras bench read-models`: the read side at scale. Fills the log to EVENTS with
//! realistic traffic (kept between runs), then measures a full rebuild, inbox and
//! search query latencies, and append-to-visible lag under load, each beside a
//! reference measured in the same run (the raw scan rate of the log).

use crate::app::{App, SystemClock};
use crate::cli::bench::bench_partner;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::CommandMeta;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use laras_domain::time::Timestamp;
use laras_projections::{InboxFilter, PageRequest, ProjectionRunner, ReadModels, SearchQuery};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const WORDS: [&str; 24] = [
    "harga",
    "kopi",
    "gayo",
    "pengiriman",
    "ongkir",
    "jakarta",
    "bandung",
    "stok",
    "ready",
    "batik",
    "ukuran",
    "price",
    "shipping",
    "order",
    "refund",
    "tomorrow",
    "discount",
    "warna",
    "merah",
    "biru",
    "transfer",
    "invoice",
    "size",
    "available",
];
const CONTACTS: usize = 50_000;
const CONCURRENCY: usize = 128;
const LAG_APPENDS: usize = 6_400;

fn text(seed: usize) -> String {
    let mut x = seed.wrapping_mul(2_654_435_761) ^ 0x9e37_79b9;
    let mut words = Vec::new();
    for _ in 0..6 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        words.push(WORDS[x % WORDS.len()]);
    }
    words.join(" ")
}

fn message(contact: usize, seq: usize) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "100200300".into(),
        sender: SenderIdentity {
            kind: IdentityKind::WaId,
            value: format!("62813{contact:07}"),
            name: Some(format!("Pelanggan {contact}")),
        },
        channel_message_id: format!("wamid.read.{contact}.{seq}"),
        sent_at: Timestamp(1_767_225_600_000 + (seq * CONTACTS + contact) as i64 * 1000),
        content: PlainContent::Text(text(contact * 131 + seq)),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

/// Appends messages until the log holds `target` events; the same ids on a rerun are no-ops.
pub(crate) async fn fill(app: &Arc<App>, partner: PartnerId, target: u64) -> anyhow::Result<()> {
    let meta = CommandMeta::system("bench");
    let mut seq = 0;
    while *app.store.head().borrow() < target {
        for chunk in (0..CONTACTS).collect::<Vec<_>>().chunks(CONCURRENCY) {
            let tasks: Vec<_> = chunk
                .iter()
                .map(|&c| {
                    let (app, meta) = (app.clone(), meta.clone());
                    tokio::spawn(
                        async move { app.ledger.record_inbound_message(partner, message(c, seq), &meta).await },
                    )
                })
                .collect();
            for t in tasks {
                t.await??;
            }
            if *app.store.head().borrow() >= target {
                break;
            }
        }
        seq += 1;
        eprintln!("filled to {} events", *app.store.head().borrow());
    }
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn summary(mut ms: Vec<f64>) -> serde_json::Value {
    ms.sort_by(f64::total_cmp);
    serde_json::json!({ "n": ms.len(), "p50_ms": percentile(&ms, 0.5), "p99_ms": percentile(&ms, 0.99) })
}

pub async fn read_models(data_dir: &Path, events: u64) -> anyhow::Result<ExitCode> {
    let app = Arc::new(App::open(data_dir, Arc::new(SystemClock)).await?);
    let partner = bench_partner(&app).await?;
    fill(&app, partner, events).await?;
    let head = *app.store.head().borrow();

    // Reference: reading and decoding every envelope of the log, nothing else.
    let started = Instant::now();
    let (mut after, mut scanned) = (0, 0u64);
    loop {
        let page = app.store.port().read_all(after, 2_000).await?;
        let Some(last) = page.last() else { break };
        after = last.position;
        for s in &page {
            s.envelope.event().map_err(|e| anyhow::anyhow!("decode: {e}"))?;
        }
        scanned += page.len() as u64;
    }
    let scan_per_s = scanned as f64 / started.elapsed().as_secs_f64();

    let dir = tempfile::Builder::new().prefix("laras-bench-read").tempdir_in(data_dir)?;
    let runner = ProjectionRunner {
        store: app.ledger.store.clone(),
        keys: app.ledger.keys.clone(),
        models: ReadModels::open(dir.path())?,
        clock: app.ledger.clock.clone(),
        skips: None,
    };
    let started = Instant::now();
    runner.rebuild(|_, _| {}).await?;
    let rebuild_s = started.elapsed().as_secs_f64();

    let models = runner.models.clone();
    let p = partner.to_string();
    let mut inbox_ms = Vec::new();
    let mut cursor = None;
    for i in 0..2_000 {
        let filter = match i % 4 {
            0 => InboxFilter::default(),
            1 => InboxFilter { status: Some("open".into()), ..Default::default() },
            2 => InboxFilter { channel: Some("whatsapp".into()), ..Default::default() },
            _ => InboxFilter::default(),
        };
        let after = if i % 4 == 3 { cursor.clone() } else { None };
        let t = Instant::now();
        let page = models.inbox(&p, &filter, &PageRequest { first: 20, after })?;
        inbox_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        cursor = page.end_cursor;
    }
    let mut search_ms = Vec::new();
    for i in 0..2_000 {
        let words = if i % 2 == 0 { WORDS[i % WORDS.len()].to_owned() } else { text(i) };
        let t = Instant::now();
        models.search(&p, &SearchQuery { text: words, limit: 20, ..Default::default() })?;
        search_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }

    // Lag: the runner follows live while commands are fired at CONCURRENCY.
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let live = runner.clone().spawn_dedicated(async move {
        let _ = stopped.await;
    })?;
    let base = 1_000_000 + (head as usize % 1_000_000);
    let saturated = lag_phase(&app, partner, &models, base, None).await?;
    let paced = lag_phase(&app, partner, &models, base + LAG_APPENDS, Some(1_000.0)).await?;
    let _ = stop.send(());
    tokio::task::spawn_blocking(move || live.join()).await?.map_err(|_| anyhow::anyhow!("runner panicked"))??;

    let report = serde_json::json!({
        "events_in_log": head,
        "reference_scan_decode_per_s": scan_per_s.round(),
        "rebuild_s": rebuild_s,
        "rebuild_events_per_s": (head as f64 / rebuild_s).round(),
        "rebuild_vs_scan": head as f64 / rebuild_s / scan_per_s,
        "inbox_query": summary(inbox_ms),
        "search_query": summary(search_ms),
        "append_to_visible_lag_saturating_load": saturated,
        "append_to_visible_lag_1000_per_s": paced,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    drop(models);
    drop(runner);
    if let Ok(app) = Arc::try_unwrap(app) {
        app.close().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// 64 senders append one message after another (at most `rate` per second in all); a
/// watcher per append measures from its acknowledgement to its visibility in the read models.
async fn lag_phase(
    app: &Arc<App>,
    partner: PartnerId,
    models: &ReadModels,
    base: usize,
    rate: Option<f64>,
) -> anyhow::Result<serde_json::Value> {
    const SENDERS: usize = 64;
    let meta = CommandMeta::system("bench");
    let started = Instant::now();
    let (lag_tx, mut lag_rx) = tokio::sync::mpsc::unbounded_channel::<anyhow::Result<f64>>();
    let senders: Vec<_> = (0..SENDERS)
        .map(|worker| {
            let (app, meta, models, lag_tx) = (app.clone(), meta.clone(), models.clone(), lag_tx.clone());
            tokio::spawn(async move {
                let per = LAG_APPENDS / SENDERS;
                for n in 0..per {
                    if let Some(rate) = rate {
                        let due = started + Duration::from_secs_f64((n * SENDERS + worker) as f64 / rate);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let i = worker * per + n;
                    let m = message(i % CONTACTS, base + i);
                    let recorded = app.ledger.record_inbound_message(partner, m, &meta).await?;
                    let acked = Instant::now();
                    let position = recorded.committed.last_position().unwrap_or(0);
                    let (models, lag_tx) = (models.clone(), lag_tx.clone());
                    tokio::spawn(async move {
                        let seen = models.wait_for(position, Duration::from_secs(30)).await;
                        let _ = lag_tx.send(seen.map(|_| acked.elapsed().as_secs_f64() * 1000.0).map_err(Into::into));
                    });
                }
                anyhow::Ok(())
            })
        })
        .collect();
    drop(lag_tx);
    for s in senders {
        s.await??;
    }
    let mut lag_ms = Vec::new();
    while let Some(lag) = lag_rx.recv().await {
        lag_ms.push(lag?);
    }
    let appends_per_s = (lag_ms.len() as f64 / started.elapsed().as_secs_f64()).round();
    let mut report = summary(lag_ms);
    report["appends_per_s"] = serde_json::json!(appends_per_s);
    Ok(report)
}
