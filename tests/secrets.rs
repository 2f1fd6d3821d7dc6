//! Secrets: the master key outside the data dir, key files private to their owner, and
//! no personal data, keys or tokens in a whole end-to-end run's debug log.

mod common;

use common::*;
use laras_adapters::graph_api::fake::FakeGraph;
use serde_json::{json, Value};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn the_master_key_can_live_outside_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("secrets").join("laras-master.key");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let out =
        laras(&data).args(["partner", "create", "--name", "Toko"]).env("LARAS_MASTER_KEY_FILE", &key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(mode(&key), 0o600);
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    assert!(!data.join("master.key").exists(), "no master key in the data dir");
    // The flag works as the variable does.
    let out = laras(&data)
        .args(["--master-key-file", key.to_str().unwrap(), "partner", "create", "--name", "Toko Dua"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Forgetting it is an error, not a new key that would orphan every wrapped one.
    let out = run(&data, &["partner", "create", "--name", "Toko Tiga"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("master key file"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!data.join("master.key").exists());
    // A backup leaves it out and says so.
    let backup = dir.path().join("b.tar");
    let out = laras(&data)
        .args(["backup", "--out", backup.to_str().unwrap()])
        .env("LARAS_MASTER_KEY_FILE", &key)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["master_key_included"], false);
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = run(&data, &["partner", "create", "--name", "Toko"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let master = data.join("master.key");
    assert_eq!(mode(&master), 0o600);
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run(&data, &["partner", "create", "--name", "Toko Dua"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("chmod 600") && err.contains("master.key"), "{err}");
    std::fs::set_permissions(&master, std::fs::Permissions::from_mode(0o600)).unwrap();

    let signing = std::fs::read_dir(data.join("signing")).unwrap().next().unwrap().unwrap().path();
    assert_eq!(mode(&signing), 0o600);
    std::fs::set_permissions(&signing, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = run(&data, &["partner", "create", "--name", "Toko Tiga"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    // A backup refuses to copy it either.
    let out = run(&data, &["backup", "--out", dir.path().join("b.tar").to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}

const SECRET: &str = "app-secret-5f1c9a";
const VERIFY: &str = "verify-token-77e0b2";
const ADMIN: &str = "admin-token-c4d21e";
const WA: &str = "106540352242922";
const CHANNEL_TOKEN: &str = "EAAB-channel-token-9d8e";
const NAME: &str = "Sheena Wijayakusuma";
const PHONE: &str = "6281298765432";
const TEXT: &str = "Berapa harga kain songket merah";
const ARTICLE: &str = "Kain songket merah Rp 780.000 per helai";
const NOTE: &str = "Pelanggan setia sejak tahun lalu";

fn webhook(base: &str, wamid: &str, text: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": NAME}, "wa_id": PHONE}],
        "messages": [{"from": PHONE, "id": wamid, "timestamp": now.to_string(), "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes();
    let status = reqwest::blocking::Client::new()
        .post(format!("{base}/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(SECRET, &body))
        .body(body)
        .send()
        .expect("post webhook")
        .status();
    assert_eq!(status.as_u16(), 200);
}

#[test]
fn a_whole_run_logs_no_personal_data_keys_or_tokens_at_debug_level() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut log = String::new();
    let out =
        laras(&data).env("LARAS_LOG", "debug").args(["partner", "create", "--name", "Toko Songket"]).output().unwrap();
    assert!(out.status.success());
    log.push_str(&String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let owner_key = created["owner_key"].as_str().unwrap().to_owned();

    let (fake, graph) = FakeGraph::start();
    fake.vouch(CHANNEL_TOKEN, WA);
    let env = [
        ("LARAS_LOG", "debug"),
        ("LARAS_META_APP_SECRET", SECRET),
        ("LARAS_META_VERIFY_TOKEN", VERIFY),
        ("LARAS_ADMIN_TOKEN", ADMIN),
        ("LARAS_META_GRAPH_URL", graph.as_str()),
    ];
    let mut server = Server::start(&data, &env);
    let mut stderr = server.child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let base = server.base.clone();
    let handshake = reqwest::blocking::get(format!(
        "{base}/webhooks/meta?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444"
    ))
    .unwrap();
    assert_eq!(handshake.status().as_u16(), 200);
    let made = graphql(&base, ADMIN, "mutation { createPartner(name: \"Toko Kedua\") { ownerKey } }");
    let second_key = made["createPartner"]["ownerKey"].as_str().unwrap().to_owned();
    graphql(&base, &second_key, "{ me { role } }");
    graphql(&base, &owner_key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"{CHANNEL_TOKEN}\") {{ position }} }}"));
    graphql(
        &base,
        &owner_key,
        &format!(
            "mutation {{ publishArticle(kind: PRODUCT, title: \"Songket\", body: \"{ARTICLE}\") {{ position }} }}"
        ),
    );
    graphql(&base, &owner_key, "mutation { setApprovalMode(mode: AUTOPILOT) { position } }");
    webhook(&base, "wamid.secret.1", TEXT);
    // Wait for the AI worker's answer to go out through the Graph API (with the channel token).
    let deadline = Instant::now() + Duration::from_secs(20);
    while fake.requests().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!fake.requests().is_empty(), "the answer went out");
    let inbox = graphql(&base, &owner_key, "{ inbox(first: 1) { edges { node { conversationId contactId } } } }");
    let node = &inbox["inbox"]["edges"][0]["node"];
    let conversation = node["conversationId"].as_str().unwrap().to_owned();
    graphql(&base, &owner_key, &format!("{{ conversation(id: \"{conversation}\") {{ items {{ kind text }} }} }}"));
    graphql(&base, &owner_key, "{ search(text: \"songket\", first: 5) { position kind } }");
    let contact = node["contactId"].as_str().expect("a contact").to_owned();
    graphql(
        &base,
        &owner_key,
        &format!("mutation {{ addNote(contactId: \"{contact}\", text: \"{NOTE}\") {{ position }} }}"),
    );
    // Refused attempts log too: a wrong key and a wrongly signed webhook.
    let _ = reqwest::blocking::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth("lrs_0000000000000000_wrong-key-secret")
        .json(&json!({"query": "{ me { role } }"}))
        .send();
    let _ = reqwest::blocking::Client::new()
        .post(format!("{base}/webhooks/meta"))
        .header("x-hub-signature-256", "sha256=00")
        .body(TEXT)
        .send();
    terminate(&server.child);
    let _ = server.child.wait();
    log.push_str(&reader.join().unwrap());
    drop(server);

    assert!(log.contains("DEBUG"), "the log ran at debug level: {log}");
    let master = hex::encode(std::fs::read(data.join("master.key")).unwrap());
    let signing_file = std::fs::read_dir(data.join("signing")).unwrap().next().unwrap().unwrap().path();
    let signing = hex::encode(std::fs::read(signing_file).unwrap());
    // `lrs_<16 hex id>_` is the public part of a key; what follows is the secret.
    let owner_secret = owner_key[21..].to_owned();
    let second_secret = second_key[21..].to_owned();
    let secrets = [
        NAME,
        PHONE,
        TEXT,
        ARTICLE,
        NOTE,
        SECRET,
        VERIFY,
        ADMIN,
        CHANNEL_TOKEN,
        &master,
        &signing,
        &owner_key,
        &owner_secret,
        &second_key,
        &second_secret,
        "wrong-key-secret",
        "songket",
        "Wijayakusuma",
    ];
    let found: Vec<_> = secrets.iter().filter(|s| log.to_lowercase().contains(&s.to_lowercase())).collect();
    assert!(found.is_empty(), "the log holds {found:?}:\n{log}");
}
