//! Processes under supervision, through the real `laras serve`: a restart resumes every
//! process from its checkpoint (the start positions are asserted), `/readyz` lists them,
//! and `/metrics` is Prometheus text.

mod common;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The position-reporting processes whose checkpoint is saved on a graceful stop.
const RESUMING: [&str; 6] =
    ["channel-directory", "ai-worker", "follow-ups", "read-models", "merkle-log", "search-index"];

fn readyz(base: &str) -> (u16, Value) {
    let resp = reqwest::blocking::get(format!("{base}/readyz")).expect("get /readyz");
    let status = resp.status().as_u16();
    (status, resp.json().expect("/readyz answers JSON"))
}

fn process<'a>(body: &'a Value, name: &str) -> &'a Value {
    body["processes"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

/// `/readyz` once it is 200 and every process that reports a position has caught up.
fn caught_up(base: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = readyz(base);
        let all_there =
            body["processes"].as_array().is_some_and(|ps| ps.iter().all(|p| p["lag"].is_null() || p["lag"] == 0));
        if status == 200 && all_there {
            return body;
        }
        assert!(Instant::now() < deadline, "not caught up: {status} {body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_restart_resumes_every_process_from_its_checkpoint_not_from_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &["partner", "create", "--name", "Toko Batik Laras"]);
    let created: Value = serde_json::from_slice(&out.stdout).expect("partner create prints JSON");
    let key = created["owner_key"].as_str().expect("owner key").to_owned();

    let server = Server::start(dir.path(), &[]);
    graphql(
        &server.base,
        &key,
        "mutation { publishArticle(kind: PRODUCT, title: \"Batik tulis\", body: \"Rp 450.000\") { position } }",
    );
    graphql(&server.base, &key, "mutation { setApprovalMode(mode: AUTOPILOT) { position } }");
    let first = caught_up(&server.base);
    let head = first["head"].as_u64().expect("head");
    assert!(head > 2);
    for name in RESUMING {
        assert_eq!(process(&first, name)["state"], "running", "{first}");
    }
    assert!(server.stop().success());

    let server = Server::start(dir.path(), &[]);
    let second = caught_up(&server.base);
    assert_eq!(second["head"].as_u64(), Some(head), "nothing was recorded again");
    for name in RESUMING {
        let started = process(&second, name)["started_from"].as_u64();
        assert_eq!(started, Some(head), "{name} resumed from its checkpoint: {second}");
    }
    drop(server);
}

#[test]
fn metrics_are_prometheus_text_with_every_process() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(dir.path(), &[]);
    caught_up(&server.base);
    let resp = reqwest::blocking::get(format!("{}/metrics", server.base)).expect("get /metrics");
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().expect("text");
    assert_prometheus_text(&text);
    for name in RESUMING.iter().chain(&["outbox"]) {
        let up = format!("laras_process_up{{process=\"{name}\"}} 1");
        assert!(text.lines().any(|l| l == up), "no `{up}` in:\n{text}");
    }
    assert!(text.lines().any(|l| l.starts_with("laras_process_lag_events{process=\"ai-worker\"}")), "{text}");
}

/// Checks the Prometheus text exposition format line by line: `# HELP`/`# TYPE`
/// comments, and samples `name{label="value",…} number`.
pub fn assert_prometheus_text(text: &str) {
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.chars()
                .enumerate()
                .all(|(i, c)| c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
    };
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let mut words = comment.split_whitespace();
            let kind = words.next().unwrap_or_default();
            assert!(kind == "HELP" || kind == "TYPE", "unknown comment: {line}");
            assert!(words.next().is_some_and(name_ok), "comment without a metric name: {line}");
            if kind == "TYPE" {
                let t = words.next().unwrap_or_default();
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&t), "bad type: {line}");
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        assert!(value.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&value), "bad value: {line}");
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels: {line}"));
                for pair in labels.split("\",").filter(|p| !p.is_empty()) {
                    let (label, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("bad label: {line}"));
                    assert!(name_ok(label) && quoted.starts_with('"'), "bad label: {line}");
                }
                name
            }
            None => series,
        };
        assert!(name_ok(name), "bad metric name: {line}");
    }
}

#[test]
fn the_format_check_refuses_what_is_not_prometheus_text() {
    for bad in ["laras_x", "laras x y", "1abc 2", "x{a=1} 2", "# NOTE x", "x{a=\"1\" 2"] {
        assert!(std::panic::catch_unwind(|| assert_prometheus_text(bad)).is_err(), "{bad:?} passed");
    }
    assert_prometheus_text("# HELP x A thing.\n# TYPE x gauge\nx{a=\"1\",b=\"2\"} 2.5\ny 1\n");
}
