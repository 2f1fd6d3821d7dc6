//! `/healthz` (the process is alive), `/readyz` (this node can do its work) and
//! `/metrics` (Prometheus text).
//!
//! Ready means: the log's writer is running, the runtime store takes a write, every
//! supervised process is running (or waiting for a lease another node holds), and none
//! is further behind the log's head than the `ready_max_lag` setting. Otherwise 503 with
//! the reasons as JSON, so an operator (or a load balancer's log) sees what is wrong.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use laras_commands::runtime::{Checkpoints, Fence, ProcessStatus, Registry};
use laras_commands::store::Position;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

/// What `/readyz` and `/metrics` read.
#[derive(Clone)]
pub struct Health {
    pub registry: Registry,
    pub head: watch::Receiver<Position>,
    pub runtime: Arc<dyn Checkpoints>,
    pub max_lag: u64,
}

/// The checkpoint written by every readiness check: a real write to the runtime store.
const PROBE: &str = "readyz-probe";

impl Health {
    fn head(&self) -> Position {
        *self.head.borrow()
    }

    /// Why this node is not ready; empty when it is.
    pub async fn reasons(&self) -> Vec<String> {
        let mut reasons = Vec::new();
        // The writer holds the head's sender: a closed channel means the log stopped.
        if self.head.has_changed().is_err() {
            reasons.push("the log's writer has stopped".to_owned());
        }
        let head = self.head();
        if let Err(e) = self.runtime.save(PROBE, head, Fence::UNLEASED).await {
            reasons.push(format!("the runtime store cannot be written: {e}"));
        }
        for p in self.registry.snapshot() {
            if !p.state.is_healthy() {
                reasons.push(format!("{} is {}", p.name, describe(&p)));
            }
            if let Some(lag) = p.lag(head).filter(|lag| *lag > self.max_lag) {
                reasons.push(format!("{} is {lag} events behind the log (at most {} allowed)", p.name, self.max_lag));
            }
        }
        reasons
    }
}

fn describe(p: &ProcessStatus) -> String {
    match &p.state {
        laras_commands::runtime::ProcessState::Restarting { last_error } => {
            format!("restarting after {} failures (last: {last_error})", p.failures)
        }
        other => other.name().replace('_', " "),
    }
}

fn process_json(p: &ProcessStatus, head: Position) -> serde_json::Value {
    serde_json::json!({
        "name": p.name,
        "state": p.state.name(),
        "started_from": p.started_from,
        "position": p.position,
        "lag": p.lag(head),
        "failures": p.failures,
        "restarts": p.restarts,
        "skipped": p.skipped,
    })
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(health): State<Health>) -> impl IntoResponse {
    let reasons = health.reasons().await;
    let head = health.head();
    let processes: Vec<_> = health.registry.snapshot().iter().map(|p| process_json(p, head)).collect();
    let status = if reasons.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let ready = reasons.is_empty();
    (status, Json(serde_json::json!({ "ready": ready, "head": head, "reasons": reasons, "processes": processes })))
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows only the processes");
        }
        handle
    })
}

/// Sets the processes' gauges from the registry, just before a scrape.
fn record_processes(health: &Health) {
    let head = health.head();
    metrics::gauge!("laras_log_head").set(head as f64);
    for p in health.registry.snapshot() {
        let name = p.name.clone();
        metrics::gauge!("laras_process_position", "process" => name.clone()).set(p.position as f64);
        if let Some(lag) = p.lag(head) {
            metrics::gauge!("laras_process_lag_events", "process" => name.clone()).set(lag as f64);
        }
        let up = if p.state.is_healthy() { 1.0 } else { 0.0 };
        metrics::gauge!("laras_process_up", "process" => name.clone()).set(up);
        metrics::counter!("laras_process_failures_total", "process" => name.clone()).absolute(p.failures);
        metrics::counter!("laras_process_restarts_total", "process" => name.clone()).absolute(p.restarts);
        metrics::counter!("laras_process_skipped_events_total", "process" => name).absolute(p.skipped);
    }
}

async fn metrics_text(State(health): State<Health>) -> impl IntoResponse {
    let handle = prometheus();
    record_processes(&health);
    // Without the exporter's own listener, upkeep (draining histograms) is ours: once a scrape.
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}

pub fn routes(health: Health) -> Router {
    prometheus();
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .with_state(health)
}

#[cfg(test)]
mod tests;
