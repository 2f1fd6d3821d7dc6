//! `laras export` writes one Partner's audit bundle; `laras audit verify` checks a
//! bundle offline (no data dir, no server), as an auditor would.

use crate::app::SystemClock;
use crate::cli::verify::progress_bar;
use crate::settings::Settings;
use anyhow::Context;
use laras_adapters::audit_bundle::format::{self, Manifest};
use laras_adapters::audit_bundle::{
    export_bundle, read_known_heads, verify_bundle_witnessed, ExportRequest, Witnesses,
};
use laras_commands::cosignatures::NamedCosignature;
use laras_commands::runtime::Fence;
use laras_domain::cosignature::parse_key_hex;
use laras_domain::ids::PartnerId;
use laras_domain::signing::parse_public_hex;
use laras_domain::time::Clock;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub fn export(settings: &Settings, partner: PartnerId, out: &Path) -> anyhow::Result<ExitCode> {
    let data = settings.log.existing_data_dir(&settings.data_dir, settings.signing_key_dir.as_deref())?;
    let total = settings.log.count(&data)?;
    let trees = settings.log.trees(&data)?;
    let secrets = data.signing_keys()?;
    let cosignatures: Vec<NamedCosignature> = trees.cosignatures(partner)?;
    let request = ExportRequest {
        partner,
        stored_heads: trees.heads(partner)?,
        secrets: &secrets,
        now: SystemClock.now(),
        cosignatures,
    };
    let bar = progress_bar(total, false);
    bar.set_message("exporting");
    let summary = export_bundle(settings.log.scan(&data)?, request, out, &|n| bar.set_position(n))?;
    bar.finish_and_clear();
    if summary.envelopes == 0 {
        std::fs::remove_dir_all(out).ok();
        anyhow::bail!("Partner {partner} has no events in this ledger");
    }
    // The export's head is kept like any other, so later heads can be proven consistent with it.
    trees.store_head(&summary.head, Fence::UNLEASED).context("storing the export's tree head")?;
    println!(
        "exported {} envelopes of Partner {partner} to {}: {} key events, {} tree heads (latest: size {}, root {}), {} erased contacts, {} cosignatures",
        summary.envelopes,
        out.display(),
        summary.signing_key_events,
        summary.tree_heads,
        summary.head.tree_size,
        hex::encode(summary.head.root_hash),
        summary.erased_contacts,
        summary.cosignatures,
    );
    Ok(ExitCode::SUCCESS)
}

pub fn verify(
    dir: &Path,
    trust_keys: &[String],
    known_heads: &[PathBuf],
    witness_keys: &[String],
    min_witnesses: u64,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let trust = trust_keys
        .iter()
        .map(|hex| {
            parse_public_hex(hex)
                .with_context(|| format!("--trust-key {hex} is not a 32-byte Ed25519 public key in hex"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let keys = witness_keys
        .iter()
        .map(|hex| {
            parse_key_hex(hex).with_context(|| {
                format!("--witness-key {hex} is not a 32-byte Ed25519 public key in lowercase hex (strict encoding)")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if min_witnesses > keys.len() as u64 {
        anyhow::bail!("--min-witnesses {min_witnesses} needs at least that many --witness-key");
    }
    let witnesses = Witnesses { keys, min: min_witnesses };
    let mut known = Vec::new();
    for path in known_heads {
        known.extend(read_known_heads(path).with_context(|| format!("--known-head {}", path.display()))?);
    }
    // The manifest's count sizes the progress bar; a missing one is reported by the check.
    let declared = format::read_json::<Manifest>(dir, format::MANIFEST).map_or(0, |m| m.envelopes);
    let bar = progress_bar(declared, json);
    let report = verify_bundle_witnessed(dir, &trust, &known, &witnesses, &|n| bar.set_position(n));
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
