//! `laras projections rebuild`: projects the whole log into fresh read models beside the
//! current ones and swaps them in at the end (takes the writer lock, so run it while the
//! server is stopped). On a terminal it shows progress and the rate. An event the read
//! models cannot take is recorded as skipped, as the server's runner does, and passed over.

use crate::app::{App, SystemClock};
use crate::cli::verify::progress_bar;
use crate::processes::READ_MODELS;
use crate::settings::Settings;
use laras_commands::runtime::Skips;
use laras_projections::ProjectionRunner;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

pub async fn rebuild(settings: &Settings) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let total = *app.ledger.store.head().borrow();
    let bar = progress_bar(total, false);
    bar.set_message("rebuilding");
    let started = Instant::now();
    let position = ProjectionRunner::rebuild_fresh(
        app.ledger.store.clone(),
        app.ledger.keys.clone(),
        app.ledger.clock.clone(),
        Some(Skips::new(app.ledger.clone(), READ_MODELS)),
        app.data.root(),
        |done, _| bar.set_position(done),
    )
    .await?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "rebuilt_to_position": position,
            "events": total,
            "seconds": (seconds * 1000.0).round() / 1000.0,
            "events_per_second": (total as f64 / seconds.max(1e-9)).round(),
        })
    );
    app.close().await;
    Ok(ExitCode::SUCCESS)
}
