//! The ledger through the real binary: start and stop, keys, verify, tampering, crashes.

mod common;

use common::*;
use rusqlite::{params, Connection};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

fn populate(data: &Path, count: usize) {
    let out = run(data, &["bench", "appends", "--count", &count.to_string()]);
    assert!(out.status.success(), "bench appends failed: {}", String::from_utf8_lossy(&out.stderr));
}

fn verify(data: &Path) -> (bool, String) {
    let out = run(data, &["verify"]);
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn db(data: &Path) -> Connection {
    Connection::open(data.join("ledger.sqlite")).expect("open the ledger file")
}

/// A position in the middle of a stream with at least three events.
fn middle_of_a_stream(conn: &Connection) -> (i64, i64, i64) {
    conn.query_row(
        "SELECT a.position, b.position, c.position FROM events a JOIN events b ON b.stream_id = a.stream_id AND b.stream_version = a.stream_version + 1
         JOIN events c ON c.stream_id = a.stream_id AND c.stream_version = a.stream_version + 2 ORDER BY a.position LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
    .expect("a stream with three events")
}

#[test]
fn serve_starts_answers_health_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let body = reqwest::blocking::get(format!("{}/healthz", server.base)).unwrap().text().unwrap();
    assert_eq!(body, "ok");
    let status = server.stop();
    assert!(status.success(), "graceful stop exits 0, got {status:?}");
    let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "master.key");
    let keys: Vec<_> = std::fs::read_dir(dir.path().join("signing")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(keys.len(), 1);
    assert_eq!(std::fs::metadata(&keys[0]).unwrap().permissions().mode() & 0o777, 0o600);
    let (ok, report) = verify(dir.path());
    assert!(ok, "{report}");
}

#[test]
fn keys_rotate_records_a_new_key_and_old_events_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 50);
    let before = run(dir.path(), &["keys"]);
    assert!(before.status.success());
    let listing = String::from_utf8_lossy(&before.stdout).to_string();
    assert_eq!(listing.lines().filter(|l| l.starts_with("ed25519:")).count(), 1, "{listing}");

    let server = Server::start(dir.path(), &[]);
    let refused = run(dir.path(), &["keys", "rotate"]);
    assert!(!refused.status.success(), "rotation while the server writes is refused");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("laras.lock"));
    server.stop();

    let rotated = run(dir.path(), &["keys", "rotate"]);
    assert!(rotated.status.success(), "{}", String::from_utf8_lossy(&rotated.stderr));
    populate(dir.path(), 50);
    let after = String::from_utf8_lossy(&run(dir.path(), &["keys"]).stdout).to_string();
    assert_eq!(after.lines().filter(|l| l.starts_with("ed25519:")).count(), 2, "{after}");
    assert!(after.contains("active endorsed by"), "{after}");
    let (ok, report) = verify(dir.path());
    assert!(ok, "{report}");
    let signers: i64 = db(dir.path()).query_row("SELECT COUNT(DISTINCT key_id) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(signers, 2);
}

#[test]
fn verify_names_the_position_of_a_flipped_payload_byte() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 30);
    let conn = db(dir.path());
    let (p, _, _) = middle_of_a_stream(&conn);
    let mut payload: Vec<u8> =
        conn.query_row("SELECT payload FROM events WHERE position = ?1", [p], |r| r.get(0)).unwrap();
    payload[3] ^= 0x01;
    conn.execute("UPDATE events SET payload = ?1 WHERE position = ?2", params![payload, p]).unwrap();
    drop(conn);
    let (ok, report) = verify(dir.path());
    assert!(!ok);
    assert!(report.contains(&format!("position {p}")), "{report}");
}

#[test]
fn verify_catches_a_deleted_event() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 30);
    let conn = db(dir.path());
    let (_, p, next) = middle_of_a_stream(&conn);
    conn.execute("DELETE FROM events WHERE position = ?1", [p]).unwrap();
    drop(conn);
    let (ok, report) = verify(dir.path());
    assert!(!ok);
    assert!(report.contains(&format!("position {next}")), "the event after the hole is named: {report}");
}

#[test]
fn verify_catches_two_swapped_events() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 30);
    let conn = db(dir.path());
    let (a, b, _) = middle_of_a_stream(&conn);
    let cols = "event_id, partner_id, stream_id, stream_version, recorded_at, actor_kind, actor_id, causation_id, correlation_id, event_type, event_version, key_id, prev_hash, payload, signature, hash";
    conn.execute_batch(&format!(
        "BEGIN;
         CREATE TEMP TABLE swap AS SELECT position, {cols} FROM events WHERE position IN ({a}, {b});
         DELETE FROM events WHERE position IN ({a}, {b});
         INSERT INTO events (position, {cols}) SELECT CASE position WHEN {a} THEN {b} ELSE {a} END, {cols} FROM swap;
         COMMIT;"
    ))
    .unwrap();
    drop(conn);
    let (ok, report) = verify(dir.path());
    assert!(!ok);
    assert!(report.contains(&format!("position {a}")), "{report}");
}

#[test]
fn verify_catches_a_signature_from_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 30);
    let conn = db(dir.path());
    let (p, _, _) = middle_of_a_stream(&conn);
    // Re-sign the row's own canonical bytes with a key the log never introduced.
    let rogue = laras_domain::signing::LedgerSigningKey::from_secret([0xee; 32]);
    let old_key: String = conn.query_row("SELECT key_id FROM events WHERE position = ?1", [p], |r| r.get(0)).unwrap();
    let reader = laras_adapters::sqlite_log::SqliteEventStore::scan(&dir.path().join("ledger.sqlite")).unwrap();
    let mut envelope = reader.map(|r| r.unwrap()).find(|s| s.position as i64 == p).unwrap().envelope;
    assert_eq!(envelope.header.key_id.as_str(), old_key);
    envelope.header.key_id = rogue.id().clone();
    let signature = rogue.sign(&envelope.canonical_bytes().unwrap());
    conn.execute(
        "UPDATE events SET key_id = ?1, signature = ?2 WHERE position = ?3",
        params![rogue.id().as_str(), signature.to_vec(), p],
    )
    .unwrap();
    drop(conn);
    let (ok, report) = verify(dir.path());
    assert!(!ok);
    assert!(report.contains(&format!("position {p}")), "{report}");
}

#[test]
fn every_acknowledged_append_survives_sigkill_and_the_log_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = laras(dir.path())
        .args(["bench", "burst", "--concurrency", "32"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut acked = Vec::new();
    while acked.len() < 2_000 && Instant::now() < deadline {
        if let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
            if let Ok(p) = line.parse::<i64>() {
                acked.push(p);
            }
        }
    }
    kill9(&child);
    let _ = child.wait();
    // Whatever the pipe still held was acknowledged too.
    acked.extend(lines.try_iter().filter_map(|l| l.parse::<i64>().ok()));
    assert!(acked.len() >= 2_000, "the burst acknowledged only {} appends", acked.len());

    let conn = db(dir.path());
    let mut stmt = conn.prepare("SELECT 1 FROM events WHERE position = ?1").unwrap();
    let missing: Vec<_> = acked.iter().filter(|p| !stmt.exists([**p]).unwrap()).collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    drop(stmt);
    drop(conn);
    let (ok, report) = verify(dir.path());
    assert!(ok, "{report}");
    // And the ledger opens and takes writes again.
    populate(dir.path(), 10);
    let (ok, report) = verify(dir.path());
    assert!(ok, "{report}");
}

/// `bench webhooks --wrk`: the deliveries `wrk` sends are signed as Meta signs them (a
/// wrong signature would be answered 401 and counted as failed), every one is answered,
/// and the report holds both endpoints' figures.
#[test]
fn bench_webhooks_driven_by_wrk_gets_every_signed_delivery_acknowledged() {
    if std::process::Command::new("wrk").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI must install wrk (apt-get install -y wrk)");
        println!("skipped: wrk is not installed (apt-get install -y wrk)");
        return;
    }
    let data = tempfile::tempdir().expect("dir");
    let out =
        run(data.path(), &["bench", "webhooks", "--wrk", "--seconds", "1", "--connections", "8", "--customers", "50"]);
    assert!(out.status.success(), "bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON report");
    let webhooks = &report["webhooks"];
    assert!(webhooks["requests"].as_u64().unwrap_or(0) > 0, "{report}");
    assert_eq!(webhooks["failed"].as_u64(), Some(0), "{report}");
    assert_eq!(report["wrapped"].as_bool(), Some(false), "{report}");
    assert!(report["healthz"]["requests_per_s"].as_f64().unwrap_or(0.0) > 0.0, "{report}");
    assert!(report["server_cpu_ms_per_webhook"].as_f64().is_some(), "{report}");
}
