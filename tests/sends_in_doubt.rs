//! Sends in doubt through the real `laras serve` (issue 16, ADR 010): the fake Graph API
//! takes a reply and holds its answer while the test SIGKILLs the server. After the
//! restart the send is in doubt: the platform's echo of its reference (a signed status or
//! echo webhook) settles it with no second send; without one, the Partner's policy applies
//! past the bound, and the ledger shows the attempt in doubt and its resolution.

mod common;

use common::*;
use laras_adapters::graph_api::fake::{Answer, FakeGraph, Recorded};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "test-app-secret";
const WA: &str = CHANNEL_ACCOUNTS[0].1;
const MESSENGER: &str = CHANNEL_ACCOUNTS[1].1;
const INSTAGRAM: &str = CHANNEL_ACCOUNTS[2].1;
const THREADS: &str = CHANNEL_ACCOUNTS[3].1;

struct Rig {
    dir: tempfile::TempDir,
    key: String,
    fake: FakeGraph,
    graph: String,
    server: Option<Server>,
    /// The running server's base URL, for threads that post webhooks across restarts.
    base: Arc<Mutex<String>>,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), &["partner", "create", "--name", "Toko Batik Laras"]);
        let created: Value = serde_json::from_slice(&out.stdout).expect("partner create prints JSON");
        let partner = created["partner_id"].as_str().expect("partner id").to_owned();
        let key = created["owner_key"].as_str().expect("owner key").to_owned();
        let (fake, graph) = FakeGraph::start();
        connect_all_channels(dir.path(), &partner, &fake, &graph);
        Rig { dir, key, fake, graph, server: None, base: Arc::new(Mutex::new(String::new())) }
    }

    /// Starts `laras serve` with sends in doubt on WhatsApp, Messenger and Instagram
    /// waiting `bound_s` for their echo.
    fn start(&mut self, bound_s: u64) {
        let bound = bound_s.to_string();
        let env = [
            ("LARAS_META_APP_SECRET", SECRET),
            ("LARAS_META_GRAPH_URL", self.graph.as_str()),
            ("LARAS_THREADS_GRAPH_URL", self.graph.as_str()),
            ("LARAS_OUTBOX_IN_DOUBT_SECONDS", bound.as_str()),
            ("LARAS_OUTBOX_RETRY_BASE_MS", "20"),
            ("LARAS_REQUESTS_PER_KEY_PER_SECOND", "10000"),
            ("LARAS_REQUEST_BURST_PER_KEY", "10000"),
        ];
        let server = Server::start(self.dir.path(), &env);
        *self.base.lock().unwrap() = server.base.clone();
        self.server = Some(server);
    }

    /// SIGKILL: no graceful anything.
    fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            kill9(&server.child);
            let _ = server.child.wait();
            std::mem::forget(server);
        }
    }

    fn base(&self) -> String {
        self.base.lock().unwrap().clone()
    }

    fn gql(&self, query: &str) -> Value {
        graphql(&self.base(), &self.key, query)
    }

    fn webhook(&self, body: &Value) {
        assert_eq!(post_webhook(&self.base(), body), Some(200));
    }

    /// The conversation on `channel`, once the read models show it.
    fn conversation(&self, channel: &str) -> String {
        let q = format!(
            "{{ inbox(first: 5, filter: {{channel: {channel}}}) {{ edges {{ node {{ conversationId }} }} }} }}"
        );
        wait_until(&format!("a {channel} conversation"), || {
            self.gql(&q)["inbox"]["edges"][0]["node"]["conversationId"].as_str().map(str::to_owned)
        })
    }

    /// Asks for a reply through GraphQL; answers the send id.
    fn reply(&self, conversation: &str, text: &str, to: &str) -> String {
        let q =
            format!("mutation {{ reply(conversationId: \"{conversation}\", text: \"{text}\"{to}) {{ id position }} }}");
        self.gql(&q)["reply"]["id"].as_str().expect("send id").to_owned()
    }

    /// The reply's row in its conversation once `done` holds for it.
    fn reply_row(&self, conversation: &str, send: &str, done: impl Fn(&Value) -> bool) -> Value {
        let q = format!(
            "{{ conversation(id: \"{conversation}\") {{ inDoubtPolicy items {{ kind reference ... on Reply {{ delivery attempts inDoubt evidence }} }} }} }}"
        );
        wait_until(&format!("reply {send}"), || {
            let c = self.gql(&q)["conversation"].clone();
            let row = c["items"].as_array()?.iter().find(|i| i["reference"] == send)?.clone();
            done(&row).then(|| json!({"row": row, "policy": c["inDoubtPolicy"]}))
        })
    }

    /// Sends with this reference that reached the fake Graph API.
    fn calls_for(&self, send: &str) -> Vec<Recorded> {
        self.fake.requests().into_iter().filter(|r| reference(r).is_some_and(|s| s.ends_with(send))).collect()
    }

    fn count(&self, event_type: &str) -> i64 {
        count_events(self.dir.path(), event_type, "")
    }
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Posts a signed webhook; `None` when the server is not there.
fn post_webhook(base: &str, body: &Value) -> Option<u16> {
    let bytes = body.to_string().into_bytes();
    reqwest::blocking::Client::new()
        .post(format!("{base}/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(SECRET, &bytes))
        .timeout(Duration::from_secs(10))
        .body(bytes)
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// Where a send's reference travels: WhatsApp `biz_opaque_callback_data`, else `message.metadata`.
fn reference(r: &Recorded) -> Option<String> {
    r.body["biz_opaque_callback_data"].as_str().or_else(|| r.body["message"]["metadata"].as_str()).map(str::to_owned)
}

fn count_events(dir: &Path, event_type: &str, payload_like: &str) -> i64 {
    let conn =
        rusqlite::Connection::open_with_flags(dir.join("ledger.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row(
        "SELECT COUNT(*) FROM events WHERE event_type = ?1 AND CAST(payload AS TEXT) LIKE ?2",
        [event_type, &format!("%{payload_like}%")],
        |r| r.get(0),
    )
    .unwrap()
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn wa_text(from: &str, wamid: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": from}],
        "messages": [{"from": from, "id": wamid, "timestamp": now_s().to_string(), "type": "text", "text": {"body": "ada stok?"}}]}}]}]})
}

/// The status Meta sends for a message, carrying the send's reference back.
fn wa_status(to: &str, wamid: &str, reference: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "statuses": [{"id": wamid, "status": "sent", "timestamp": now_s().to_string(), "recipient_id": to,
                      "biz_opaque_callback_data": reference}]}}]}]})
}

fn page_text(object: &str, account: &str, customer: &str, mid: &str) -> Value {
    json!({"object": object, "entry": [{"id": account, "time": now_s() * 1000, "messaging": [{
        "sender": {"id": customer}, "recipient": {"id": account}, "timestamp": now_s() * 1000,
        "message": {"mid": mid, "text": "masih ada?"}}]}]})
}

/// The echo of a message the account sent, with the send's reference as `metadata`.
fn page_echo(object: &str, account: &str, customer: &str, mid: &str, reference: &str) -> Value {
    json!({"object": object, "entry": [{"id": account, "time": now_s() * 1000, "messaging": [{
        "sender": {"id": account}, "recipient": {"id": customer}, "timestamp": now_s() * 1000,
        "message": {"mid": mid, "is_echo": true, "app_id": 1517776481860111u64, "metadata": reference, "text": "Ada, kak"}}]}]})
}

fn threads_reply(reply_id: &str) -> Value {
    json!({"app_id": "123456", "topic": "moderate", "target_id": THREADS, "time": now_s(), "subscription_id": "234567",
        "has_uid_field": false, "values": {"value": {"id": reply_id, "username": "pembeli", "text": "masih ada?",
        "media_type": "TEXT_POST", "replied_to": {"id": "567890"},
        "root_post": {"id": "123456", "owner_id": THREADS, "username": "toko"}}, "field": "replies"}})
}

/// Asks for a reply while the fake takes it and never answers, then SIGKILLs the server
/// once the fake has it: the attempt is durable, its outcome never will be.
fn leave_in_doubt(rig: &mut Rig, conversation: &str, to: &str, script: Vec<Answer>) -> String {
    let before = rig.fake.requests().len();
    rig.fake.script(script.clone());
    let send = rig.reply(conversation, "Ada, kak", to);
    wait_until("Meta to take the reply", || (rig.fake.requests().len() >= before + script.len()).then_some(()));
    std::thread::sleep(Duration::from_millis(100));
    rig.kill();
    send
}

#[test]
fn a_reply_taken_by_meta_just_before_a_kill_is_settled_by_its_echo_and_never_sent_twice() {
    let mut rig = Rig::new();
    rig.start(3600);
    rig.webhook(&wa_text("16505551234", "wamid.in.1"));
    rig.webhook(&page_text("page", MESSENGER, "PSID-1", "m.in.1"));
    rig.webhook(&page_text("instagram", INSTAGRAM, "IGSID-1", "ig.in.1"));
    let cases = [("WHATSAPP", "16505551234"), ("MESSENGER", "PSID-1"), ("INSTAGRAM", "IGSID-1")];
    for (channel, customer) in cases {
        let conversation = rig.conversation(channel);
        let send = leave_in_doubt(&mut rig, &conversation, "", vec![Answer::AcceptAndHang]);
        rig.start(3600);
        std::thread::sleep(Duration::from_millis(500));
        let calls = rig.calls_for(&send);
        assert_eq!(calls.len(), 1, "{channel}: in doubt, not sent again");
        let reference = reference(&calls[0]).unwrap();
        let echo = match channel {
            "WHATSAPP" => wa_status(customer, &format!("wamid.fake.{}", calls[0].seq), &reference),
            "MESSENGER" => page_echo("page", MESSENGER, customer, &format!("m_fake.{}", calls[0].seq), &reference),
            _ => page_echo("instagram", INSTAGRAM, customer, &format!("m_fake.{}", calls[0].seq), &reference),
        };
        rig.webhook(&echo);
        let found = rig.reply_row(&conversation, &send, |r| r["delivery"] == "SENT");
        let evidence = if channel == "WHATSAPP" { "STATUS_WEBHOOK" } else { "ECHO_WEBHOOK" };
        assert_eq!(found["row"]["inDoubt"], "RESOLVED", "{channel}: {found}");
        assert_eq!(found["row"]["evidence"], evidence, "{channel}: {found}");
        assert_eq!(found["row"]["attempts"], 1, "{channel}");
        assert_eq!(found["policy"], "RESEND_AFTER_BOUND", "{channel}");
        rig.webhook(&echo);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(rig.calls_for(&send).len(), 1, "{channel}: no second send");
    }
    assert_eq!(count_events(rig.dir.path(), "ReplySent", "status_webhook"), 1);
    assert_eq!(count_events(rig.dir.path(), "ReplySent", "echo_webhook"), 2);
    assert_eq!(rig.count("EchoRecorded"), 0, "our own echoes are not the Page's messages");
}

#[test]
fn without_an_echo_the_partners_policy_applies_past_the_bound_and_the_ledger_shows_it() {
    let mut rig = Rig::new();
    rig.start(2);
    rig.webhook(&wa_text("16505551234", "wamid.in.1"));
    rig.webhook(&threads_reply("8901234"));

    // WhatsApp (an echo exists): re-sent after the bound, as a re-send of the attempt in doubt.
    let conversation = rig.conversation("WHATSAPP");
    let send = leave_in_doubt(&mut rig, &conversation, "", vec![Answer::AcceptAndHang]);
    rig.start(2);
    let found = rig.reply_row(&conversation, &send, |r| r["delivery"] == "SENT");
    assert_eq!(found["row"]["inDoubt"], "RESENT", "{found}");
    assert_eq!(found["row"]["attempts"], 2);
    assert_eq!(found["row"]["evidence"], "GRAPH_API_ANSWER");
    assert_eq!(rig.calls_for(&send).len(), 2, "the policy's re-send");
    assert_eq!(count_events(rig.dir.path(), "SendAttemptStarted", "\"resends_in_doubt\":1"), 1);

    // Threads (no echo): held for a person, shown as such, re-sent when a person approves.
    let conversation = rig.conversation("THREADS");
    let to = ", to: {threadsReplyId: \"8901234\"}";
    let publishes = |rig: &Rig| rig.fake.requests().iter().filter(|r| r.path.ends_with("/threads_publish")).count();
    let send = leave_in_doubt(&mut rig, &conversation, to, vec![Answer::Ok, Answer::AcceptAndHang]);
    assert_eq!(publishes(&rig), 1);
    rig.start(2);
    let found = rig.reply_row(&conversation, &send, |r| r["delivery"] == "HELD");
    assert_eq!(found["policy"], "HOLD_FOR_PERSON");
    assert_eq!(found["row"]["inDoubt"], "HELD");
    let held = rig.gql("{ heldSends { conversationId sendId channel attempts text } }");
    assert_eq!(held["heldSends"][0]["sendId"], send.as_str(), "{held}");
    assert_eq!(held["heldSends"][0]["text"], "Ada, kak");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(publishes(&rig), 1, "held: nothing published again");
    rig.gql(&format!(
        "mutation {{ approveResend(conversationId: \"{conversation}\", sendId: \"{send}\") {{ position }} }}"
    ));
    let found = rig.reply_row(&conversation, &send, |r| r["delivery"] == "SENT");
    assert_eq!(found["row"]["inDoubt"], "RESENT_BY_PERSON");
    assert_eq!(publishes(&rig), 2);
    assert_eq!(rig.count("SendHeldInDoubt"), 1);
    assert_eq!(rig.count("InDoubtResendApproved"), 1);
    assert!(rig.gql("{ heldSends { sendId } }")["heldSends"].as_array().unwrap().is_empty());
}

/// Settings of the load run: `LARAS_SENDS_LOAD_KILLS` and `LARAS_SENDS_LOAD_REPLIES`
/// make it longer by hand (the figures in the closing note come from such a run).
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn repeated_sigkills_under_load_send_no_reply_twice() {
    let kills = setting("LARAS_SENDS_LOAD_KILLS", 3);
    let replies = setting("LARAS_SENDS_LOAD_REPLIES", 120);
    let customers = 20;
    let mut rig = Rig::new();
    rig.fake.set_latency(Duration::from_millis(15));
    rig.start(5);
    for c in 0..customers {
        rig.webhook(&wa_text(&format!("62811{c:04}"), &format!("wamid.in.{c}")));
    }
    let q = "{ inbox(first: 100, filter: {channel: WHATSAPP}) { edges { node { conversationId } } } }";
    let conversations: Vec<String> = wait_until("every conversation", || {
        let edges = rig.gql(q)["inbox"]["edges"].as_array().cloned().unwrap_or_default();
        (edges.len() == customers)
            .then(|| edges.iter().filter_map(|e| e["node"]["conversationId"].as_str().map(str::to_owned)).collect())
    });
    let started = Instant::now();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));

    // Meta: a status carrying the reference for every message it took, posted until the
    // server (whichever is running) acknowledges it.
    let meta = {
        let (fake, base, stop) = (rig.fake.clone(), rig.base.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut echoed: HashSet<u64> = HashSet::new();
            loop {
                let done = stop.load(std::sync::atomic::Ordering::SeqCst);
                for r in fake.requests() {
                    let (Some(reference), false) = (reference(&r), echoed.contains(&r.seq)) else { continue };
                    let to = r.body["to"].as_str().unwrap_or_default().to_owned();
                    let url = base.lock().unwrap().clone();
                    if post_webhook(&url, &wa_status(&to, &format!("wamid.fake.{}", r.seq), &reference)) == Some(200) {
                        echoed.insert(r.seq);
                    }
                }
                if done {
                    return echoed.len();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };

    // A person's replies, spread over the conversations; one that was not acknowledged
    // (the server was down) is asked again, as a person would.
    let asked = {
        let (base, key) = (rig.base.clone(), rig.key.clone());
        let conversations = conversations.clone();
        std::thread::spawn(move || {
            let mut acknowledged = 0;
            for n in 0..replies {
                let conversation = &conversations[n % conversations.len()];
                let body = json!({"query": format!(
                    "mutation {{ reply(conversationId: \"{conversation}\", text: \"balasan {n}\") {{ id }} }}")});
                loop {
                    let url = format!("{}/graphql", base.lock().unwrap());
                    let answer = reqwest::blocking::Client::new()
                        .post(url)
                        .bearer_auth(&key)
                        .json(&body)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .ok()
                        .and_then(|r| r.json::<Value>().ok());
                    if answer.is_some_and(|a| a["data"]["reply"]["id"].is_string()) {
                        acknowledged += 1;
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            acknowledged
        })
    };

    let mut restarts = Vec::new();
    for k in 0..kills {
        std::thread::sleep(Duration::from_millis(400 + (k as u64 * 397) % 600));
        rig.kill();
        let t = Instant::now();
        rig.start(5);
        restarts.push(t.elapsed());
    }
    let acknowledged = asked.join().unwrap();
    let requested = wait_until("every request recorded", || {
        let n = rig.count("ReplySendRequested");
        (n >= acknowledged as i64).then_some(n)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while rig.count("ReplySent") + rig.count("ReplySendFailed") < requested && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let echoed = meta.join().unwrap();

    let mut per_send: HashMap<String, usize> = HashMap::new();
    for r in rig.fake.requests() {
        if let Some(reference) = reference(&r) {
            *per_send.entry(reference).or_default() += 1;
        }
    }
    let twice: Vec<_> = per_send.iter().filter(|(_, n)| **n > 1).collect();
    let in_doubt_by_status = count_events(rig.dir.path(), "ReplySent", "status_webhook");
    let resent = count_events(rig.dir.path(), "SendAttemptStarted", "resends_in_doubt");
    let mut restarts_ms: Vec<u128> = restarts.iter().map(Duration::as_millis).collect();
    restarts_ms.sort_unstable();
    eprintln!(
        "sends load: {kills} kills, {requested} replies requested ({acknowledged} acknowledged), {} sent, {} failed, \
         {} calls to Meta, {echoed} echoed, {in_doubt_by_status} settled by a status after a kill, {resent} re-sent by \
         policy, {} sent twice; restart to healthy median {} ms; {:.1} s",
        rig.count("ReplySent"),
        rig.count("ReplySendFailed"),
        rig.fake.requests().len(),
        twice.len(),
        restarts_ms.get(restarts_ms.len() / 2).copied().unwrap_or_default(),
        started.elapsed().as_secs_f64(),
    );
    assert!(twice.is_empty(), "replies sent twice: {twice:?}");
    assert_eq!(rig.count("ReplySent"), requested, "every reply went out once");
    assert_eq!(per_send.len() as i64, requested);
}
