//! The server under abuse from one address, on the real binary: per-IP limits before
//! authentication, failed authentications, half-open connections, and `/healthz`
//! latency while 1,100 half-open connections and 200 hostile requests a second arrive.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn post(base: &str, key: Option<&str>, query: &str) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.post(format!("{base}/graphql")).json(&json!({ "query": query }));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().expect("post /graphql");
    (resp.status().as_u16(), resp.json().unwrap_or(Value::Null))
}

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// A connection that sends half a request head and then nothing.
fn half_open(base: &str) -> Option<TcpStream> {
    let mut s = TcpStream::connect(addr(base)).ok()?;
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").ok()?;
    Some(s)
}

#[test]
fn requests_without_a_key_are_rate_limited_per_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[("LARAS_REQUESTS_PER_IP_PER_SECOND", "20")]);
    let answers: Vec<(u16, Value)> = (0..200).map(|_| post(&server.base, None, "{ __typename }")).collect();
    let limited = answers.iter().filter(|(s, _)| *s == 429).count();
    assert!(limited > 100, "{limited} of 200 refused");
    let (_, body) = answers.iter().find(|(s, _)| *s == 429).expect("a refusal");
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    // /healthz is not behind the API's limits.
    let health = reqwest::blocking::get(format!("{}/healthz", server.base)).expect("healthz");
    assert_eq!(health.status().as_u16(), 200);
}

#[test]
fn an_address_that_spends_its_failed_authentications_is_blocked_even_with_a_good_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &["partner", "create", "--name", "Toko Satu"]);
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let key = created["owner_key"].as_str().expect("key").to_owned();
    let server = Server::start(
        dir.path(),
        &[("LARAS_FAILED_AUTH_PER_IP_PER_MINUTE", "5"), ("LARAS_REQUESTS_PER_IP_PER_SECOND", "0")],
    );
    assert_eq!(post(&server.base, Some(&key), "{ me { role } }").0, 200);
    let statuses: Vec<u16> =
        (0..10).map(|i| post(&server.base, Some(&format!("lrs_guess_{i}")), "{ me { role } }").0).collect();
    assert_eq!(&statuses[..5], &[401; 5], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");
    assert_eq!(post(&server.base, Some(&key), "{ me { role } }").0, 429, "no guessing past the budget");
}

#[test]
fn half_open_connections_are_closed_and_healthz_keeps_answering() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(
        dir.path(),
        &[
            ("LARAS_MAX_CONNECTIONS", "64"),
            ("LARAS_HEADER_READ_TIMEOUT_SECONDS", "1"),
            ("LARAS_NEW_CONNECTIONS_PER_IP_PER_SECOND", "0"),
        ],
    );
    let mut held: Vec<TcpStream> = (0..200).filter_map(|_| half_open(&server.base)).collect();
    assert!(held.len() > 64, "{} connections opened", held.len());
    let started = Instant::now();
    let health = reqwest::blocking::Client::new()
        .get(format!("{}/healthz", server.base))
        .timeout(Duration::from_secs(2))
        .send()
        .expect("healthz answers past the connection cap");
    assert_eq!(health.status().as_u16(), 200);
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    // The first connection was shed (cap) or timed out (header read): the server closed it.
    let first = &mut held[0];
    first.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut buf = [0u8; 256];
    let n = first.read(&mut buf).unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "closed, not answered: {answer:?}");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sequential `/healthz` probes for `for_`, each on a fresh connection, from 127.0.0.2:
/// the abuse comes from 127.0.0.1, and per-address limits must not count the prober as
/// the abuser.
fn probe(base: &str, for_: Duration) -> (Vec<Duration>, usize) {
    let client = reqwest::blocking::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let url = format!("{base}/healthz");
    let (mut times, mut failed) = (Vec::new(), 0);
    let until = Instant::now() + for_;
    while Instant::now() < until {
        let started = Instant::now();
        match client.get(&url).send() {
            Ok(r) if r.status().is_success() => times.push(started.elapsed()),
            other => {
                if failed == 0 {
                    println!("first failed probe: {:?}", other.map(|r| r.status()));
                }
                failed += 1;
            }
        }
        // 40 probes a second: under the per-address limit on new connections.
        std::thread::sleep(Duration::from_millis(25));
    }
    times.sort();
    (times, failed)
}

#[test]
fn healthz_answers_while_1100_half_open_connections_and_200_hostile_requests_a_second_arrive() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The server runs with 1,024 open files, as in the finding; its connection cap
    // follows from that limit.
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = std::process::Command::new("sh");
    cmd.args(["-c", &format!("ulimit -n 1024 && exec {BIN} serve --listen 127.0.0.1:{port}")])
        .env("LARAS_DATA_DIR", dir.path())
        .env("LARAS_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = cmd.spawn().expect("spawn");
    let server = Server { child, base: base.clone(), data_dir: dir.path().to_path_buf() };
    let deadline = Instant::now() + Duration::from_secs(30);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }

    let (quiet, quiet_failed) = probe(&base, Duration::from_secs(3));

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // 1,100 connections that send half a head, opened as fast as the server takes them.
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let holder = {
        let (base, stop, opened) = (base.clone(), stop.clone(), opened.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && held.len() < 1_100 {
                if let Some(s) = half_open(&base) {
                    held.push(s);
                    opened.store(held.len(), std::sync::atomic::Ordering::Relaxed);
                }
            }
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            held.len()
        })
    };
    // 200 hostile requests a second: the fragment-doubling document, without a key.
    let hostile = {
        let (base, stop) = (base.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut q = String::from("{ ...F0 } ");
            for i in 0..22 {
                q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{} ...F{} }} ", i + 1, i + 1));
            }
            q.push_str("fragment F22 on QueryRoot { __typename }");
            let client = reqwest::blocking::Client::new();
            let mut sent = 0u64;
            let started = Instant::now();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = client.post(format!("{base}/graphql")).json(&json!({ "query": q })).send();
                sent += 1;
                let due = started + Duration::from_millis(sent * 5);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            sent as f64 / started.elapsed().as_secs_f64()
        })
    };
    // Probe once every half-open connection is held (how fast they open depends on the
    // machine's load), so the measurement is always taken under the whole abuse.
    let deadline = Instant::now() + Duration::from_secs(60);
    while opened.load(std::sync::atomic::Ordering::Relaxed) < 1_100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (abused, abused_failed) = probe(&base, Duration::from_secs(5));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let held = holder.join().expect("holder");
    let rate = hostile.join().expect("hostile");
    println!(
        "healthz quiet: n={} p50={:.2?} p99={:.2?} failed={quiet_failed}",
        quiet.len(),
        percentile(&quiet, 0.5),
        percentile(&quiet, 0.99)
    );
    println!(
        "healthz under abuse ({held} half-open connections opened, {rate:.0} hostile requests/s): n={} p50={:.2?} p99={:.2?} failed={abused_failed}",
        abused.len(),
        percentile(&abused, 0.5),
        percentile(&abused, 0.99)
    );
    assert_eq!(abused_failed, 0, "every probe answered");
    assert!(held >= 1_100, "the abuse ran: {held} connections");
    // Loose on purpose: the machine is shared; the figures above are the measurement.
    assert!(percentile(&abused, 0.99) < Duration::from_millis(500));
    drop(server);
}
