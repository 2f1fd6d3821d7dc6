//! `laras backup` under load against `laras serve`, and `laras restore`: every webhook
//! acknowledged before the backup began is in the restored store, which verifies.

mod common;

use common::*;
use laras_adapters::graph_api::fake::FakeGraph;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "backup-app-secret";
const WA: &str = "106540352242922";

fn wa_text(wamid: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": "Dewi"}, "wa_id": "6281200000001"}],
        "messages": [{"from": "6281200000001", "id": wamid, "timestamp": now.to_string(), "type": "text", "text": {"body": "halo"}}]}}]}]})
    .to_string()
    .into_bytes()
}

fn has_message(data: &Path, wamid: &str) -> bool {
    let conn =
        rusqlite::Connection::open_with_flags(data.join("ledger.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM events WHERE event_type = 'InboundMessageReceived' AND instr(payload, CAST(?1 AS BLOB)) > 0",
            [wamid],
            |r| r.get(0),
        )
        .unwrap();
    n == 1
}

/// Acknowledged deliveries with the instant each acknowledgement arrived.
type Acks = Arc<Mutex<Vec<(String, Instant)>>>;

fn load(base: String, worker: usize, stop: Arc<AtomicBool>, acks: Acks) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::new();
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            // Fixed width, so no id is a prefix of another in the payload search.
            let wamid = format!("wamid.backup.{worker}.{i:08}");
            i += 1;
            let body = wa_text(&wamid);
            let sent = client
                .post(format!("{base}/webhooks/meta"))
                .header("content-type", "application/json")
                .header("x-hub-signature-256", meta_signature(SECRET, &body))
                .body(body)
                .send();
            if sent.is_ok_and(|r| r.status().as_u16() == 200) {
                acks.lock().unwrap().push((wamid, Instant::now()));
            }
        }
    })
}

#[test]
fn a_backup_taken_under_webhook_load_restores_every_acknowledged_event_and_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&data, &["partner", "create", "--name", "Toko Cadangan"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let partner: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let partner = partner["partner_id"].as_str().unwrap().to_owned();
    // The Graph API must vouch that the token controls the number before it is connected.
    let (fake, graph) = FakeGraph::start();
    fake.vouch("EAAB-backup", WA);
    let out = laras(&data)
        .args(["channel", "connect", "--partner", &partner, "--kind", "whatsapp", "--account", WA])
        .env("LARAS_CHANNEL_TOKEN", "EAAB-backup")
        .env("LARAS_META_GRAPH_URL", &graph)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let server = Server::start(&data, &[("LARAS_META_APP_SECRET", SECRET), ("LARAS_META_GRAPH_URL", &graph)]);

    let stop = Arc::new(AtomicBool::new(false));
    let acks: Acks = Arc::default();
    let workers: Vec<_> = (0..4).map(|w| load(server.base.clone(), w, stop.clone(), acks.clone())).collect();
    std::thread::sleep(Duration::from_millis(1500));

    let began = Instant::now();
    let backup_file = dir.path().join("laras.backup.tar");
    let out = run(&data, &["backup", "--out", backup_file.to_str().unwrap()]);
    let finished = Instant::now();
    assert!(out.status.success(), "backup while serving: {}", String::from_utf8_lossy(&out.stderr));
    // Load goes on a little after the backup, then stops.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    assert!(server.stop().success());

    let acks = acks.lock().unwrap().clone();
    let before: Vec<&String> = acks.iter().filter(|(_, at)| *at < began).map(|(w, _)| w).collect();
    let during = acks.iter().filter(|(_, at)| *at >= began && *at <= finished).count();
    assert!(before.len() >= 20, "load ran before the backup: {} acknowledged", before.len());
    // A short backup on a busy machine can fall between two acknowledgements (its
    // own process start takes most of it); a longer one must not have stopped them.
    let took = finished - began;
    assert!(
        during > 0 || took < Duration::from_secs(2),
        "no delivery was acknowledged during a backup of {} ms",
        took.as_millis()
    );
    eprintln!(
        "backup took {} ms under load; {} deliveries acknowledged before it began, {during} during it",
        (finished - began).as_millis(),
        before.len()
    );

    let restored = dir.path().join("restored");
    let out = run(&restored, &["restore", backup_file.to_str().unwrap()]);
    assert!(out.status.success(), "restore: {}", String::from_utf8_lossy(&out.stderr));
    let missing: Vec<_> = before.iter().filter(|w| !has_message(&restored, w)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged before the backup are missing", missing.len(), before.len());

    let verify = run(&restored, &["verify", "--json"]);
    assert!(verify.status.success(), "verify: {}", String::from_utf8_lossy(&verify.stdout));
    // The restored store opens for writing: its keys unwrap and the read models rebuild.
    let rebuild = run(&restored, &["projections", "rebuild"]);
    assert!(rebuild.status.success(), "rebuild: {}", String::from_utf8_lossy(&rebuild.stderr));
    let conversations = run(&restored, &["conversations", "--partner", &partner]);
    assert!(String::from_utf8_lossy(&conversations.stdout).contains("whatsapp"));

    // Restore never lands in a data dir in use.
    let again = run(&data, &["restore", backup_file.to_str().unwrap()]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
}
