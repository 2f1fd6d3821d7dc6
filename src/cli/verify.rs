//! `laras verify`: walks the whole log and checks every hash, chain link and signature.

use crate::settings::Settings;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use laras_adapters::log_verify::{verify_log, VerifyReport};
use std::io::IsTerminal;
use std::process::ExitCode;

pub fn run(settings: &Settings, json: bool) -> anyhow::Result<ExitCode> {
    let data = settings.log.existing_data_dir(&settings.data_dir, settings.signing_key_dir.as_deref())?;
    // The keys in the data dir are the trust anchors: the log's first key must be one of them.
    let anchors: Vec<_> = data.signing_keys()?.iter().map(|k| k.public()).collect();
    let total = settings.log.count(&data)?;
    let bar = progress_bar(total, json);
    let report = verify_log(settings.log.scan(&data)?, &anchors, &|done| bar.set_position(done));
    bar.finish_and_clear();
    print_report(&report, json)?;
    Ok(if report.ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

pub fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} events, {per_sec}, eta {eta}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message("verifying");
    bar
}

fn print_report(report: &VerifyReport, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}
