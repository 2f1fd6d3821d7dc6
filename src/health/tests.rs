use super::*;
use laras_commands::runtime::memory::MemoryRuntime;
use laras_commands::runtime::{NodeId, Process, ProcessContext, ProcessError, Supervisor, SupervisorSettings};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Fails at once while `broken`, else reports `position` and works until cancelled.
struct Switchable {
    broken: Arc<AtomicBool>,
    position: Position,
}

#[derive(Debug, thiserror::Error)]
#[error("injected failure")]
struct Injected;

#[async_trait::async_trait]
impl Process for Switchable {
    fn name(&self) -> &str {
        "switchable"
    }
    async fn run(&self, ctx: ProcessContext) -> Result<(), ProcessError> {
        if self.broken.load(Ordering::SeqCst) {
            return Err(Injected.into());
        }
        ctx.status.started_from(self.position);
        ctx.cancel.cancelled().await;
        Ok(())
    }
}

struct Node {
    base: String,
    supervisor: Supervisor,
    head: watch::Sender<Position>,
    stop: tokio_util::sync::CancellationToken,
}

async fn node(broken: bool, position: Position, head: Position, max_lag: u64) -> (Node, Arc<AtomicBool>) {
    let runtime = MemoryRuntime::default();
    let settings = SupervisorSettings {
        min_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(200),
        ..SupervisorSettings::default()
    };
    let supervisor = Supervisor::new(Arc::new(runtime.clone()), NodeId("n".into()), settings);
    let switch = Arc::new(AtomicBool::new(broken));
    supervisor.spawn(Arc::new(Switchable { broken: switch.clone(), position }));
    let (tx, rx) = watch::channel(head);
    let health = Health { registry: supervisor.registry().clone(), head: rx, runtime: Arc::new(runtime), max_lag };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let until = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, routes(health)).with_graceful_shutdown(until.cancelled_owned()).await.unwrap();
    });
    (Node { base, supervisor, head: tx, stop }, switch)
}

impl Node {
    async fn get(&self, path: &str) -> (u16, String) {
        let resp = reqwest::get(format!("{}{path}", self.base)).await.unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// `/readyz` once its status is `want` (or fails after 10 s).
    async fn readyz_until(&self, want: u16) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, body) = self.get("/readyz").await;
            if status == want {
                return serde_json::from_str(&body).unwrap();
            }
            assert!(Instant::now() < deadline, "/readyz stayed {status}: {body}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(self) {
        self.supervisor.shutdown().await;
        self.stop.cancel();
    }
}

#[tokio::test]
async fn readyz_is_503_while_a_process_is_restarting_and_200_once_it_recovers() {
    let (node, switch) = node(true, 5, 5, 100).await;
    let body = node.readyz_until(503).await;
    let reasons = body["reasons"].to_string();
    assert!(reasons.contains("switchable is restarting") && reasons.contains("injected failure"), "{body}");
    assert_eq!(body["processes"][0]["state"], "restarting");
    assert!(body["processes"][0]["failures"].as_u64().unwrap() >= 1);

    switch.store(false, Ordering::SeqCst);
    let body = node.readyz_until(200).await;
    assert_eq!(body["ready"], true);
    assert_eq!(body["processes"][0]["state"], "running");
    assert_eq!(body["processes"][0]["started_from"], 5);
    assert_eq!(node.get("/healthz").await, (200, "ok".to_owned()));
    node.stop().await;
}

#[tokio::test]
async fn readyz_is_503_when_a_process_lags_too_far_or_the_log_writer_stopped() {
    let (node, _) = node(false, 10, 10, 100).await;
    node.readyz_until(200).await;
    node.head.send_replace(500);
    let body = node.readyz_until(503).await;
    assert!(body["reasons"].to_string().contains("switchable is 490 events behind the log"), "{body}");
    assert_eq!(body["processes"][0]["lag"], 490);
    let Node { base, supervisor, head, stop } = node;
    drop(head);
    let node = Node { base, supervisor, head: watch::channel(0).0, stop };
    let body = node.readyz_until(503).await;
    assert!(body["reasons"].to_string().contains("the log's writer has stopped"), "{body}");
    node.stop().await;
}

#[tokio::test]
async fn metrics_show_each_process_position_lag_and_failures() {
    let (node, switch) = node(true, 3, 7, 100).await;
    node.readyz_until(503).await;
    switch.store(false, Ordering::SeqCst);
    node.readyz_until(200).await;
    let (status, text) = node.get("/metrics").await;
    assert_eq!(status, 200);
    for series in [
        "laras_process_position{process=\"switchable\"} 3",
        "laras_process_lag_events{process=\"switchable\"} 4",
        "laras_process_up{process=\"switchable\"} 1",
        "laras_log_head 7",
    ] {
        assert!(text.lines().any(|l| l == series), "no `{series}` in:\n{text}");
    }
    let failures = text.lines().find(|l| l.starts_with("laras_process_failures_total{process=\"switchable\"}"));
    let failures: f64 = failures.and_then(|l| l.rsplit_once(' ')).and_then(|(_, v)| v.parse().ok()).unwrap();
    assert!(failures >= 1.0, "{text}");
    node.stop().await;
}
