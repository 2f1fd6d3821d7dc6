//! `laras projections rebuild`: empties every read model and projects the whole log
//! again (takes the writer lock, so run it while the server is stopped).

use crate::app::{App, SystemClock};
use crate::cli::verify::progress_bar;
use crate::settings::Settings;
use laras_projections::{ProjectionRunner, ReadModels};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

pub async fn rebuild(settings: &Settings) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(settings, Arc::new(SystemClock)).await?;
    let runner = ProjectionRunner {
        store: app.ledger.store.clone(),
        keys: app.ledger.keys.clone(),
        models: ReadModels::open(app.data.root())?,
        clock: app.ledger.clock.clone(),
    };
    let total = *app.ledger.store.head().borrow();
    let bar = progress_bar(total, false);
    let started = Instant::now();
    let position = runner
        .rebuild(|done, _| {
            bar.set_position(done);
        })
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
