//! `laras serve`.

use crate::app::{App, SystemClock};
use crate::server;
use crate::settings::Settings;
use std::process::ExitCode;
use std::sync::Arc;

pub async fn run(settings: Settings, demo: bool) -> anyhow::Result<ExitCode> {
    let app = App::from_settings(&settings, Arc::new(SystemClock)).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await?;
    if demo {
        let seeded = crate::demo::seed(&app).await?;
        let addr = listener.local_addr()?;
        println!(
            "{}",
            serde_json::json!({
                "demo_partner_id": seeded.partner.to_string(),
                "owner_key": seeded.owner_key.expose(),
                "console": format!("http://{addr}/"),
                "graphiql": format!("http://{addr}/graphql"),
                "seeded_now": seeded.seeded,
            })
        );
        eprintln!(
            "laras: demo ready. Open the console at http://{addr}/ and sign in with the owner key {}\n\
             (GraphiQL, for developers: http://{addr}/graphql with the header \
             {{\"Authorization\": \"Bearer <owner_key>\"}})",
            seeded.owner_key.expose()
        );
    }
    let app = Arc::new(app);
    server::run(listener, app.clone(), &settings, server::shutdown_signal()).await?;
    match Arc::try_unwrap(app) {
        Ok(app) => app.close().await,
        Err(app) => app.store.close().await,
    }
    tracing::info!("stopped; the log is flushed");
    Ok(ExitCode::SUCCESS)
}
