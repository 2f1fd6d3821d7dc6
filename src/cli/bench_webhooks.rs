//! `laras bench webhooks`: signed WhatsApp texts over loopback HTTP against an in-process
//! `laras serve`, beside `/healthz` driven the same way in the same run.
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

/// Drives `url` from `connections` clients for `seconds`; `webhook` posts deliveries,
/// otherwise GETs.
async fn drive(url: String, connections: usize, customers: usize, seconds: f64, webhook: bool) -> Driven {
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
                        let body = delivery((n as usize * 7919) % customers.max(1), n);
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

pub async fn webhooks(
    settings: &Settings,
    seconds: f64,
    connections: usize,
    customers: usize,
) -> anyhow::Result<ExitCode> {
    let scratch = tempfile::tempdir()?;
    let mut settings = settings.clone();
    settings.data_dir = scratch.path().to_path_buf();
    settings.log = LogLocation::Embedded;
    settings.master_key_file = None;
    settings.meta_app_secret = Some(SECRET.into());
    settings.meta_verify_token = Some("bench".into());
    // The load comes from one address: the per-IP budgets would measure the limiter.
    settings.limits.connections.new_per_ip_per_second = 0;
    settings.limits.connections.max_connections = settings.limits.connections.max_connections.max(4 * connections);
    let app = Arc::new(App::open_at(scratch.path(), &LogLocation::Embedded, Arc::new(SystemClock)).await?);
    bench_partner(&app).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let (app, settings) = (app.clone(), settings.clone());
        tokio::spawn(async move {
            crate::server::run(listener, app, &settings, async move {
                let _ = stopped.await;
            })
            .await
        })
    };
    let commits_before = app.store.commits();
    // The load runs on a runtime of its own, so it never borrows the server's threads.
    let load = std::thread::Builder::new().name("bench-load".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
        runtime.block_on(async {
            let hook = format!("http://{addr}/webhooks/meta");
            let health = format!("http://{addr}/healthz");
            drive(hook.clone(), connections, customers, 1.0, true).await; // warm-up
            let webhooks = drive(hook, connections, customers, seconds, true).await;
            let rss = peak_rss_mib();
            let healthz = drive(health, connections, customers, seconds, false).await;
            anyhow::Ok((webhooks, healthz, rss))
        })
    })?;
    let (webhooks, healthz, rss) =
        tokio::task::spawn_blocking(move || load.join()).await?.map_err(|_| anyhow::anyhow!("the load panicked"))??;
    let commits = app.store.commits() - commits_before;
    let _ = stop.send(());
    server.await??;
    match Arc::try_unwrap(app) {
        Ok(app) => app.close().await,
        Err(app) => app.store.close().await,
    }
    let ratio = webhooks.requests_per_s / healthz.requests_per_s;
    let report = serde_json::json!({
        "connections": connections,
        "customers": customers,
        "seconds_each": seconds,
        "webhooks": webhooks,
        "healthz": healthz,
        "acknowledged_over_healthz": ratio,
        "targets": { "acknowledged_over_healthz": ">= 0.15", "webhook_p99_ms": "< 50", "rss_mib": "< 512" },
        "peak_rss_mib_server_and_load": rss,
        "log_commits": commits,
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(ExitCode::SUCCESS)
}
