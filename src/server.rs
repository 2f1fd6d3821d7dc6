//! The HTTP server: a library function that takes a listener and a shutdown signal,
//! so tests start it on port 0. Background work (the channel directory, the outbox,
//! the AI worker, the Merkle log and the read-model runner) runs beside it and stops
//! with it.

use crate::app::App;
use crate::settings::Settings;
use axum::routing::get;
use axum::Router;
use laras_adapters::ai::embedded::EmbeddedGenerator;
use laras_adapters::ai::knowledge::TantivyKnowledge;
use laras_adapters::ai::openai::{ChatCompletionsGenerator, ChatSettings};
use laras_adapters::ai::sentiment::LexiconSentiment;
use laras_adapters::graph_api::{GraphProver, GraphSender, GraphSettings};
use laras_adapters::meta_webhook::{self, WebhookCounters, WebhookState};
use laras_commands::audit::{HeadPolicy, MerkleLog};
use laras_commands::directory::ChannelDirectory;
use laras_commands::outbox::Outbox;
use laras_commands::worker::{AiWorker, DraftGenerator, FollowUps, WorkerSettings};
use laras_domain::time::Span;
use laras_graphql::http::GraphqlState;
use laras_graphql::{build_schema, Api};
use laras_projections::{ProjectionRunner, ReadModels};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

async fn healthz() -> &'static str {
    "ok"
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish and stops
/// the background tasks.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let directory = ChannelDirectory::new(app.ledger.store.clone());
    let follower = tokio::spawn(directory.clone().follow(stopped(stop_rx.clone())));

    let graph = GraphSettings {
        base_url: settings.meta_graph_url.clone(),
        api_version: settings.meta_graph_version.clone(),
        threads_base_url: settings.threads_graph_url.clone(),
        ..GraphSettings::default()
    };
    let sender = Arc::new(GraphSender::new(graph.clone(), app.credentials.clone())?);
    let prover = Arc::new(GraphProver::new(graph)?);
    let outbox = Outbox::new(app.ledger.clone(), sender);
    let outbox_stop = stopped(stop_rx.clone());
    let outbox_task = tokio::spawn(async move { outbox.run(outbox_stop).await });

    let generator: Arc<dyn DraftGenerator> = match &settings.ai_chat_url {
        Some(url) => {
            let chat = ChatSettings::new(url, &settings.ai_chat_model, settings.ai_chat_key.clone());
            Arc::new(ChatCompletionsGenerator::new(chat)?)
        }
        None => Arc::new(EmbeddedGenerator),
    };
    tracing::info!(generator = generator.name(), "AI worker");
    let worker = AiWorker {
        ledger: app.ledger.clone(),
        knowledge: Arc::new(TantivyKnowledge::in_memory()?),
        generator,
        sentiment: Arc::new(LexiconSentiment),
        settings: WorkerSettings {
            confidence_threshold: settings.ai_confidence_threshold,
            ..WorkerSettings::default()
        },
    };
    let worker_task = tokio::spawn(worker.run(stopped(stop_rx.clone())));
    let follow_ups = FollowUps { ledger: app.ledger.clone(), every: std::time::Duration::from_secs(60) };
    let follow_up_task = tokio::spawn(follow_ups.run(stopped(stop_rx.clone())));

    let read = ReadModels::open(app.data.root())?;
    let runner = ProjectionRunner {
        store: app.ledger.store.clone(),
        keys: app.ledger.keys.clone(),
        models: read.clone(),
        clock: app.ledger.clock.clone(),
    };
    let projections = runner.spawn_dedicated(stopped(stop_rx.clone()))?;

    let audit = MerkleLog {
        store: app.ledger.store.clone(),
        trees: app.trees.clone(),
        signer: app.ledger.signer.clone(),
        clock: app.ledger.clock.clone(),
        policy: HeadPolicy {
            every_events: settings.tree_head_every_events,
            every: Span(settings.tree_head_every_seconds.saturating_mul(1000) as i64),
        },
    };
    let merkle_task = tokio::spawn(audit.clone().run(stopped(stop_rx.clone())));

    let api = Api {
        ledger: app.ledger.clone(),
        keys: app.api_keys.clone(),
        credentials: app.credentials.clone(),
        prover,
        directory: directory.clone(),
        read,
        audit,
        limits: settings.limits.api,
    };
    let graphql = GraphqlState::new(build_schema(api.clone()), api, settings.admin_token.clone());
    let mut router = Router::new().route("/healthz", get(healthz)).merge(laras_graphql::http::routes(graphql));
    match &settings.meta_app_secret {
        Some(secret) => {
            if settings.meta_verify_token.is_none() {
                tracing::warn!("no LARAS_META_VERIFY_TOKEN: Meta's verification handshake will be refused");
            }
            let state = Arc::new(WebhookState {
                ledger: app.ledger.clone(),
                directory,
                app_secret: secret.clone(),
                verify_token: settings.meta_verify_token.clone(),
                counters: WebhookCounters::default(),
            });
            router = router.merge(meta_webhook::routes(state));
        }
        None => {
            tracing::warn!(
                "webhook routes NOT started: no Meta app secret. Set LARAS_META_APP_SECRET (or --meta-app-secret, \
                 or [meta] app_secret in laras.toml) to receive WhatsApp, Instagram, Messenger and Threads webhooks"
            );
            eprintln!("laras: webhook routes not started: set LARAS_META_APP_SECRET to receive Meta webhooks");
        }
    }
    tracing::info!(addr = %listener.local_addr()?, "listening");
    crate::connections::serve(listener, router, settings.limits.connections, shutdown).await?;
    let _ = stop_tx.send(true);
    if let Ok(Err(e)) = follower.await {
        tracing::warn!(error = %e, "channel directory stopped with an error");
    }
    if let Ok(Err(e)) = outbox_task.await {
        tracing::warn!(error = %e, "outbox stopped with an error");
    }
    if let Ok(Err(e)) = worker_task.await {
        tracing::warn!(error = %e, "the AI worker stopped with an error");
    }
    if let Ok(Err(e)) = follow_up_task.await {
        tracing::warn!(error = %e, "follow-ups stopped with an error");
    }
    if let Ok(Err(e)) = merkle_task.await {
        tracing::warn!(error = %e, "the Merkle log stopped with an error");
    }
    if let Ok(Ok(Err(e))) = tokio::task::spawn_blocking(move || projections.join()).await {
        tracing::warn!(error = %e, "read models stopped with an error");
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests and flushing the log");
}
