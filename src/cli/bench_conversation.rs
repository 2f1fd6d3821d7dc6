//! `laras bench conversation`: what the Nth message of a conversation costs beside the first.
//!
//! Several customers each write LENGTH messages, one command at a time (no group commit
//! to flatter or hide anything), round-robin so a slow moment of the machine spreads over
//! every position. The figure is the median latency at each position of interest; the
//! target is the last within 1.5 × the first. The second message is shown too: the first
//! also identifies the contact and opens the conversation, so it records more events.

use super::bench::{bench_partner, ed25519_rates};
use crate::app::{App, SystemClock};
use crate::log_store::LogLocation;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::CommandMeta;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::time::Timestamp;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}

/// Runs the measurement in `data_dir` (a fresh temporary one is best).
pub async fn conversation(data_dir: &Path, length: usize, customers: usize) -> anyhow::Result<ExitCode> {
    let reference = ed25519_rates(20_000);
    let app = Arc::new(App::open_at(data_dir, &LogLocation::Embedded, Arc::new(SystemClock)).await?);
    let partner = bench_partner(&app).await?;
    let run = Uuid::now_v7().simple().to_string();
    let meta = CommandMeta::system("bench");
    let customers = customers.max(1);
    let length = length.max(2);
    // micros[position][customer]
    let mut micros = vec![Vec::with_capacity(customers); length];
    let started = Instant::now();
    for (seq, at) in micros.iter_mut().enumerate() {
        for c in 0..customers {
            let message = IncomingMessage {
                channel: ChannelKind::WhatsApp,
                account_id: "100200300".into(),
                sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62813{c:07}"), name: None },
                channel_message_id: format!("wamid.{run}.{c}.{seq}"),
                sent_at: Timestamp(1_767_225_600_000),
                content: PlainContent::Text(format!("pesan {seq} dari pelanggan {c}")),
                reply_to: None,
                context: Default::default(),
                also: vec![],
            };
            let t = Instant::now();
            app.ledger.record_inbound_message(partner, message, &meta).await?;
            at.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let stats = app.ledger.cache.stats();
    app.store.close().await;
    let at = |p: usize| median(micros[p].clone());
    // The last few positions together, so one slow fsync does not decide the figure.
    let tail: Vec<f64> = micros[length.saturating_sub(10)..].iter().flatten().copied().collect();
    let (first, second, last) = (at(0), at(1), median(tail));
    let report = serde_json::json!({
        "length": length,
        "customers": customers,
        "messages": length * customers,
        "seconds": seconds,
        "first_message_us_p50": first,
        "second_message_us_p50": second,
        "last_10_messages_us_p50": last,
        "last_over_first": last / first,
        "last_over_second": last / second,
        "target": "last_over_first <= 1.5",
        "aggregate_cache": { "hits": stats.hits, "misses": stats.misses, "entries": stats.entries },
        "reference": reference,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
