//! Load generator for `/webhooks/meta`, run as its own process:
//!
//! ```sh
//! cargo run --release --example webhook_load -- URL APP_SECRET PHONE_NUMBER_ID REQUESTS CONCURRENCY
//! ```
//!
//! Sends REQUESTS signed WhatsApp text deliveries, each with a unique wamid, from
//! CONCURRENCY connections; prints acknowledged (200) webhooks/s and the p50/p99
//! acknowledgement latency as JSON.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn body(phone_number_id: &str, run: &str, i: usize) -> String {
    let customer = 6_281_200_000_000u64 + (i % 5_000) as u64;
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
            "contacts": [{"profile": {"name": "Pelanggan"}, "wa_id": customer.to_string()}],
            "messages": [{"from": customer.to_string(), "id": format!("wamid.load.{run}.{i}"), "timestamp": "1767225600",
                          "type": "text", "text": {"body": format!("Halo, apakah produk {i} masih ada?")}}]
        }}]}]
    })
    .to_string()
}

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: webhook_load URL APP_SECRET PHONE_NUMBER_ID REQUESTS CONCURRENCY");
        std::process::exit(2);
    }
    let (url, secret, phone) = (args[1].clone(), args[2].clone(), args[3].clone());
    let requests: usize = args[4].parse().expect("REQUESTS is a number");
    let concurrency: usize = args[5].parse().expect("CONCURRENCY is a number");
    let run = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
    );
    let bodies: Arc<Vec<(String, String)>> = Arc::new(
        (0..requests)
            .map(|i| {
                let b = body(&phone, &run, i);
                let s = signature(&secret, b.as_bytes());
                (b, s)
            })
            .collect(),
    );
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, bodies, next) = (client.clone(), url.clone(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0usize;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((body, sig)) = bodies.get(i) else { break };
                    let t = Instant::now();
                    let resp = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-hub-signature-256", sig)
                        .body(body.clone())
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status().is_success() => latencies.push(t.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0;
    for w in workers {
        let (l, f) = w.await.expect("worker");
        latencies.extend(l);
        failures += f;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort();
    let report = serde_json::json!({
        "requests": requests,
        "acknowledged": latencies.len(),
        "failed": failures,
        "concurrency": concurrency,
        "seconds": seconds,
        "acked_per_s": latencies.len() as f64 / seconds,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
    });
    println!("{report}");
}
