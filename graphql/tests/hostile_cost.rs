//! The most expensive requests a caller without a key can send, measured beside a
//! trivial one in the same run: wall time and peak heap until the answer is built.
//! `cargo test -p laras-graphql --test hostile_cost -- --nocapture` prints the table.

mod common;
#[path = "common/heap.rs"]
mod heap;

use common::*;
use serde_json::Value;
use std::time::{Duration, Instant};

fn doubling(n: usize) -> String {
    let mut q = String::from("{ ...F0 } ");
    for i in 0..n {
        q.push_str(&format!("fragment F{i} on QueryRoot {{ ...F{} ...F{} }} ", i + 1, i + 1));
    }
    q.push_str(&format!("fragment F{n} on QueryRoot {{ __typename }}"));
    q
}

/// Hostile documents, each within the 256 KiB body limit.
fn hostile() -> Vec<(&'static str, String)> {
    let tokens = 1_990;
    vec![
        ("fragment doubling, 2^22 leaves", doubling(22)),
        ("fragment doubling, 2^200 leaves", doubling(200)),
        ("1,990 x __typename", format!("{{ {} }}", "__typename ".repeat(tokens - 2))),
        ("1,990 unknown fields", format!("{{ {} }}", "nope ".repeat(tokens - 2))),
        ("99 aliases x 50 __typename via fragment", {
            let aliases: String = (0..99).map(|i| format!("a{i}: __typename ")).collect();
            format!("{{ {} }} fragment T on QueryRoot {{ {aliases} }}", "...T ".repeat(50))
        }),
        ("brackets 60,000 deep", format!("{{ a(x: {}", "[".repeat(60_000))),
        ("250 KiB of one token", format!("{{ {} }}", "a".repeat(250 * 1024))),
        ("64 KiB string argument", format!("{{ search(text: \"{}\") {{ text }} }}", "x".repeat(63 * 1024))),
        ("fields 33 deep", format!("{}{}", "{ a ".repeat(33), "}".repeat(33))),
        ("390 operations", (0..390).map(|i| format!("query q{i} {{ __typename }} ")).collect()),
        ("syntax error after 1,900 tokens", format!("{{ __typename }} {}", "x".repeat(30).repeat(1_900))),
    ]
}

/// Runs `query` without a key; returns (time, peak heap bytes above the start, answer).
async fn cost(w: &World, query: &str) -> (Duration, usize, Value) {
    let peak = heap::PeakSince::start();
    let started = Instant::now();
    let answer = w.run(None, query, Value::Null).await;
    let took = started.elapsed();
    (took, peak.bytes(), answer)
}

#[tokio::test(flavor = "current_thread")]
async fn no_request_without_a_key_costs_more_than_50_ms_or_10_mb() {
    let w = world();
    // Warm up whatever is lazily built on the first request.
    let _ = cost(&w, "{ __typename }").await;
    let mut trivial = Vec::new();
    for _ in 0..5 {
        trivial.push(cost(&w, "{ __typename }").await);
    }
    trivial.sort_by_key(|(t, _, _)| *t);
    let (t, m, _) = &trivial[2];
    println!("{:<45} {:>10} {:>12}  answer", "request", "time", "peak heap");
    println!("{:<45} {:>10.2?} {:>10} B  ok (median of 5)", "trivial { __typename }", t, m);
    let mut worst = (Duration::ZERO, 0usize);
    for (name, query) in hostile() {
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(cost(&w, &query).await);
        }
        runs.sort_by_key(|(t, _, _)| *t);
        let (took, peak, answer) = &runs[1];
        let code = answer["errors"][0]["extensions"]["code"].as_str().unwrap_or("ok").to_owned();
        println!("{name:<45} {took:>10.2?} {peak:>10} B  {code} (median of 3)");
        worst = (worst.0.max(*took), worst.1.max(*peak));
        let size = answer.to_string().len();
        assert!(size < 64 * 1024, "{name}: a {size}-byte answer");
    }
    println!("worst: {:.2?}, {} B", worst.0, worst.1);
    assert!(worst.0 < Duration::from_millis(50), "worst time {:?}", worst.0);
    assert!(worst.1 < 10 * 1024 * 1024, "worst peak heap {} B", worst.1);
}
