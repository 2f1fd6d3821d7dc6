//! `laras bench …`: measurements for the closing notes, and the crash test's burst.
//! Hidden from `--help`: it writes a demo partner into the data dir it is given.

use crate::app::{App, SystemClock};
use crate::log_store::LogLocation;
use crate::settings::Settings;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::CommandMeta;
use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, OnboardPartner};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::ApprovalMode;
use laras_domain::ids::PartnerId;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::Timestamp;
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

const ACCOUNT: &str = "100200300";

/// Raw single-core Ed25519 rates, measured beside every benchmark as its reference.
#[derive(Serialize, Clone, Copy)]
pub struct Ed25519Rates {
    pub sign_per_s: f64,
    pub verify_per_s: f64,
}

/// Batch verification on every core: the ceiling for `laras verify`.
pub fn ed25519_batch_rate(n: usize) -> f64 {
    use rayon::prelude::*;
    let key = LedgerSigningKey::from_secret([9; 32]);
    let messages: Vec<Vec<u8>> = (0..n).map(|i| [&[0x5a_u8; 400][..], &i.to_be_bytes()].concat()).collect();
    let signatures: Vec<ed25519_dalek::Signature> =
        messages.iter().map(|m| ed25519_dalek::Signature::from_bytes(&key.sign(m))).collect();
    let keys = vec![key.public(); 256];
    let started = Instant::now();
    let ok = messages.par_chunks(256).zip(signatures.par_chunks(256)).all(|(m, s)| {
        let m: Vec<&[u8]> = m.iter().map(Vec::as_slice).collect();
        ed25519_dalek::verify_batch(&m, s, &keys[..m.len()]).is_ok()
    });
    assert!(ok, "reference signatures verify");
    n as f64 / started.elapsed().as_secs_f64()
}

/// Prints the raw Ed25519 references as JSON.
pub fn ed25519() -> anyhow::Result<ExitCode> {
    let single = ed25519_rates(20_000);
    let report = serde_json::json!({
        "sign_per_s_one_core": single.sign_per_s,
        "verify_per_s_one_core": single.verify_per_s,
        "batch_verify_per_s_all_cores": ed25519_batch_rate(200_000),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

pub fn ed25519_rates(n: usize) -> Ed25519Rates {
    let key = LedgerSigningKey::from_secret([9; 32]);
    let public = key.public();
    let message = vec![0x5a_u8; 400];
    let started = Instant::now();
    let signatures: Vec<[u8; 64]> = (0..n).map(|i| key.sign(&[&message[..], &i.to_be_bytes()].concat())).collect();
    let sign_per_s = n as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let ok = signatures.iter().enumerate().all(|(i, s)| {
        public
            .verify_strict(&[&message[..], &i.to_be_bytes()].concat(), &ed25519_dalek::Signature::from_bytes(s))
            .is_ok()
    });
    let verify_per_s = n as f64 / started.elapsed().as_secs_f64();
    assert!(ok, "reference signatures verify");
    Ed25519Rates { sign_per_s, verify_per_s }
}

fn message(i: usize, seq: usize) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: ACCOUNT.into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: format!("62812{i:07}"), name: None },
        channel_message_id: format!("wamid.bench.{i}.{seq}"),
        sent_at: Timestamp(1_767_225_600_000),
        content: PlainContent::Text(format!("pesan {seq} dari pelanggan {i}")),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

/// Onboards the bench partner (idempotent across runs in one data dir).
pub async fn bench_partner(app: &App) -> anyhow::Result<PartnerId> {
    let partner = PartnerId(Uuid::from_u128(0xbe4c));
    let meta = CommandMeta::system("bench");
    let onboard = OnboardPartner {
        partner_id: partner,
        name: "Bench Partner".into(),
        approval: ApprovalMode::Approval,
        pipeline: default_pipeline(),
    };
    match app.ledger.onboard_partner(onboard, &meta).await {
        Ok(_)
        | Err(laras_commands::CommandError::Domain(laras_domain::error::DomainError::PartnerAlreadyOnboarded)) => {}
        Err(e) => return Err(e.into()),
    }
    // Operator-seeded: the bench has no token, so no proof is recorded.
    let connect = ConnectChannel {
        channel: ChannelKind::WhatsApp,
        account_id: ACCOUNT.into(),
        display_name: "Bench".into(),
        proof: None,
    };
    let directory = laras_commands::directory::ChannelDirectory::new(app.ledger.store.clone());
    app.ledger.connect_channel(partner, connect, &directory, &meta).await?;
    Ok(partner)
}

#[derive(Serialize)]
struct AppendReport {
    commands: usize,
    events_per_command: f64,
    seconds: f64,
    appends_per_s: f64,
    commits: u64,
}

/// Durable single-event commands fired concurrently: each is a second message on its own
/// conversation (the first messages are written beforehand, outside the timing). With a
/// PostgreSQL store, the embedded store is measured first in the same run (in a fresh
/// temporary data dir) as the reference.
pub async fn appends(settings: &Settings, count: usize) -> anyhow::Result<ExitCode> {
    let reference = ed25519_rates(20_000);
    let report = match &settings.log {
        LogLocation::Embedded => {
            let embedded = measure_appends(&settings.data_dir, &LogLocation::Embedded, count).await?;
            serde_json::json!({ "store": "embedded", "embedded": embedded, "reference": reference })
        }
        LogLocation::Postgres(_) => {
            let scratch = tempfile::tempdir()?;
            let embedded = measure_appends(scratch.path(), &LogLocation::Embedded, count).await?;
            let postgres = measure_appends(&settings.data_dir, &settings.log, count).await?;
            serde_json::json!({
                "store": "postgres",
                "embedded": embedded,
                "postgres": postgres,
                "postgres_over_embedded": postgres.appends_per_s / embedded.appends_per_s,
                "reference": reference,
            })
        }
    };
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

async fn measure_appends(data_dir: &Path, log: &LogLocation, count: usize) -> anyhow::Result<AppendReport> {
    let app = Arc::new(App::open_at(data_dir, log, Arc::new(SystemClock)).await?);
    let partner = bench_partner(&app).await?;
    let run = Uuid::now_v7().simple().to_string();
    let meta = CommandMeta::system("bench");
    let warm: Vec<_> = (0..count)
        .map(|i| {
            let app = app.clone();
            let meta = meta.clone();
            let mut m = message(i, 0);
            m.channel_message_id = format!("wamid.{run}.{i}.0");
            tokio::spawn(async move { app.ledger.record_inbound_message(partner, m, &meta).await })
        })
        .collect();
    for t in warm {
        t.await??;
    }
    let before = app.store.commits();
    let started = Instant::now();
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let app = app.clone();
            let meta = meta.clone();
            let mut m = message(i, 1);
            m.channel_message_id = format!("wamid.{run}.{i}.1");
            tokio::spawn(async move { app.ledger.record_inbound_message(partner, m, &meta).await })
        })
        .collect();
    let mut events = 0usize;
    for t in tasks {
        events += t.await??.committed.positions.len();
    }
    let seconds = started.elapsed().as_secs_f64();
    let commits = app.store.commits() - before;
    app.store.close().await;
    Ok(AppendReport {
        commands: count,
        events_per_command: events as f64 / count as f64,
        seconds,
        appends_per_s: count as f64 / seconds,
        commits,
    })
}

/// Appends messages concurrently forever, printing each acknowledged position on its
/// own line as soon as the append is durable. The crash test kills this with SIGKILL.
pub async fn burst(settings: &Settings, concurrency: usize) -> anyhow::Result<ExitCode> {
    let app = Arc::new(App::from_settings(settings, Arc::new(SystemClock)).await?);
    let partner = bench_partner(&app).await?;
    println!("ready");
    std::io::stdout().flush()?;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u64>>();
    for worker in 0..concurrency {
        let app = app.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let meta = CommandMeta::system("bench");
            for seq in 0.. {
                let m = message(worker, seq);
                match app.ledger.record_inbound_message(partner, m, &meta).await {
                    Ok(r) => {
                        if tx.send(r.committed.positions).is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        eprintln!("append failed: {e}");
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    let mut out = std::io::stdout().lock();
    while let Some(positions) = rx.recv().await {
        for p in positions {
            writeln!(out, "{p}")?;
        }
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Merkle log at `leaves` leaves: frontier appends/s, and inclusion / consistency proof
/// generation + verification times (median and p99 of 1,000 random proofs each), beside
/// the raw SHA-256 node-hash rate measured in the same run.
pub fn merkle(leaves: u64) -> anyhow::Result<ExitCode> {
    use laras_domain::merkle::*;
    let hashes: Vec<NodeHash> = (0..leaves).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let started = Instant::now();
    let mut probe = hashes[0];
    for h in &hashes {
        probe = node_hash(&probe, h);
    }
    let node_hashes_per_s = leaves as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    let mut nodes = MemoryNodes::default();
    let mut frontier = Frontier::default();
    for h in &hashes {
        for node in frontier.push(*h) {
            nodes.insert(node);
        }
    }
    let appends_per_s = leaves as f64 / started.elapsed().as_secs_f64();
    let root = frontier.root();
    let mut rng = rand::thread_rng();
    let mut inclusion = Vec::new();
    let mut consistency = Vec::new();
    for _ in 0..1_000 {
        use rand::Rng;
        let index = rng.gen_range(0..leaves);
        let t = Instant::now();
        let proof = inclusion_proof(&nodes, index, leaves)?;
        verify_inclusion(index, leaves, &hashes[index as usize], &proof, &root)?;
        inclusion.push(t.elapsed().as_secs_f64() * 1e6);
        let first = rng.gen_range(1..leaves);
        let t = Instant::now();
        let proof = consistency_proof(&nodes, first, leaves)?;
        let first_root = root_at(&nodes, first)?;
        verify_consistency(first, leaves, &first_root, &root, &proof)?;
        consistency.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let pct = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let report = serde_json::json!({
        "leaves": leaves,
        "raw_node_hashes_per_s": node_hashes_per_s,
        "frontier_appends_per_s": appends_per_s,
        "inclusion_us_p50": pct(&mut inclusion, 0.5), "inclusion_us_p99": pct(&mut inclusion, 0.99),
        "consistency_us_p50": pct(&mut consistency, 0.5), "consistency_us_p99": pct(&mut consistency, 0.99),
        "note": "proof times include generation from stored nodes and verification; consistency includes the first root",
        "probe": hex::encode(&probe[..4]),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
