//! The log on PostgreSQL through the real binary: `store copy` from an embedded data dir,
//! `verify` on both sides, reruns, and commands writing through `--store`.
//! Needs `LARAS_TEST_DATABASE_URL`; without it each test prints one line and is skipped.

mod common;

use common::*;
use laras_adapters::postgres_log::testing::TestDatabase;
use std::path::Path;

fn database(test: &str) -> Option<TestDatabase> {
    tokio::runtime::Runtime::new().expect("a runtime").block_on(TestDatabase::create(test))
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = run(data, args);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "laras {args:?} failed: {text}");
    text
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text.lines().last().unwrap_or_default()).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[test]
fn store_copy_keeps_every_position_hash_and_signature_and_is_idempotent() {
    let Some(db) = database("store_copy_keeps_every_position…") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    ok(data, &["partner", "create", "--name", "Toko Laras"]);
    ok(data, &["bench", "appends", "--count", "150"]);
    ok(data, &["keys", "rotate"]);
    assert!(ok(data, &["verify"]).contains("OK"));
    let copied = json(&ok(data, &["store", "copy", "--from", data.to_str().unwrap(), "--to", &db.url]));
    let events = copied["events"].as_u64().unwrap();
    assert!(events > 300, "{copied}");
    assert_eq!((copied["copied"].as_u64(), copied["already_there"].as_u64()), (Some(events), Some(0)));
    let on_pg = ["--store", db.url.as_str()];
    let verified = ok(data, &[&on_pg[..], &["verify"]].concat());
    assert!(verified.contains(&format!("checked {events} events")) && verified.contains("OK"), "{verified}");
    let again = json(&ok(data, &["store", "copy", "--from", data.to_str().unwrap(), "--to", &db.url]));
    assert_eq!((again["copied"].as_u64(), again["already_there"].as_u64()), (Some(0), Some(events)));
    // The state beside the log moved too, once: the owner key, the Partner's trees.
    assert_eq!(copied["shared_state"]["api_keys"].as_u64(), Some(1), "{copied}");
    let rerun = &again["shared_state"];
    assert!(rerun.as_object().unwrap().values().all(|n| n.as_u64() == Some(0)), "{again}");
    let keys_embedded = ok(data, &["keys"]);
    assert_eq!(ok(data, &[&on_pg[..], &["keys"]].concat()), keys_embedded, "both logs name the same keys");
    // A Partner created on PostgreSQL continues the copied log; the embedded log is untouched.
    let created = json(&ok(data, &[&on_pg[..], &["partner", "create", "--name", "Dua"]].concat()));
    assert_eq!(created["position"].as_u64(), Some(events + 1));
    assert!(ok(data, &[&on_pg[..], &["verify"]].concat()).contains("OK"));
    assert!(ok(data, &["verify"]).contains(&format!("checked {events} events")));
    let partner = created["partner_id"].as_str().unwrap();
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("bundle");
    ok(data, &[&on_pg[..], &["export", "--partner", partner, "--out", bundle.to_str().unwrap()]].concat());
    assert!(ok(data, &["audit", "verify", bundle.to_str().unwrap()]).contains("OK"));
}

#[test]
fn a_copy_onto_a_different_log_is_refused() {
    let Some(db) = database("a_copy_onto_a_different_log…") else { return };
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    ok(first.path(), &["partner", "create", "--name", "Satu"]);
    ok(second.path(), &["partner", "create", "--name", "Dua"]);
    ok(first.path(), &["store", "copy", "--from", first.path().to_str().unwrap(), "--to", &db.url]);
    let out = run(second.path(), &["store", "copy", "--from", second.path().to_str().unwrap(), "--to", &db.url]);
    assert!(!out.status.success(), "another data dir's log must not be merged into this one");
    assert!(String::from_utf8_lossy(&out.stderr).contains("another event at position 1"));
}

#[test]
fn a_store_url_that_is_not_postgres_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["--store", "mysql://db/laras", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));
}

#[test]
fn every_acknowledged_append_on_postgres_survives_sigkill_and_the_log_verifies() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let Some(db) = database("every_acknowledged_append_on_postgres_survives_sigkill…") else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut child = laras(dir.path())
        .args(["--store", &db.url, "bench", "burst", "--concurrency", "32"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    while acked.len() < 2_000 && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
            acked.extend(line.parse::<u64>().ok());
        }
    }
    kill9(&child);
    let _ = child.wait();
    acked.extend(lines.try_iter().filter_map(|l| l.parse::<u64>().ok()));
    assert!(acked.len() >= 2_000, "the burst acknowledged only {} appends", acked.len());
    let stored: std::collections::HashSet<u64> = laras_adapters::postgres_log::PgLogScan::open(&db.url)
        .unwrap()
        .map(|s| s.expect("a stored row reads back").position)
        .collect();
    let missing: Vec<_> = acked.iter().filter(|p| !stored.contains(p)).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    let on_pg = ["--store", db.url.as_str()];
    assert!(ok(dir.path(), &[&on_pg[..], &["verify"]].concat()).contains("OK"));
    ok(dir.path(), &[&on_pg[..], &["bench", "appends", "--count", "10"]].concat());
    assert!(ok(dir.path(), &[&on_pg[..], &["verify"]].concat()).contains("OK"));
}

#[test]
fn serve_on_postgres_writes_through_graphql_reads_its_own_writes_and_stops_cleanly() {
    let Some(db) = database("serve_on_postgres…") else { return };
    let dir = tempfile::tempdir().unwrap();
    let server =
        Server::start(dir.path(), &[("LARAS_STORE_URL", &db.url), ("LARAS_ADMIN_TOKEN", "admin-s3cret-token")]);
    let graphql = |key: &str, query: &str| -> serde_json::Value {
        reqwest::blocking::Client::new()
            .post(format!("{}/graphql", server.base))
            .bearer_auth(key)
            .json(&serde_json::json!({ "query": query }))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let created = graphql("admin-s3cret-token", "mutation { createPartner(name: \"Toko Pg\") { partnerId ownerKey } }");
    let owner = created["data"]["createPartner"]["ownerKey"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let me = graphql(&owner, "{ partner { name } }");
    assert_eq!(me["data"]["partner"]["name"], "Toko Pg", "{me}");
    assert!(server.stop().success());
    assert!(!dir.path().join("ledger.sqlite").exists(), "nothing went to the embedded log");
    let verified = ok(dir.path(), &["--store", &db.url, "verify"]);
    assert!(verified.contains("OK"), "{verified}");
}
