//! `laras bench audit`: the audit figures at the data dir's size, each beside the raw
//! reference measured in the same run: Merkle log catch-up, proof times from the
//! stored tree, export, and `audit verify` against raw batch verification.

use crate::app::{App, SystemClock};
use crate::cli::bench::{bench_partner, ed25519_batch_rate};
use laras_adapters::audit_bundle::{export_bundle, verify_bundle, ExportRequest};
use laras_adapters::sqlite_log::SqliteEventStore;
use laras_commands::audit::{HeadPolicy, MerkleLog};
use laras_domain::merkle::{verify_consistency, verify_inclusion};
use laras_domain::time::Clock;
use rand::Rng;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len().saturating_sub(1)) as f64 * p).round() as usize).copied().unwrap_or(0.0)
}

pub async fn audit(data_dir: &Path, events: u64, runs: usize) -> anyhow::Result<ExitCode> {
    let app = Arc::new(App::open(data_dir, Arc::new(SystemClock)).await?);
    let partner = bench_partner(&app).await?;
    crate::cli::bench_read::fill(&app, partner, events).await?;
    let trees = app.trees.clone();
    let log = MerkleLog {
        store: app.store.port(),
        trees: trees.clone(),
        signer: app.ledger.signer.clone(),
        clock: app.ledger.clock.clone(),
        policy: HeadPolicy::default(),
    };
    let started = Instant::now();
    let before = trees.trees()?.values().map(|t| t.size).sum::<u64>();
    log.catch_up().await?;
    let after = trees.trees()?.values().map(|t| t.size).sum::<u64>();
    let catch_up_s = started.elapsed().as_secs_f64();
    let head = log.issue_head(partner)?;
    let size = head.tree_size;

    // Proofs as GraphQL serves them: generated from the stored tree, then verified.
    let mut rng = rand::thread_rng();
    let (mut inclusion, mut consistency) = (Vec::new(), Vec::new());
    for _ in 0..1_000 {
        let index = rng.gen_range(0..size);
        let Some(leaf) = trees.leaves(partner, index, 1)?.pop() else { continue };
        let t = Instant::now();
        let proof = log.inclusion(partner, leaf.event_id, size)?;
        verify_inclusion(proof.leaf_index, size, &proof.leaf_hash, &proof.path, &head.root_hash)?;
        inclusion.push(t.elapsed().as_secs_f64() * 1e3);
        let first = rng.gen_range(1..size);
        let t = Instant::now();
        let path = log.consistency(partner, first, size)?;
        let first_root = log.root(partner, first)?;
        verify_consistency(first, size, &first_root, &head.root_hash, &path)?;
        consistency.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let out = tempfile::tempdir_in(data_dir)?;
    let bundle = out.path().join("bundle");
    let secrets = app.data.signing_keys()?;
    let request = ExportRequest {
        partner,
        stored_heads: trees.heads(partner)?,
        secrets: &secrets,
        now: SystemClock.now(),
        cosignatures: Vec::new(),
    };
    let started = Instant::now();
    let summary = export_bundle(SqliteEventStore::scan(&app.data.ledger())?, request, &bundle, &|_| {})?;
    let export_s = started.elapsed().as_secs_f64();
    let bundle_bytes: u64 = std::fs::read_dir(&bundle)?.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum();

    let (mut verify_rates, mut batch_rates) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(1) {
        batch_rates.push(ed25519_batch_rate(200_000));
        let report = verify_bundle(&bundle, &[], &|_| {});
        anyhow::ensure!(report.ok, "the bench bundle does not verify: {report}");
        verify_rates.push(report.events_per_s);
    }
    let verify_median = percentile(&mut verify_rates, 0.5);
    let batch_median = percentile(&mut batch_rates, 0.5);
    let report = serde_json::json!({
        "partner_envelopes": summary.envelopes,
        "merkle_catch_up_leaves": after - before,
        "merkle_catch_up_leaves_per_s": if catch_up_s > 0.0 { (after - before) as f64 / catch_up_s } else { 0.0 },
        "inclusion_ms_p50": percentile(&mut inclusion, 0.5), "inclusion_ms_p99": percentile(&mut inclusion, 0.99),
        "consistency_ms_p50": percentile(&mut consistency, 0.5), "consistency_ms_p99": percentile(&mut consistency, 0.99),
        "export_events_per_s": summary.envelopes as f64 / export_s,
        "bundle_bytes": bundle_bytes,
        "verify_runs": runs.max(1),
        "audit_verify_events_per_s_median": verify_median,
        "raw_batch_verify_per_s_median": batch_median,
        "verify_to_batch_ratio": verify_median / batch_median,
        "note": "proof times: generated from audit.sqlite and verified (consistency includes the first root); verify: every core",
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if let Ok(app) = Arc::try_unwrap(app) {
        app.close().await;
    }
    Ok(ExitCode::SUCCESS)
}
