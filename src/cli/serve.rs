//! `laras serve`.

use crate::app::{App, SystemClock};
use crate::server;
use crate::settings::Settings;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(settings: Settings) -> anyhow::Result<ExitCode> {
    let app = App::open(&settings.data_dir, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    let app = Arc::new(app);
    server::run(listener, app.clone(), &settings, server::shutdown_signal()).await?;
    match Arc::try_unwrap(app) {
        Ok(app) => app.close().await,
        Err(app) => app.store.close().await,
    }
    tracing::info!("stopped; the log is flushed");
    Ok(ExitCode::SUCCESS)
}
