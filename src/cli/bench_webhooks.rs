//! `laras bench webhooks`: signed WhatsApp texts over loopback HTTP against an in-process
//! `laras serve`, beside `/healthz` driven the same way in the same run; with
//! `--store postgres://…`, one node beside two nodes on that database, in the same run.
//!
//! The server runs as `laras serve` does (AI worker, outbox, Merkle log and read models
//! on) in a fresh temporary data dir, with the bench Partner on WhatsApp. The load comes
//! from a runtime of its own on its own thread: CONNECTIONS keep-alive clients, each
//! posting one delivery at a time from CUSTOMERS customers who write many times, each
//! with a valid `X-Hub-Signature-256`. Latency is from send to the last byte of the answer,
//! in an HDR histogram; only 200s count as acknowledged.

use super::bench::bench_partner;
use crate::app::{App, SystemClock};
use crate::log_store::LogLocation;
use crate::settings::Settings;
use hdrhistogram::Histogram;
use hmac::{Hmac, Mac};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNT: &str = "100200300";
const SECRET: &str = "bench-app-secret";

/// What one driven endpoint did.
#[derive(serde::Serialize)]
struct Driven {
    requests_per_s: f64,
    ok: u64,
    failed: u64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn delivery(customer: usize, n: u64) -> String {
    let from = format!("62815{customer:07}");
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "628100", "phone_number_id": ACCOUNT},
        "contacts": [{"wa_id": from, "profile": {"name": "Pelanggan"}}],
        "messages": [{"from": from, "id": format!("wamid.bench.{customer}.{n}"), "timestamp": "1767225600",
                      "type": "text", "text": {"body": format!("halo, berapa harga batik? ({n})")}}]}}]}]})
    .to_string()
}

fn signature(body: &str) -> String {
    let mut mac = match <Hmac<sha2::Sha256> as Mac>::new_from_slice(SECRET.as_bytes()) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Drives `url` from `connections` clients for `seconds`; `webhook` posts deliveries
/// (from customers numbered from `first`), otherwise GETs.
async fn drive(url: String, connections: usize, customers: usize, seconds: f64, webhook: bool, first: usize) -> Driven {
    let client = match reqwest::Client::builder().pool_max_idle_per_host(connections).build() {
        Ok(c) => c,
        Err(_) => reqwest::Client::new(),
    };
    let counter = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url, counter) = (client.clone(), url.clone(), counter.clone());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
                let (mut ok, mut failed) = (0u64, 0u64);
                while Instant::now() < until {
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    let t = Instant::now();
                    let sent = if webhook {
                        let body = delivery(first + (n as usize * 7919) % customers.max(1), n);
                        let sig = signature(&body);
                        client
                            .post(&url)
                            .header("content-type", "application/json")
                            .header("x-hub-signature-256", sig)
                            .body(body)
                            .send()
                            .await
                    } else {
                        client.get(&url).send().await
                    };
                    let good = match sent {
                        Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                        Err(_) => false,
                    };
                    if good {
                        ok += 1;
                        if let Some(h) = hist.as_mut() {
                            let _ = h.record(t.elapsed().as_micros() as u64);
                        }
                    } else {
                        failed += 1;
                    }
                }
                (ok, failed, hist)
            })
        })
        .collect();
    let mut total = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).ok();
    let (mut ok, mut failed) = (0, 0);
    for t in tasks {
        if let Ok((o, f, h)) = t.await {
            ok += o;
            failed += f;
            if let (Some(total), Some(h)) = (total.as_mut(), h) {
                let _ = total.add(&h);
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ms = |q: f64| total.as_ref().map_or(f64::NAN, |h| h.value_at_quantile(q) as f64 / 1000.0);
    Driven {
        requests_per_s: ok as f64 / elapsed,
        ok,
        failed,
        p50_ms: ms(0.5),
        p99_ms: ms(0.99),
        max_ms: total.as_ref().map_or(f64::NAN, |h| h.max() as f64 / 1000.0),
    }
}

/// Peak resident memory of this process (server and load together), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// How far the log's followers were behind when the webhooks stopped, and how long they
/// then took to catch up (from `/readyz`). The `/healthz` reference runs only after that:
/// a backlog still draining would take its CPU and flatter the ratio.
#[derive(serde::Serialize)]
struct Drain {
    /// Filled in by the caller: how long the load ran.
    load_seconds: f64,
    max_lag_when_load_stopped: u64,
    lag_by_process_when_load_stopped: serde_json::Map<String, serde_json::Value>,
    seconds_to_catch_up: f64,
    caught_up: bool,
}

async fn drain(addr: std::net::SocketAddr) -> Drain {
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/readyz");
    let lags = || async {
        let report: serde_json::Value = client.get(&url).send().await.ok()?.json().await.ok()?;
        let by_process: serde_json::Map<String, serde_json::Value> = report["processes"]
            .as_array()?
            .iter()
            .filter_map(|p| Some((p["name"].as_str()?.to_owned(), p["lag"].clone())))
            .collect();
        Some(by_process)
    };
    let max_lag = || async {
        lags().await.map(|by_process| by_process.values().filter_map(serde_json::Value::as_u64).max().unwrap_or(0))
    };
    let started = Instant::now();
    let by_process = lags().await.unwrap_or_default();
    let first = by_process.values().filter_map(serde_json::Value::as_u64).max().unwrap_or(0);
    let mut lag = first;
    while lag > 0 && started.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        lag = max_lag().await.unwrap_or(u64::MAX);
    }
    Drain {
        load_seconds: 0.0,
        max_lag_when_load_stopped: first,
        lag_by_process_when_load_stopped: by_process,
        seconds_to_catch_up: started.elapsed().as_secs_f64(),
        caught_up: lag == 0,
    }
}

impl Drain {
    /// Acknowledged deliveries over the time until every follower had handled them: the
    /// rate the server could keep up, rather than one that grows a backlog.
    fn sustained_per_s(&self, acknowledged: u64) -> f64 {
        acknowledged as f64 / (self.load_seconds + self.seconds_to_catch_up)
    }
}

/// CPU seconds this process has used (all threads, user and system), from
/// `/proc/self/stat`, whose times are in USER_HZ ticks (100 a second on Linux).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name may hold spaces; the fields after its closing parenthesis do not.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// A `laras serve` in this process, on a fresh data dir, with the log at `log`.
struct Node {
    app: Arc<App>,
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    _scratch: tempfile::TempDir,
}

impl Node {
    /// `seed`: records the bench Partner and its account (the first node on a log does).
    async fn start(settings: &Settings, log: &LogLocation, node_id: &str, seed: bool) -> anyhow::Result<Node> {
        let scratch = tempfile::tempdir()?;
        let mut settings = settings.clone();
        settings.data_dir = scratch.path().to_path_buf();
        settings.log = log.clone();
        settings.node_id = node_id.to_owned();
        let secrets = crate::app::Secrets {
            master_key_file: settings.master_key_file.as_deref(),
            signing_key_dir: settings.signing_key_dir.as_deref(),
        };
        let app = Arc::new(App::open_with(scratch.path(), log, secrets, Arc::new(SystemClock)).await?);
        if seed {
            bench_partner(&app).await?;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = {
            let app = app.clone();
            tokio::spawn(async move {
                crate::server::run(listener, app, &settings, async move {
                    let _ = stopped.await;
                })
                .await
            })
        };
        Ok(Node { app, addr, stop, server, _scratch: scratch })
    }

    async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        match Arc::try_unwrap(self.app) {
            Ok(app) => app.close().await,
            Err(app) => app.store.close().await,
        }
        Ok(())
    }
}

/// Runs `load` on a runtime of its own on its own thread, so it never borrows the
/// server's threads.
async fn on_load_thread<T: Send + 'static>(
    load: impl std::future::Future<Output = T> + Send + 'static,
) -> anyhow::Result<T> {
    let thread = std::thread::Builder::new().name("bench-load".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        anyhow::Ok(runtime.block_on(load))
    })?;
    tokio::task::spawn_blocking(move || thread.join()).await?.map_err(|_| anyhow::anyhow!("the load panicked"))?
}

/// Drives every node's webhook route at once, `connections` clients split among them, from
/// customers numbered from `first` (each phase its own, so none finds the contacts and
/// conversations an earlier phase made); one result over all: rates summed, the slowest
/// node's latencies.
async fn drive_nodes(hooks: Vec<String>, connections: usize, customers: usize, seconds: f64, first: usize) -> Driven {
    let per_node = (connections / hooks.len().max(1)).max(1);
    let runs: Vec<_> =
        hooks.into_iter().map(|hook| tokio::spawn(drive(hook, per_node, customers, seconds, true, first))).collect();
    let mut all = Vec::new();
    for run in runs {
        if let Ok(driven) = run.await {
            all.push(driven);
        }
    }
    let ok: u64 = all.iter().map(|d| d.ok).sum();
    // The slowest node's tail bounds the cluster's.
    let worst = |f: fn(&Driven) -> f64| all.iter().map(f).fold(f64::NAN, f64::max);
    Driven {
        requests_per_s: all.iter().map(|d| d.requests_per_s).sum(),
        ok,
        failed: all.iter().map(|d| d.failed).sum(),
        p50_ms: worst(|d| d.p50_ms),
        p99_ms: worst(|d| d.p99_ms),
        max_ms: worst(|d| d.max_ms),
    }
}

pub async fn webhooks(
    settings: &Settings,
    seconds: f64,
    connections: usize,
    customers: usize,
    wrk: bool,
) -> anyhow::Result<ExitCode> {
    let mut settings = settings.clone();
    settings.meta_app_secret = Some(SECRET.into());
    settings.meta_verify_token = Some("bench".into());
    // The load comes from one address: the per-IP budgets would measure the limiter.
    settings.limits.connections.new_per_ip_per_second = 0;
    settings.limits.connections.max_connections = settings.limits.connections.max_connections.max(4 * connections);
    if let LogLocation::Postgres(_) = &settings.log {
        return nodes_on_postgres(&settings, seconds, connections, customers).await;
    }
    (settings.master_key_file, settings.signing_key_dir) = (None, None);
    let node = Node::start(&settings, &LogLocation::Embedded, &settings.node_id.clone(), true).await?;
    if wrk {
        return driven_by_wrk(node, seconds, connections, customers).await;
    }
    let commits_before = node.app.store.commits();
    let addr = node.addr;
    let (webhooks, healthz, rss, drained) = on_load_thread(async move {
        let hook = format!("http://{addr}/webhooks/meta");
        let health = format!("http://{addr}/healthz");
        drive(hook.clone(), connections, customers, 1.0, true, 0).await; // warm-up
        let webhooks = drive(hook, connections, customers, seconds, true, 0).await;
        let drained = drain(addr).await;
        let rss = peak_rss_mib();
        let healthz = drive(health, connections, customers, seconds, false, 0).await;
        (webhooks, healthz, rss, drained)
    })
    .await?;
    let commits = node.app.store.commits() - commits_before;
    node.stop().await?;
    let mut drained = drained;
    drained.load_seconds = seconds;
    let sustained = drained.sustained_per_s(webhooks.ok);
    let ratio = webhooks.requests_per_s / healthz.requests_per_s;
    let report = serde_json::json!({
        "connections": connections,
        "customers": customers,
        "seconds_each": seconds,
        "webhooks": webhooks,
        "healthz": healthz,
        "acknowledged_over_healthz": ratio,
        "sustained_acknowledged_per_s": sustained,
        "sustained_over_healthz": sustained / healthz.requests_per_s,
        "targets": { "acknowledged_over_healthz": ">= 0.15", "webhook_p99_ms": "< 50", "rss_mib": "< 512" },
        "peak_rss_mib_server_and_load": rss,
        "after_the_webhooks": drained,
        "log_commits": commits,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `--wrk`: the same server and mix, the load from `wrk` (a separate process, two
/// threads) for the webhooks and then for `/healthz`.
async fn driven_by_wrk(node: Node, seconds: f64, connections: usize, customers: usize) -> anyhow::Result<ExitCode> {
    let addr = node.addr;
    let hook = format!("http://{addr}/webhooks/meta");
    let health = format!("http://{addr}/healthz");
    let warm = hook.clone();
    on_load_thread(async move { drive(warm, connections, customers, 1.0, true, 0).await }).await?;
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path().to_path_buf();
    // More than the server can take in the run, so no delivery repeats; numbered past the
    // warm-up's, from the same customers.
    let prepared = ((seconds.ceil() as usize + 1) * 12_000).min(400_000);
    let deliveries = tokio::task::spawn_blocking(move || {
        super::bench_wrk::prepare(
            &dir,
            (0..prepared).map(|i| {
                let body = delivery((i * 7919) % customers.max(1), 10_000_000 + i as u64);
                (signature(&body), body)
            }),
        )
    })
    .await??;
    let commits_before = node.app.store.commits();
    let dir = scratch.path().to_path_buf();
    let used = |a: Option<f64>, b: Option<f64>| Some(b? - a?);
    let started = process_cpu_seconds();
    let webhooks =
        tokio::task::spawn_blocking(move || super::bench_wrk::run(&hook, 2, connections, seconds, Some(&dir)))
            .await??;
    let after_load = process_cpu_seconds();
    let mut drained = drain(addr).await;
    drained.load_seconds = seconds.ceil();
    // The CPU of a webhook includes the followers' work it caused, done after the load.
    let webhooks_cpu = used(started, process_cpu_seconds());
    let before_healthz = process_cpu_seconds();
    let healthz =
        tokio::task::spawn_blocking(move || super::bench_wrk::run(&health, 2, connections, seconds, None)).await??;
    let healthz_cpu = used(before_healthz, process_cpu_seconds());
    let during_load_cpu = used(started, after_load);
    // The server's CPU per answer: less at the mercy of other work on the machine than a
    // rate is (the load runs in its own process, so none of it is counted here).
    let per_answer_ms =
        |cpu: Option<f64>, run: &super::bench_wrk::WrkRun| cpu.map(|c| 1000.0 * c / run.requests.max(1) as f64);
    let commits = node.app.store.commits() - commits_before;
    let rss = peak_rss_mib();
    node.stop().await?;
    let report = serde_json::json!({
        "load": "wrk -t2, a separate process",
        "connections": connections,
        "customers": customers,
        "seconds_each": seconds,
        "webhooks": webhooks,
        "healthz": healthz,
        "acknowledged_over_healthz": webhooks.requests_per_s / healthz.requests_per_s,
        "sustained_acknowledged_per_s": drained.sustained_per_s(webhooks.requests - webhooks.failed),
        "sustained_over_healthz": drained.sustained_per_s(webhooks.requests - webhooks.failed) / healthz.requests_per_s,
        "after_the_webhooks": drained,
        "server_cpu_ms_per_webhook": per_answer_ms(webhooks_cpu, &webhooks),
        "server_cpu_ms_per_webhook_during_the_load": per_answer_ms(during_load_cpu, &webhooks),
        "server_cpu_ms_per_healthz": per_answer_ms(healthz_cpu, &healthz),
        "deliveries_prepared": deliveries,
        "wrapped": webhooks.requests as usize > deliveries,
        "targets": { "acknowledged_over_healthz": ">= 0.15", "webhook_p99_ms": "< 50", "rss_mib": "< 512" },
        "peak_rss_mib_server": rss,
        "log_commits": commits,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// With `--store postgres://…`: one node alone, then two nodes on the same database with
/// the clients split between them, then the first node alone again, in the same run. Both nodes are in this process (and on
/// this machine's cores): the figure shows what a second node costs or gains on one
/// database, not two machines' worth of CPU. Use a fresh database: the deliveries' ids
/// repeat from run to run, and a repeat is answered as a duplicate.
async fn nodes_on_postgres(
    settings: &Settings,
    seconds: f64,
    connections: usize,
    customers: usize,
) -> anyhow::Result<ExitCode> {
    // The nodes share one master key and signing-key folder, as deployed nodes do.
    let secrets = tempfile::tempdir()?;
    let mut settings = settings.clone();
    settings.master_key_file =
        Some(settings.master_key_file.clone().unwrap_or_else(|| secrets.path().join("master.key")));
    settings.signing_key_dir = Some(settings.signing_key_dir.clone().unwrap_or_else(|| secrets.path().join("signing")));
    let log = settings.log.clone();
    let one = Node::start(&settings, &log, "bench-node-1", true).await?;
    let hook = |node: &Node| format!("http://{}/webhooks/meta", node.addr);
    let single = vec![hook(&one)];
    let alone = on_load_thread(async move {
        drive_nodes(single.clone(), connections, customers, 1.0, 0).await; // warm-up
        drive_nodes(single, connections, customers, seconds, 0).await
    })
    .await?;
    let two = Node::start(&settings, &log, "bench-node-2", false).await?;
    let both = vec![hook(&one), hook(&two)];
    let together = on_load_thread(async move {
        drive_nodes(both.clone(), connections, customers, 1.0, customers).await; // warm-up
        drive_nodes(both, connections, customers, seconds, customers).await
    })
    .await?;
    two.stop().await?;
    // One node again, so a trend over the run (a warming cache, a growing table) shows.
    let single = vec![hook(&one)];
    let again = on_load_thread(async move {
        drive_nodes(single.clone(), connections, customers, 1.0, 2 * customers).await; // warm-up
        drive_nodes(single, connections, customers, seconds, 2 * customers).await
    })
    .await?;
    one.stop().await?;
    let report = serde_json::json!({
        "store": "postgres",
        "connections": connections,
        "customers": customers,
        "seconds_each": seconds,
        "one_node": alone,
        "two_nodes": together,
        "one_node_again": again,
        "two_over_one_acknowledged_per_s": together.requests_per_s / alone.requests_per_s,
        "two_over_one_again_acknowledged_per_s": together.requests_per_s / again.requests_per_s,
        "note": "both nodes run in this process on this machine's cores; p99 of two nodes is the slower node's",
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
