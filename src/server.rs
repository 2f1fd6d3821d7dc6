//! The HTTP server: a library function that takes a listener and a shutdown signal,
//! so tests start it on port 0. Background work (the channel directory, the outbox,
//! the AI worker, the media fetcher, follow-ups, the Merkle log, the read models and the search index)
//! runs beside it under one supervisor (restarts with backoff, checkpoints, status in
//! `/readyz` and `/metrics`) and stops with it.

use crate::app::App;
use crate::health::{self, Health};
use crate::processes::{MerkleLogProcess, OutboxProcess, ReadModelsProcess, SearchIndexProcess, READ_MODELS};
use crate::settings::Settings;
use laras_adapters::ai::embedded::EmbeddedGenerator;
use laras_adapters::ai::knowledge::TantivyKnowledge;
use laras_adapters::ai::openai::{ChatCompletionsGenerator, ChatSettings};
use laras_adapters::ai::sentiment::LexiconSentiment;
use laras_adapters::graph_api::{GraphMediaSource, GraphProver, GraphSender, GraphSettings};
use laras_adapters::meta_webhook::{self, WebhookCounters, WebhookState};
use laras_commands::audit::{HeadPolicy, MerkleLog};
use laras_commands::directory::{ChannelDirectory, DirectoryProcess};
use laras_commands::media::{MediaFetchProcess, MediaFetcher};
use laras_commands::outbox::Outbox;
use laras_commands::runtime::{NodeId, PoisonPolicy, Skips, Supervisor, SupervisorSettings};
use laras_commands::worker::{AiWorker, DraftGenerator, FollowUpProcess, FollowUps, WorkerProcess, WorkerSettings};
use laras_domain::time::Span;
use laras_graphql::http::GraphqlState;
use laras_graphql::{build_schema, Api, MediaAccess};
use laras_projections::{ProjectionRunner, ReadModels};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serves until `shutdown` resolves, then lets in-flight requests finish and stops
/// the background processes.
pub async fn run(
    listener: TcpListener,
    app: Arc<App>,
    settings: &Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let supervision = SupervisorSettings { lease_ttl: settings.lease_ttl, ..SupervisorSettings::default() };
    let supervisor = Supervisor::new(app.leases.clone(), NodeId(settings.node_id.clone()), supervision);
    let directory = ChannelDirectory::new(app.ledger.store.clone());
    supervisor.spawn(Arc::new(DirectoryProcess {
        directory: directory.clone(),
        ledger: app.ledger.clone(),
        snapshots: app.local.clone(),
        save_every: Duration::from_secs(10),
    }));

    let graph = GraphSettings {
        base_url: settings.meta_graph_url.clone(),
        api_version: settings.meta_graph_version.clone(),
        threads_base_url: settings.threads_graph_url.clone(),
        ..GraphSettings::default()
    };
    // The outbox retries, per account and with its attempts recorded; the sender makes one call.
    let send_settings = GraphSettings { max_attempts: 1, ..graph.clone() };
    let sender = Arc::new(GraphSender::new(send_settings, app.credentials.clone())?);
    let media_source = Arc::new(GraphMediaSource::new(graph.clone(), app.credentials.clone())?);
    let prover = Arc::new(GraphProver::new(graph)?);
    let outbox = Outbox::with_files(app.ledger.clone(), sender, settings.outbox.clone(), app.media.clone());
    supervisor.spawn(Arc::new(OutboxProcess { outbox, checkpoints: app.checkpoints.clone() }));

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
        knowledge: Arc::new(TantivyKnowledge::open(&app.data.knowledge())?),
        generator,
        sentiment: Arc::new(LexiconSentiment),
        settings: WorkerSettings {
            confidence_threshold: settings.ai_confidence_threshold,
            concurrency: settings.ai_concurrency,
            ..WorkerSettings::default()
        },
    };
    supervisor.spawn(Arc::new(WorkerProcess {
        // The API's "ask Laras" shares the worker's knowledge index and generator.
        worker: worker.clone(),
        checkpoints: app.checkpoints.clone(),
        poison: PoisonPolicy::default(),
    }));
    let fetcher = MediaFetcher {
        ledger: app.ledger.clone(),
        vault: app.media.clone(),
        source: media_source,
        settings: settings.media.clone(),
    };
    supervisor.spawn(Arc::new(MediaFetchProcess {
        fetcher,
        checkpoints: app.checkpoints.clone(),
        poison: PoisonPolicy::default(),
    }));
    let follow_ups = FollowUps { ledger: app.ledger.clone(), every: Duration::from_secs(60) };
    supervisor.spawn(Arc::new(FollowUpProcess { follow_ups, snapshots: app.snapshots.clone() }));

    let read = ReadModels::open(app.data.root())?;
    let runner = ProjectionRunner {
        store: app.ledger.store.clone(),
        keys: app.ledger.keys.clone(),
        models: read.clone(),
        clock: app.ledger.clock.clone(),
        skips: Some(Skips::new(app.ledger.clone(), READ_MODELS)),
    };
    supervisor.spawn(Arc::new(ReadModelsProcess(runner)));
    supervisor.spawn(Arc::new(SearchIndexProcess(read.clone())));

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
    supervisor.spawn(Arc::new(MerkleLogProcess(audit.clone())));

    let api = Api {
        ledger: app.ledger.clone(),
        keys: app.api_keys.clone(),
        credentials: app.credentials.clone(),
        prover,
        directory: directory.clone(),
        read,
        audit,
        media: MediaAccess { vault: app.media.clone(), link_key: app.media_link_key.clone() },
        worker,
        limits: settings.limits.api,
    };
    let graphql = GraphqlState::new(build_schema(api.clone()), api, settings.admin_token.clone());
    let health = Health {
        registry: supervisor.registry().clone(),
        head: app.ledger.store.head(),
        runtime: app.checkpoints.clone(),
        max_lag: settings.ready_max_lag,
    };
    let mut router = health::routes(health)
        .merge(laras_graphql::media::routes(graphql.clone()))
        .merge(laras_graphql::http::routes(graphql))
        .merge(crate::console::routes());
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
                counters: WebhookCounters {
                    // A bad signature is a failed authentication: the same budget per address.
                    bad_senders: meta_webhook::BadSenders::new(settings.limits.api.failed_auth_per_ip_per_minute),
                    ..WebhookCounters::default()
                },
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
    // Every process saves its checkpoint on the way out, so the next start resumes there.
    supervisor.shutdown().await;
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
