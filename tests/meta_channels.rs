//! Meta channels end to end through `laras serve`: webhooks in, Graph API out (a fake on loopback).

mod common;

use common::*;
use laras_adapters::graph_api::fake::{Answer, FakeGraph};
use std::path::Path;
use std::time::{Duration, Instant};

const SECRET: &str = "test-app-secret";
const VERIFY: &str = "verify-me";
const WA: &str = "106540352242922";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/adapters/tests/fixtures/meta");
const USER: &str = "00000000-0000-0000-0000-0000000000aa";

struct Rig {
    dir: tempfile::TempDir,
    partner: String,
    fake: FakeGraph,
    base: String,
    server: Option<Server>,
}

fn json_field(out: &std::process::Output, field: &str) -> String {
    let text = String::from_utf8_lossy(&out.stdout);
    let value: serde_json::Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|_| panic!("json from {text:?} / {}", String::from_utf8_lossy(&out.stderr)));
    value[field].as_str().unwrap_or_default().to_owned()
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let partner = json_field(&run(dir.path(), &["partner", "create", "--name", "Toko Batik Laras"]), "partner_id");
        let (fake, base) = FakeGraph::start();
        connect_all_channels(dir.path(), &partner, &fake, &base);
        let mut rig = Rig { dir, partner, fake, base, server: None };
        rig.start();
        rig
    }

    fn start(&mut self) {
        let env = [
            ("LARAS_META_APP_SECRET", SECRET),
            ("LARAS_META_VERIFY_TOKEN", VERIFY),
            ("LARAS_META_GRAPH_URL", self.base.as_str()),
            ("LARAS_THREADS_GRAPH_URL", self.base.as_str()),
        ];
        self.server = Some(Server::start(self.dir.path(), &env));
    }

    fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            assert!(s.stop().success());
        }
    }

    fn url(&self) -> String {
        format!("{}/webhooks/meta", self.server.as_ref().map(|s| s.base.clone()).unwrap_or_default())
    }

    fn post(&self, body: &[u8], signature: Option<String>) -> u16 {
        let mut req = reqwest::blocking::Client::new()
            .post(self.url())
            .header("content-type", "application/json")
            .body(body.to_vec());
        if let Some(sig) = signature {
            req = req.header("x-hub-signature-256", sig);
        }
        req.send().unwrap().status().as_u16()
    }

    fn post_signed(&self, body: &[u8]) -> u16 {
        self.post(body, Some(meta_signature(SECRET, body)))
    }

    fn post_fixture(&self, name: &str) -> u16 {
        self.post_signed(&std::fs::read(format!("{FIXTURES}/{name}.json")).unwrap())
    }

    fn count(&self, event_type: &str) -> i64 {
        count(self.dir.path(), event_type)
    }

    fn wait_for(&self, event_type: &str, at_least: i64) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let n = self.count(event_type);
            if n >= at_least || Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn conversation(&self, channel: &str) -> String {
        let out = run(self.dir.path(), &["conversations", "--partner", &self.partner]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["channel"] == channel)
            .and_then(|v| v["conversation_id"].as_str().map(str::to_owned))
            .unwrap_or_else(|| panic!("a {channel} conversation in {text}"))
    }

    /// Records a person's reply while the server is stopped, then starts it again.
    fn reply(&mut self, channel: &str, text: &str) -> (i32, String) {
        self.reply_to(channel, text, None)
    }

    /// The same, as Instagram's private reply to `comment` when given.
    fn reply_to(&mut self, channel: &str, text: &str, comment: Option<&str>) -> (i32, String) {
        let conversation = self.conversation(channel);
        self.stop();
        let mut args =
            vec!["reply", "--partner", &self.partner, "--conversation", &conversation, "--user", USER, "--text", text];
        if let Some(c) = comment {
            args.extend(["--comment", c]);
        }
        let out = run(self.dir.path(), &args);
        self.start();
        (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).to_string())
    }
}

fn count(dir: &Path, event_type: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(dir.join("ledger.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT COUNT(*) FROM events WHERE event_type = ?1", [event_type], |r| r.get(0)).unwrap()
}

fn wa_text(wamid: &str, text: &str) -> Vec<u8> {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}],
        "messages": [{"from": "16505551234", "id": wamid, "timestamp": chrono_now(), "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes()
}

fn wa_status(wamid: &str, status: &str) -> Vec<u8> {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "statuses": [{"id": wamid, "status": status, "timestamp": chrono_now(), "recipient_id": "16505551234"}]}}]}]})
    .to_string()
    .into_bytes()
}

/// Now, in Unix seconds (a customer message inside the service window).
fn chrono_now() -> String {
    seconds_ago(0).to_string()
}

fn seconds_ago(s: u64) -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - s
}

fn messenger_text(mid: &str, psid: &str, sent_seconds_ago: u64) -> Vec<u8> {
    serde_json::json!({"object": "page", "entry": [{"id": "109876543210987", "time": 1, "messaging": [{
        "sender": {"id": psid}, "recipient": {"id": "109876543210987"}, "timestamp": seconds_ago(sent_seconds_ago) * 1000,
        "message": {"mid": mid, "text": "masih ada?"}}]}]})
    .to_string()
    .into_bytes()
}

const DAY: u64 = 86_400;

#[test]
fn the_handshake_answers_the_challenge_only_with_the_right_token() {
    let rig = Rig::new();
    let ok = reqwest::blocking::get(format!(
        "{}?hub.mode=subscribe&hub.verify_token={VERIFY}&hub.challenge=1158201444",
        rig.url()
    ))
    .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    assert_eq!(ok.text().unwrap(), "1158201444");
    let bad = reqwest::blocking::get(format!("{}?hub.mode=subscribe&hub.verify_token=nope&hub.challenge=1", rig.url()))
        .unwrap();
    assert_eq!(bad.status().as_u16(), 403);
}

#[test]
fn unsigned_wrongly_signed_and_oversized_posts_are_refused_and_record_nothing() {
    let rig = Rig::new();
    let body = wa_text("wamid.unsigned", "halo");
    let before = rig.count("InboundMessageReceived");
    assert_eq!(rig.post(&body, None), 401);
    assert_eq!(rig.post(&body, Some(meta_signature("wrong-secret", &body))), 401);
    assert_eq!(rig.post(&body, Some("sha256=zz".into())), 401);
    let huge = vec![b' '; 3 * 1024 * 1024 + 1];
    assert_eq!(rig.post(&huge, Some(meta_signature(SECRET, &huge))), 413);
    assert_eq!(rig.count("InboundMessageReceived"), before);
}

#[test]
fn every_payload_kind_is_acknowledged_and_recorded() {
    let rig = Rig::new();
    let fixtures = [
        "wa_text",
        "wa_image",
        "wa_voice",
        "wa_document",
        "wa_video",
        "wa_sticker",
        "wa_location",
        "wa_contacts",
        "wa_interactive_button",
        "wa_interactive_list",
        "wa_button",
        "wa_reaction",
        "wa_quoted_reply",
        "wa_unsupported",
        "wa_two_messages",
        "messenger_text",
        "messenger_attachment",
        "messenger_postback",
        "messenger_echo",
        "messenger_delivery_read",
        "instagram_dm",
        "instagram_comment",
        "instagram_live_comment",
        "threads_reply",
        "wa_statuses",
        "unknown_object",
        "whatsapp_account_update",
    ];
    for f in fixtures {
        assert_eq!(rig.post_fixture(f), 200, "{f}");
    }
    assert_eq!(rig.count("InboundMessageReceived"), 13 + 2 + 2 + 1 + 1 + 1, "WhatsApp 15, Messenger 3, Instagram DM 1");
    assert_eq!(rig.count("MessageReacted"), 1, "a reaction is not a message");
    assert_eq!(rig.count("PublicCommentReceived"), 3, "two Instagram comments and a Threads reply");
    assert_eq!(rig.count("EchoRecorded"), 1);
    assert_eq!(rig.count("DeliveryStatusChanged"), 3, "WhatsApp delivered then read, Messenger delivered");
    // Redelivering everything records nothing new.
    let total = count_all(rig.dir.path());
    for f in fixtures {
        assert_eq!(rig.post_fixture(f), 200, "{f} again");
    }
    assert_eq!(count_all(rig.dir.path()), total);
}

fn count_all(dir: &Path) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(dir.join("ledger.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap()
}

#[test]
fn concurrent_copies_of_a_delivery_are_recorded_once() {
    let rig = Rig::new();
    let body = wa_text("wamid.concurrent", "sama");
    let url = rig.url();
    let sig = meta_signature(SECRET, &body);
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (url, body, sig) = (url.clone(), body.clone(), sig.clone());
            std::thread::spawn(move || {
                reqwest::blocking::Client::new()
                    .post(url)
                    .header("x-hub-signature-256", sig)
                    .body(body)
                    .send()
                    .unwrap()
                    .status()
                    .as_u16()
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    assert_eq!(rig.count("InboundMessageReceived"), 1);
}

#[test]
fn statuses_out_of_order_move_forward_only() {
    let rig = Rig::new();
    assert_eq!(rig.post_signed(&wa_text("wamid.in", "halo")), 200);
    assert_eq!(rig.post_signed(&wa_status("wamid.out", "read")), 200);
    assert_eq!(rig.post_signed(&wa_status("wamid.out", "delivered")), 200);
    assert_eq!(rig.post_signed(&wa_status("wamid.out", "sent")), 200);
    assert_eq!(rig.count("DeliveryStatusChanged"), 1);
    assert_eq!(rig.post_fixture("wa_status_failed_131050"), 200);
    assert_eq!(rig.count("OptedOut"), 1, "131050 is a marketing opt-out signal");
}

#[test]
fn a_webhook_for_an_unknown_account_is_acknowledged_and_recorded_nowhere() {
    let rig = Rig::new();
    let body = String::from_utf8(wa_text("wamid.other", "halo")).unwrap().replace(WA, "999999999");
    let before = count_all(rig.dir.path());
    assert_eq!(rig.post_signed(body.as_bytes()), 200);
    assert_eq!(count_all(rig.dir.path()), before);
}

#[test]
fn a_reply_goes_out_through_the_graph_api_and_stop_opts_out() {
    let mut rig = Rig::new();
    assert_eq!(rig.post_signed(&wa_text("wamid.q", "Ada warna lain?")), 200);
    let (code, out) = rig.reply("whatsapp", "Ada, kak: merah dan biru.");
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.wait_for("ReplySent", 1), 1);
    let sent = rig.fake.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, format!("/v21.0/{WA}/messages"));
    assert_eq!(sent[0].authorization.as_deref(), Some("Bearer TOKEN-whatsapp"));
    assert_eq!(sent[0].body["to"], "16505551234");
    assert_eq!(sent[0].body["text"]["body"], "Ada, kak: merah dan biru.");

    assert_eq!(rig.post_signed(&wa_text("wamid.stop", "STOP")), 200);
    assert_eq!(rig.count("OptedOut"), 1);
    let (code, out) = rig.reply("whatsapp", "promo!");
    assert_eq!(code, 3, "refused: {out}");
    assert!(out.contains("opted out"), "{out}");
    assert_eq!(rig.count("SendRefused"), 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rig.fake.requests().len(), 1, "nothing more was sent");
}

#[test]
fn an_expired_token_fails_the_send_and_stops_the_channel() {
    let mut rig = Rig::new();
    assert_eq!(rig.post_signed(&wa_text("wamid.q", "halo")), 200);
    rig.fake.script([Answer::Error { status: 401, code: 190, title: "Error validating access token" }]);
    let (code, _) = rig.reply("whatsapp", "hai");
    assert_eq!(code, 0);
    assert_eq!(rig.wait_for("ChannelNeedsReauthorisation", 1), 1);
    assert_eq!(rig.count("ReplySendFailed"), 1);
    let (code, out) = rig.reply("whatsapp", "hai lagi");
    assert_eq!(code, 3);
    assert!(out.contains("re-authorisation"), "{out}");
}

#[test]
fn rate_limits_are_retried_until_the_send_goes_out() {
    let mut rig = Rig::new();
    assert_eq!(rig.post_signed(&wa_text("wamid.q", "halo")), 200);
    rig.fake.script([
        Answer::RateLimited { retry_after_s: 0 },
        Answer::Error { status: 502, code: 2, title: "bad gateway" },
    ]);
    assert_eq!(rig.reply("whatsapp", "sebentar ya").0, 0);
    assert_eq!(rig.wait_for("ReplySent", 1), 1);
    assert_eq!(rig.fake.requests().len(), 3);
}

#[test]
fn without_an_app_secret_the_webhook_routes_are_not_started() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let status = reqwest::blocking::Client::new()
        .post(format!("{}/webhooks/meta", server.base))
        .body("{}")
        .send()
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 404);
}

#[test]
fn outside_the_24_hour_window_whatsapp_needs_a_template() {
    let mut rig = Rig::new();
    let old = String::from_utf8(wa_text("wamid.old", "halo"))
        .unwrap()
        .replace(&chrono_now(), &seconds_ago(2 * DAY).to_string());
    assert_eq!(rig.post_signed(old.as_bytes()), 200);
    let (code, out) = rig.reply("whatsapp", "maaf telat");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("needs an approved template"), "{out}");
    assert!(rig.fake.requests().is_empty());
}

#[test]
fn on_messenger_a_person_replies_with_the_human_agent_tag_for_up_to_7_days() {
    let mut rig = Rig::new();
    assert_eq!(rig.post_signed(&messenger_text("m_old", "PSID1", 3 * DAY)), 200);
    assert_eq!(rig.reply("messenger", "Halo, masih ada").0, 0);
    assert_eq!(rig.wait_for("ReplySent", 1), 1);
    let sent = &rig.fake.requests()[0];
    assert_eq!(sent.body["messaging_type"], "MESSAGE_TAG");
    assert_eq!(sent.body["tag"], "HUMAN_AGENT");
    assert_eq!(sent.body["recipient"]["id"], "PSID1");

    let mut rig = Rig::new();
    assert_eq!(rig.post_signed(&messenger_text("m_older", "PSID2", 8 * DAY)), 200);
    let (code, out) = rig.reply("messenger", "Halo?");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("human-agent window closed"), "{out}");
}

#[test]
fn an_instagram_comment_gets_one_private_reply() {
    let mut rig = Rig::new();
    assert_eq!(rig.post_fixture("instagram_comment"), 200);
    assert_eq!(rig.reply_to("instagram", "Cek DM ya kak", Some("17865799348089039")).0, 0);
    assert_eq!(rig.wait_for("ReplySent", 1), 1);
    assert_eq!(rig.fake.requests()[0].body["recipient"]["comment_id"], "17865799348089039");
    let (code, out) = rig.reply_to("instagram", "Sekali lagi", Some("17865799348089039"));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("already has its private reply"), "{out}");
}

#[test]
fn nothing_is_sent_on_a_disconnected_channel() {
    let mut rig = Rig::new();
    assert_eq!(rig.post_signed(&wa_text("wamid.q", "halo")), 200);
    rig.stop();
    let out = run(rig.dir.path(), &["channel", "disconnect", "--partner", &rig.partner, "--kind", "whatsapp"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    rig.start();
    let (code, out) = rig.reply("whatsapp", "hai");
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("not connected"), "{out}");
    assert_eq!(rig.post_signed(&wa_text("wamid.after", "halo?")), 200, "acknowledged");
    assert_eq!(rig.count("InboundMessageReceived"), 1, "but no longer routed to the partner");
}

#[test]
fn another_partner_cannot_take_over_a_connected_number_from_the_cli() {
    let mut rig = Rig::new();
    rig.stop();
    let intruder = json_field(&run(rig.dir.path(), &["partner", "create", "--name", "Intruder"]), "partner_id");
    let connect = |token: &str| {
        laras(rig.dir.path())
            .args(["channel", "connect", "--partner", &intruder, "--kind", "whatsapp", "--account", WA])
            .args(["--meta-graph-url", &rig.base])
            .env("LARAS_CHANNEL_TOKEN", token)
            .output()
            .unwrap()
    };
    // A made-up token: the Graph API says 190; nothing is recorded.
    let before = count_all(rig.dir.path());
    let out = connect("made-up");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(count_all(rig.dir.path()), before);
    // A token the platform accepts for the number: still refused, and the refusal recorded.
    rig.fake.vouch("TOKEN-intruder", WA);
    let out = connect("TOKEN-intruder");
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("account_held_elsewhere"));
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&rig.partner), "the holder is not named");
    assert_eq!(rig.count("ChannelConnectRefused"), 1);

    // The number's webhooks still reach the Partner that holds it, and only it.
    rig.start();
    assert_eq!(rig.post_signed(&wa_text("wamid.after-takeover", "pesanan saya?")), 200);
    rig.conversation("whatsapp");
    let theirs = run(rig.dir.path(), &["conversations", "--partner", &intruder]);
    assert!(String::from_utf8_lossy(&theirs.stdout).trim().is_empty(), "the intruder sees nothing");
    // The holder replies with its own token, not the intruder's.
    let (code, out) = rig.reply("whatsapp", "Sudah dikirim, kak.");
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.wait_for("ReplySent", 1), 1);
    assert_eq!(rig.fake.requests()[0].authorization.as_deref(), Some("Bearer TOKEN-whatsapp"));

    // The claims (a system stream) keep the whole log verifiable, and the intruder's
    // bundle holds its refusal and nothing of the claims.
    rig.stop();
    let verified = run(rig.dir.path(), &["verify"]);
    assert!(verified.status.success(), "{}", String::from_utf8_lossy(&verified.stdout));
    let bundle = rig.dir.path().join("intruder-bundle");
    let out = run(rig.dir.path(), &["export", "--partner", &intruder, "--out", bundle.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let audit = laras(rig.dir.path()).args(["audit", "verify"]).arg(&bundle).output().unwrap();
    assert!(audit.status.success(), "{}", String::from_utf8_lossy(&audit.stdout));
    let records = std::fs::read(bundle.join("envelopes.bin")).unwrap();
    let text = String::from_utf8_lossy(&records);
    assert!(text.contains("ChannelConnectRefused"));
    assert!(!text.contains("ChannelAccountClaimed") && !text.contains(&rig.partner));
}

#[test]
fn the_owner_reconnects_its_number_with_a_new_token_from_the_cli() {
    let mut rig = Rig::new();
    rig.stop();
    rig.fake.vouch("TOKEN-renewed", WA);
    let out = laras(rig.dir.path())
        .args(["channel", "connect", "--partner", &rig.partner, "--kind", "whatsapp", "--account", WA])
        .args(["--meta-graph-url", &rig.base])
        .env("LARAS_CHANNEL_TOKEN", "TOKEN-renewed")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rig.count("ChannelConnected"), 5, "four channels, and the fresh proof");
    assert_eq!(rig.count("ChannelAccountClaimed"), 4, "the claim is not repeated");
    rig.start();
    assert_eq!(rig.post_signed(&wa_text("wamid.q2", "Ada warna lain?")), 200);
    let (code, out) = rig.reply("whatsapp", "Ada.");
    assert_eq!(code, 0, "{out}");
    assert_eq!(rig.wait_for("ReplySent", 1), 1);
    assert_eq!(rig.fake.requests()[0].authorization.as_deref(), Some("Bearer TOKEN-renewed"));
}
