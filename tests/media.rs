//! Customers' files end to end through `laras serve`, with the fake Graph API serving
//! the media: a WhatsApp photo and a voice note arrive by webhook, are fetched once
//! (a redelivery fetches nothing), shown in the conversation with a link that streams
//! them to the owner with range requests; another Partner, a forged or expired link and
//! an erased contact get 404. An expired URL, a wrong hash and an oversized file each end
//! in a recorded reason. Run with `--nocapture` for the fetch figures.

mod common;

use base64::Engine;
use common::*;
use laras_adapters::graph_api::fake::{jpeg, voice_note, FakeGraph, MediaBehaviour};
use serde_json::{json, Value};
use sha2::Digest;
use std::time::{Duration, Instant};

const SECRET: &str = "test-app-secret";
const WA: &str = "106540352242922";
const CUSTOMER: &str = "6281234567890";

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Message times a second apart, in the recent past: the newest conversation is the
/// first of the inbox.
fn stamp() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    now_s() - 3_000 + NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// A WhatsApp Cloud API webhook carrying one message from `from`.
fn wa_message(from: &str, message: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": from}],
        "messages": [message]}}]}]})
    .to_string()
    .into_bytes()
}

fn wa_image(from: &str, wamid: &str, media_id: &str, sha256: &str) -> Vec<u8> {
    wa_message(
        from,
        json!({"from": from, "id": wamid, "timestamp": stamp().to_string(), "type": "image",
               "image": {"caption": "yang ini ada?", "mime_type": "image/jpeg", "sha256": sha256, "id": media_id}}),
    )
}

fn wa_voice(from: &str, wamid: &str, media_id: &str, sha256: &str) -> Vec<u8> {
    wa_message(
        from,
        json!({"from": from, "id": wamid, "timestamp": stamp().to_string(), "type": "audio",
               "audio": {"mime_type": "audio/ogg; codecs=opus", "sha256": sha256, "id": media_id, "voice": true}}),
    )
}

fn wa_text(from: &str, wamid: &str, text: &str) -> Vec<u8> {
    wa_message(
        from,
        json!({"from": from, "id": wamid, "timestamp": stamp().to_string(), "type": "text", "text": {"body": text}}),
    )
}

/// `laras serve` on the fake Graph API. The tests poll the read models; the request
/// limits are not what they are about, so they are lifted.
fn start(dir: &std::path::Path, graph: &str) -> Server {
    let env = [("LARAS_META_APP_SECRET", SECRET), ("LARAS_META_GRAPH_URL", graph)];
    Server::start(dir, &with_lifted_limits(&env))
}

fn post(base: &str, body: &[u8]) {
    assert_eq!(post_meta_webhook(base, SECRET, body), 200);
}

/// Messages and replies carry files; the other thread items have none.
const ITEMS: &str = "items { kind reference text \
    ... on InboundMessage { attachments { kind mime size width height durationMs state reason url } } \
    ... on Reply { attachments { kind mime size width height durationMs state reason url } } }";

/// Every inbound item with its attachment, keyed by message id, once `done` holds (or after 20 s).
fn conversation_until(base: &str, key: &str, done: impl Fn(&[Value]) -> bool) -> (String, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = graphql(base, key, "{ inbox(first: 1) { edges { node { conversationId } } } }");
        if let Some(id) = inbox["inbox"]["edges"][0]["node"]["conversationId"].as_str() {
            let q = format!("{{ conversation(id: \"{id}\") {{ {ITEMS} }} }}");
            let items = graphql(base, key, &q)["conversation"]["items"].as_array().cloned().unwrap_or_default();
            if done(&items) || Instant::now() > deadline {
                return (id.to_owned(), items);
            }
        } else if Instant::now() > deadline {
            panic!("no conversation appeared");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn attachment<'a>(items: &'a [Value], wamid: &str) -> &'a Value {
    items
        .iter()
        .find(|i| i["reference"] == wamid)
        .map(|i| &i["attachments"][0])
        .unwrap_or_else(|| panic!("{wamid} in {items:?}"))
}

fn settled(items: &[Value], wamids: &[&str]) -> bool {
    wamids.iter().all(|w| items.iter().any(|i| i["reference"] == *w && i["attachments"][0]["state"] != "PENDING"))
}

fn get(url: &str, range: Option<&str>) -> reqwest::blocking::Response {
    let mut request = reqwest::blocking::Client::new().get(url);
    if let Some(range) = range {
        request = request.header("range", range);
    }
    request.send().expect("get media")
}

fn create_partner(dir: &std::path::Path, name: &str) -> (String, String) {
    let out = run(dir, &["partner", "create", "--name", name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).expect("partner create prints JSON");
    let field = |f: &str| created[f].as_str().unwrap_or_else(|| panic!("{f} in {created}")).to_owned();
    (field("partner_id"), field("owner_key"))
}

#[test]
fn a_photo_and_a_voice_note_are_fetched_once_served_with_ranges_to_their_owner_only_and_gone_after_erasure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key) = create_partner(dir.path(), "Toko Batik Laras");
    let (_, stranger) = create_partner(dir.path(), "Another shop");
    let (fake, graph) = FakeGraph::start();
    fake.vouch("EAAB-test", WA);
    let photo = jpeg(800, 600, 300_000);
    let voice = voice_note(7);
    let big = jpeg(4000, 3000, 6 * 1024 * 1024);
    fake.serve_media("m_photo", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    fake.serve_media("m_voice", voice.clone(), "audio/ogg", MediaBehaviour::Serve);
    fake.serve_media("m_expired", photo.clone(), "image/jpeg", MediaBehaviour::ExpiredUrl);
    fake.serve_media("m_wrong", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    fake.serve_media("m_big", big.clone(), "image/jpeg", MediaBehaviour::Serve);
    let server = start(dir.path(), &graph);
    let base = server.base.clone();
    graphql(&base, &key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"EAAB-test\") {{ position }} }}"));

    let photo_hook = wa_image(CUSTOMER, "wamid.photo", "m_photo", &sha256_b64(&photo));
    post(&base, &photo_hook);
    post(&base, &wa_voice(CUSTOMER, "wamid.voice", "m_voice", &sha256_b64(&voice)));
    post(&base, &wa_image(CUSTOMER, "wamid.expired", "m_expired", &sha256_b64(&photo)));
    post(&base, &wa_image(CUSTOMER, "wamid.wrong", "m_wrong", &sha256_b64(b"another file")));
    post(&base, &wa_image(CUSTOMER, "wamid.big", "m_big", &sha256_b64(&big)));
    let all = ["wamid.photo", "wamid.voice", "wamid.expired", "wamid.wrong", "wamid.big"];
    let (conversation, items) = conversation_until(&base, &key, |items| settled(items, &all));

    let shown = attachment(&items, "wamid.photo");
    assert_eq!(shown["state"], "STORED", "{shown}");
    assert_eq!((shown["kind"].as_str(), shown["mime"].as_str()), (Some("IMAGE"), Some("image/jpeg")));
    assert_eq!((shown["width"].as_u64(), shown["height"].as_u64()), (Some(800), Some(600)));
    assert_eq!(shown["size"].as_u64(), Some(photo.len() as u64));
    let heard = attachment(&items, "wamid.voice");
    assert_eq!((heard["state"].as_str(), heard["kind"].as_str()), (Some("STORED"), Some("AUDIO")), "{heard}");
    assert_eq!(heard["durationMs"].as_u64(), Some(7_000));
    for (wamid, reason) in [("wamid.expired", "EXPIRED"), ("wamid.wrong", "HASH_MISMATCH"), ("wamid.big", "TOO_LARGE")]
    {
        let a = attachment(&items, wamid);
        assert_eq!((a["state"].as_str(), a["reason"].as_str()), (Some("UNAVAILABLE"), Some(reason)), "{wamid}: {a}");
        assert!(a["url"].is_null(), "nothing to serve for {wamid}");
    }

    // The owner reads the photo whole and the voice note in pieces, as a player seeks.
    let photo_url = format!("{base}{}", shown["url"].as_str().expect("a stored photo has a link"));
    let whole = get(&photo_url, None);
    assert_eq!(whole.status().as_u16(), 200);
    let header = |r: &reqwest::blocking::Response, h: &str| {
        r.headers().get(h).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };
    assert_eq!(header(&whole, "content-type"), "image/jpeg");
    assert_eq!(header(&whole, "content-length"), photo.len().to_string());
    assert!(header(&whole, "content-disposition").starts_with("inline"), "{:?}", whole.headers());
    assert_eq!(whole.bytes().expect("photo bytes").as_ref(), &photo[..]);
    let voice_url = format!("{base}{}", heard["url"].as_str().expect("a stored voice note has a link"));
    let piece = get(&voice_url, Some("bytes=70000-70999"));
    assert_eq!(piece.status().as_u16(), 206);
    assert_eq!(header(&piece, "content-range"), format!("bytes 70000-70999/{}", voice.len()));
    assert_eq!(piece.bytes().expect("range").as_ref(), &voice[70_000..71_000]);
    let tail = get(&voice_url, Some("bytes=-100"));
    assert_eq!(tail.status().as_u16(), 206);
    assert_eq!(tail.bytes().expect("tail").as_ref(), &voice[voice.len() - 100..]);
    assert_eq!(get(&voice_url, Some(&format!("bytes={}-", voice.len()))).status().as_u16(), 416);

    // Fetched once: a redelivered webhook changes nothing and fetches nothing.
    post(&base, &photo_hook);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(fake.media_downloads("m_photo"), 1, "the photo was fetched once");
    assert_eq!(fake.media_downloads("m_voice"), 1);

    // Another Partner: its key sees no such conversation, and a link made for it is refused.
    let q = format!("{{ conversation(id: \"{conversation}\") {{ {ITEMS} }} }}");
    let body = json!({ "query": q });
    let theirs: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&stranger)
        .json(&body)
        .send()
        .and_then(|r| r.json())
        .expect("graphql");
    assert_eq!(theirs["errors"][0]["extensions"]["code"], "NOT_FOUND", "{theirs}");
    let token = photo_url.rsplit('/').next().unwrap_or_default().to_owned();
    let forged = {
        let (payload, tag) = token.split_once('.').expect("payload.tag");
        let mut tag: Vec<u8> = tag.bytes().collect();
        tag[0] = if tag[0] == b'A' { b'B' } else { b'A' };
        format!("{base}/media/{payload}.{}", String::from_utf8_lossy(&tag))
    };
    let refused = get(&forged, None);
    assert_eq!(refused.status().as_u16(), 404);
    assert!(refused.bytes().expect("body").is_empty(), "nothing else said");
    assert_eq!(get(&format!("{base}/media/not-a-link"), None).status().as_u16(), 404);

    // Erasure: the link that worked a moment ago serves nothing, and the files are gone.
    let contact = graphql(&base, &key, "{ inbox(first: 1) { edges { node { contactId } } } }")["inbox"]["edges"][0]
        ["node"]["contactId"]
        .as_str()
        .expect("contact")
        .to_owned();
    let media_files =
        || walk(&dir.path().join("media")).into_iter().filter(|p| p.extension().is_none_or(|e| e != "tmp")).count();
    assert_eq!(media_files(), 2, "the photo and the voice note are kept");
    graphql(&base, &key, &format!("mutation {{ eraseContact(contactId: \"{contact}\") {{ position }} }}"));
    assert_eq!(get(&photo_url, None).status().as_u16(), 404, "its key is gone at once");
    let deadline = Instant::now() + Duration::from_secs(10);
    while media_files() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(media_files(), 0, "the erased contact's files are deleted");
    let (_, items) = conversation_until(&base, &key, |items| attachment(items, "wamid.photo")["state"] == "ERASED");
    assert_eq!(attachment(&items, "wamid.photo")["state"], "ERASED");
    assert!(attachment(&items, "wamid.photo")["url"].is_null());
    server.stop();
}

/// A node of a PostgreSQL deployment: its own data dir (read models only), the shared
/// secrets folder, the fake Graph API.
fn start_on_postgres(dir: &std::path::Path, url: &str, secrets: &std::path::Path, graph: &str) -> Server {
    let (master, signing) = (secrets.join("master.key"), secrets.join("signing"));
    let env = [
        ("LARAS_STORE_URL", url),
        ("LARAS_ADMIN_TOKEN", ADMIN),
        ("LARAS_MASTER_KEY_FILE", master.to_str().expect("utf-8 path")),
        ("LARAS_SIGNING_KEY_DIR", signing.to_str().expect("utf-8 path")),
        ("LARAS_META_APP_SECRET", SECRET),
        ("LARAS_META_GRAPH_URL", graph),
    ];
    Server::start(dir, &with_lifted_limits(&env))
}

const ADMIN: &str = "admin-media-two-nodes";

/// How many sealed files the shared database keeps.
fn media_rows(url: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        client.query_one("SELECT count(*) FROM media_objects", &[]).await.expect("count").get(0)
    })
}

/// Two nodes on one PostgreSQL database: a photo whose webhook reaches one node is
/// fetched once (by the node holding the fetcher's lease) into the shared database, and
/// both nodes serve it, ranges included; no node keeps it in its own folder. Erased
/// through one node, it is refused by both at once and its sealed file is deleted.
#[test]
fn on_postgres_a_photo_fetched_once_is_served_by_every_node_and_erased_for_all() {
    let Some(db) = tokio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(laras_adapters::postgres_log::testing::TestDatabase::create("media_on_two_nodes"))
    else {
        return;
    };
    let secrets = tempfile::tempdir().expect("secrets");
    std::fs::create_dir(secrets.path().join("signing")).expect("signing dir");
    let (one_dir, two_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let (fake, graph) = FakeGraph::start();
    let photo = jpeg(640, 480, 200_000);
    fake.vouch("EAAB-two-nodes", WA);
    fake.serve_media("m_shared", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    let one = start_on_postgres(one_dir.path(), &db.url, secrets.path(), &graph);
    let two = start_on_postgres(two_dir.path(), &db.url, secrets.path(), &graph);
    let created = graphql(&one.base, ADMIN, "mutation { createPartner(name: \"Toko Dua Node\") { ownerKey } }");
    let key = created["createPartner"]["ownerKey"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    graphql(&one.base, &key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"EAAB-two-nodes\") {{ position }} }}"));

    // Node two routes the account once it has followed the claim: the same delivery is
    // posted until its inbox shows it (a repeat is recorded once).
    let hook = wa_image(CUSTOMER, "wamid.shared", "m_shared", &sha256_b64(&photo));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        post(&two.base, &hook);
        let inbox = graphql(&two.base, &key, "{ inbox(first: 1) { edges { node { conversationId } } } }");
        if !inbox["inbox"]["edges"].as_array().is_none_or(Vec::is_empty) {
            break;
        }
        assert!(Instant::now() < deadline, "node two never routed the account");
        std::thread::sleep(Duration::from_millis(100));
    }
    post(&one.base, &hook);

    let stored = |items: &[Value]| settled(items, &["wamid.shared"]);
    let (_, on_two) = conversation_until(&two.base, &key, stored);
    let (_, on_one) = conversation_until(&one.base, &key, stored);
    for (base, items) in [(&one.base, &on_one), (&two.base, &on_two)] {
        let shown = attachment(items, "wamid.shared");
        assert_eq!(shown["state"], "STORED", "{shown}");
        let url = format!("{base}{}", shown["url"].as_str().expect("a stored photo has a link"));
        let whole = get(&url, None);
        assert_eq!(whole.status().as_u16(), 200, "{base}");
        assert_eq!(whole.bytes().expect("photo").as_ref(), &photo[..], "{base} serves the photo");
        let piece = get(&url, Some("bytes=150000-150099"));
        assert_eq!(piece.status().as_u16(), 206);
        assert_eq!(piece.bytes().expect("range").as_ref(), &photo[150_000..150_100]);
    }
    assert_eq!(fake.media_downloads("m_shared"), 1, "fetched once for both nodes");
    assert_eq!(media_rows(&db.url), 1, "one sealed copy in the shared database");
    for dir in [one_dir.path(), two_dir.path()] {
        assert_eq!(walk(&dir.join("media")).len(), 0, "no node keeps the file in its own folder");
    }

    // Erased through node two: node one's link is refused at once, the file is deleted.
    let one_url = format!("{}{}", one.base, attachment(&on_one, "wamid.shared")["url"].as_str().unwrap_or_default());
    let contact = graphql(&two.base, &key, "{ inbox(first: 1) { edges { node { contactId } } } }")["inbox"]["edges"][0]
        ["node"]["contactId"]
        .as_str()
        .expect("contact")
        .to_owned();
    graphql(&two.base, &key, &format!("mutation {{ eraseContact(contactId: \"{contact}\") {{ position }} }}"));
    assert_eq!(get(&one_url, None).status().as_u16(), 404, "the key is gone for every node at once");
    let deadline = Instant::now() + Duration::from_secs(10);
    while media_rows(&db.url) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(media_rows(&db.url), 0, "the erased contact's sealed file is deleted");
    assert!(one.stop().success() && two.stop().success());
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(walk(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// Not a timed test: prints the added latency of a photo over a text message (webhook to
/// the recorded outcome, medians) and the fetcher's throughput, measured in one run.
#[test]
fn media_figures() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key) = create_partner(dir.path(), "Toko Batik Laras");
    let (fake, graph) = FakeGraph::start();
    fake.vouch("EAAB-test", WA);
    let server = start(dir.path(), &graph);
    let base = server.base.clone();
    graphql(&base, &key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"EAAB-test\") {{ position }} }}"));
    let rounds = 20;
    let photo = jpeg(1280, 960, 150_000);
    let mut text_ms = Vec::new();
    let mut photo_ms = Vec::new();
    for n in 0..rounds {
        let from = format!("62812000{n:05}");
        let started = Instant::now();
        post(&base, &wa_text(&from, &format!("wamid.t{n}"), "halo"));
        wait_for_item(&base, &key, &format!("wamid.t{n}"), |_| true);
        text_ms.push(started.elapsed().as_secs_f64() * 1e3);
        let id = format!("m_{n}");
        fake.serve_media(&id, photo.clone(), "image/jpeg", MediaBehaviour::Serve);
        let started = Instant::now();
        post(&base, &wa_image(&from, &format!("wamid.p{n}"), &id, &sha256_b64(&photo)));
        wait_for_item(&base, &key, &format!("wamid.p{n}"), |a| a["state"] == "STORED");
        photo_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let burst = 100;
    for n in 0..burst {
        fake.serve_media(&format!("b_{n}"), photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    }
    let started = Instant::now();
    for n in 0..burst {
        post(
            &base,
            &wa_image(&format!("62813000{n:05}"), &format!("wamid.b{n}"), &format!("b_{n}"), &sha256_b64(&photo)),
        );
    }
    wait_for_item(&base, &key, &format!("wamid.b{}", burst - 1), |a| a["state"] == "STORED");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (0..burst).any(|n| fake.media_downloads(&format!("b_{n}")) == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let seconds = started.elapsed().as_secs_f64();
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (text, with_photo) = (median(&mut text_ms), median(&mut photo_ms));
    println!(
        "media: webhook to recorded, median of {rounds}: text {text:.2} ms, photo to MediaStored {with_photo:.2} ms \
         (+{:.2} ms, {:.2}x); {burst} photos of {} kB fetched and kept in {seconds:.2} s: {:.0} files/s, {:.1} MB/s",
        with_photo - text,
        with_photo / text,
        photo.len() / 1000,
        burst as f64 / seconds,
        (burst * photo.len()) as f64 / seconds / 1e6
    );
    server.stop();
}

/// Waits until the message `wamid` is in its conversation and `ready` holds for its first
/// attachment (or it has none).
fn wait_for_item(base: &str, key: &str, wamid: &str, ready: impl Fn(&Value) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = graphql(base, key, "{ inbox(first: 1) { edges { node { conversationId } } } }");
        for edge in inbox["inbox"]["edges"].as_array().cloned().unwrap_or_default() {
            let Some(id) = edge["node"]["conversationId"].as_str() else { continue };
            let q = format!("{{ conversation(id: \"{id}\") {{ {ITEMS} }} }}");
            let items = graphql(base, key, &q)["conversation"]["items"].as_array().cloned().unwrap_or_default();
            if let Some(item) = items.iter().find(|i| i["reference"] == wamid) {
                let first = &item["attachments"][0];
                if first.is_null() || ready(first) {
                    return;
                }
            }
        }
        assert!(Instant::now() < deadline, "{wamid} did not arrive");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const PAGE: &str = "109876543210987";

fn png(width: u32, height: u32, filler: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0, 0, 0, 0, 0]);
    b.extend((0..filler).map(|i| (i * 7 % 253) as u8));
    b
}

/// `reply(file: {upload})` as a GraphQL multipart request to `/graphql/upload`; the answer.
fn reply_with_upload(base: &str, key: &str, conversation: &str, text: &str, file: Vec<u8>, mime: &str) -> Value {
    let query = "mutation($c: ID!, $t: String!, $file: ReplyFileInput) { reply(conversationId: $c, text: $t, file: $file) { position id } }";
    let operations =
        json!({ "query": query, "variables": { "c": conversation, "t": text, "file": { "upload": null } } });
    let form = reqwest::blocking::multipart::Form::new()
        .text("operations", operations.to_string())
        .text("map", json!({ "0": ["variables.file.upload"] }).to_string())
        .part("0", reqwest::blocking::multipart::Part::bytes(file).file_name("photo").mime_str(mime).expect("mime"));
    reqwest::blocking::Client::new()
        .post(format!("{base}/graphql/upload"))
        .bearer_auth(key)
        .header("apollo-require-preflight", "true")
        .multipart(form)
        .send()
        .and_then(|r| r.json())
        .expect("upload")
}

fn sent_to(fake: &FakeGraph, suffix: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found: Vec<Value> =
            fake.requests().into_iter().filter(|r| r.path.ends_with(suffix)).map(|r| r.body).collect();
        if found.len() >= n || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_reply_carries_an_uploaded_file_or_an_earlier_one_through_the_graph_api_of_each_channel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, key) = create_partner(dir.path(), "Toko Batik Laras");
    let (fake, graph) = FakeGraph::start();
    fake.vouch("EAAB-wa", WA);
    fake.vouch("EAAB-page", PAGE);
    let photo = jpeg(640, 480, 50_000);
    fake.serve_media("m_photo", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    let server = start(dir.path(), &graph);
    let base = server.base.clone();
    for (channel, account, token) in [("WHATSAPP", WA, "EAAB-wa"), ("MESSENGER", PAGE, "EAAB-page")] {
        graphql(&base, &key, &format!("mutation {{ connectChannel(channel: {channel}, accountId: \"{account}\", accessToken: \"{token}\") {{ position }} }}"));
    }
    post(&base, &wa_image(CUSTOMER, "wamid.photo", "m_photo", &sha256_b64(&photo)));
    let (conversation, _) = conversation_until(&base, &key, |items| settled(items, &["wamid.photo"]));

    // An upload with a caption: WhatsApp takes the file first, then the message naming it.
    let label = png(300, 200, 20_000);
    let answer = reply_with_upload(&base, &key, &conversation, "Ini labelnya, kak", label.clone(), "image/png");
    assert!(answer["errors"].is_null(), "{answer}");
    let uploads = sent_to(&fake, &format!("{WA}/media"), 1);
    assert_eq!(uploads.len(), 1, "one upload: {uploads:?}");
    assert_eq!(uploads[0]["messaging_product"], "whatsapp");
    assert_eq!(uploads[0]["type"], "image/png");
    assert_eq!(uploads[0]["file"]["sha256"], hex::encode(sha2::Sha256::digest(&label)));
    let messages = sent_to(&fake, &format!("{WA}/messages"), 1);
    assert_eq!(messages[0]["type"], "image", "{messages:?}");
    assert_eq!(messages[0]["image"]["caption"], "Ini labelnya, kak");
    assert!(messages[0]["image"]["id"].as_str().is_some_and(|id| !id.is_empty()));
    assert_eq!(messages[0]["to"], CUSTOMER);

    // The customer's own photo, sent back without words.
    let q = format!("mutation {{ reply(conversationId: \"{conversation}\", text: \"\", file: {{ fromMessage: {{ messageId: \"wamid.photo\" }} }}) {{ position }} }}");
    graphql(&base, &key, &q);
    let uploads = sent_to(&fake, &format!("{WA}/media"), 2);
    assert_eq!(
        uploads.get(1).map(|u| u["file"]["sha256"].clone()),
        Some(json!(hex::encode(sha2::Sha256::digest(&photo))))
    );
    let messages = sent_to(&fake, &format!("{WA}/messages"), 2);
    assert!(messages[1]["image"].get("caption").is_none(), "{:?}", messages[1]);

    // Both replies show their file, which the owner can read back.
    let (_, items) = conversation_until(&base, &key, |items| {
        items.iter().filter(|i| i["kind"] == "REPLY" && i["attachments"][0]["state"] == "STORED").count() == 2
    });
    let replies: Vec<&Value> = items.iter().filter(|i| i["kind"] == "REPLY").collect();
    assert_eq!(replies.len(), 2, "{items:?}");
    assert_eq!(replies[0]["attachments"][0]["mime"], "image/png");
    assert_eq!(replies[1]["text"], "[image]", "a file alone reads as what it is");
    let url = format!("{base}{}", replies[0]["attachments"][0]["url"].as_str().expect("a link"));
    assert_eq!(get(&url, None).bytes().expect("bytes").as_ref(), &label[..]);

    // Bad files change nothing: bytes that contradict their type, an unknown earlier file,
    // audio with a caption; and no upload without the preflight header or a key. A file
    // kept before the send refused it is deleted again.
    let kept_files =
        || walk(&dir.path().join("media")).into_iter().filter(|p| !p.starts_with(dir.path().join("media/tmp"))).count();
    let files_before = kept_files();
    let before = fake.requests().len();
    let lie = reply_with_upload(&base, &key, &conversation, "x", label.clone(), "application/pdf");
    assert_eq!(lie["errors"][0]["extensions"]["code"], "BAD_INPUT", "{lie}");
    let q = format!("mutation {{ reply(conversationId: \"{conversation}\", text: \"\", file: {{ fromMessage: {{ messageId: \"wamid.none\" }} }}) {{ position }} }}");
    let body = json!({ "query": q });
    let unknown: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .and_then(|r| r.json())
        .expect("graphql");
    assert_eq!(unknown["errors"][0]["extensions"]["code"], "BAD_INPUT", "{unknown}");
    let voice = reply_with_upload(&base, &key, &conversation, "dengar ya", voice_note(2), "audio/ogg");
    assert_eq!(voice["errors"][0]["extensions"]["code"], "BAD_INPUT", "{voice}");
    let bare = reqwest::blocking::Client::new()
        .post(format!("{base}/graphql/upload"))
        .bearer_auth(&key)
        .multipart(reqwest::blocking::multipart::Form::new().text("operations", "{}"))
        .send()
        .expect("post");
    assert_eq!(bare.status().as_u16(), 415, "no preflight header");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(fake.requests().len(), before, "nothing more went to Meta");
    let (_, after) = conversation_until(&base, &key, |_| true);
    assert_eq!(after.iter().filter(|i| i["kind"] == "REPLY").count(), 2, "nothing was recorded");
    assert_eq!(kept_files(), files_before, "no refused file is left");

    // Refused by the send policy (the customer opted out): the refusal is recorded, the
    // uploaded file is not kept.
    let summary =
        graphql(&base, &key, &format!("{{ conversation(id: \"{conversation}\") {{ summary {{ contactId }} }} }}"));
    let contact = summary["conversation"]["summary"]["contactId"].as_str().expect("contact").to_owned();
    graphql(&base, &key, &format!("mutation {{ optOut(contactId: \"{contact}\") {{ position }} }}"));
    let refused = reply_with_upload(&base, &key, &conversation, "masih mau?", label.clone(), "image/png");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "POLICY_REFUSED", "{refused}");
    assert_eq!(kept_files(), files_before, "the refused reply's file is deleted");
    graphql(&base, &key, &format!("mutation {{ optIn(contactId: \"{contact}\") {{ position }} }}"));

    // Messenger: the file goes up with the message, in one multipart request, without words.
    let messenger = json!({"object": "page", "entry": [{"id": PAGE, "time": 1, "messaging": [{
        "sender": {"id": "PSID-77"}, "recipient": {"id": PAGE}, "timestamp": now_s() * 1000,
        "message": {"mid": "m_in.1", "text": "ada warna lain?"}}]}]})
    .to_string()
    .into_bytes();
    post(&base, &messenger);
    let deadline = Instant::now() + Duration::from_secs(20);
    let page_conversation = loop {
        let inbox = graphql(&base, &key, "{ inbox(first: 5) { edges { node { conversationId channel } } } }");
        let found = inbox["inbox"]["edges"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["node"]["channel"] == "MESSENGER"))
            .and_then(|e| e["node"]["conversationId"].as_str().map(str::to_owned));
        if let Some(id) = found {
            break id;
        }
        assert!(Instant::now() < deadline, "the Messenger conversation did not appear: {inbox}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let captioned = reply_with_upload(&base, &key, &page_conversation, "warna biru", label.clone(), "image/png");
    assert_eq!(captioned["errors"][0]["extensions"]["code"], "BAD_INPUT", "{captioned}");
    assert_eq!(kept_files(), files_before, "the refused caption's file is deleted");
    let answer = reply_with_upload(&base, &key, &page_conversation, "", label.clone(), "image/png");
    assert!(answer["errors"].is_null(), "{answer}");
    let page_sends = sent_to(&fake, &format!("{PAGE}/messages"), 1);
    assert_eq!(page_sends.len(), 1, "{page_sends:?}");
    assert_eq!(page_sends[0]["recipient"]["id"], "PSID-77");
    assert_eq!(page_sends[0]["message"]["attachment"]["type"], "image");
    assert_eq!(page_sends[0]["filedata"]["sha256"], hex::encode(sha2::Sha256::digest(&label)));
    assert_eq!(page_sends[0]["filedata"]["mime"], "image/png");
    server.stop();
}
