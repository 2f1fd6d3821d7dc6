//! Every kind of customer signal, end to end through `laras serve`: Meta's documented
//! payloads posted signed, read back through GraphQL.

mod common;

use common::*;
use laras_adapters::graph_api::fake::FakeGraph;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "test-app-secret";
const WA: &str = "106540352242922";
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/adapters/tests/fixtures/meta");

struct Rig {
    dir: tempfile::TempDir,
    key: String,
    server: Server,
    /// Vouches for the channels' tokens when they are connected (and answers sends).
    _fake: FakeGraph,
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let out = run(dir.path(), &["partner", "create", "--name", "Toko Batik Laras"]);
        let created: Value =
            serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
        let partner = created["partner_id"].as_str().unwrap().to_owned();
        let key = created["owner_key"].as_str().unwrap().to_owned();
        let (fake, base) = FakeGraph::start();
        connect_all_channels(dir.path(), &partner, &fake, &base);
        let server = Server::start(
            dir.path(),
            &[("LARAS_META_APP_SECRET", SECRET), ("LARAS_META_GRAPH_URL", &base), ("LARAS_THREADS_GRAPH_URL", &base)],
        );
        Rig { dir, key, server, _fake: fake }
    }

    fn post(&self, body: &[u8]) {
        let status = reqwest::blocking::Client::new()
            .post(format!("{}/webhooks/meta", self.server.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", meta_signature(SECRET, body))
            .body(body.to_vec())
            .send()
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }

    fn post_fixture(&self, name: &str) {
        self.post(&std::fs::read(format!("{FIXTURES}/{name}.json")).unwrap());
    }

    fn graphql(&self, query: &str) -> Value {
        let answer: Value = reqwest::blocking::Client::new()
            .post(format!("{}/graphql", self.server.base))
            .bearer_auth(&self.key)
            .json(&json!({ "query": query }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert!(answer["errors"].is_null(), "{answer}");
        answer["data"].clone()
    }

    fn count(&self, event_type: &str) -> i64 {
        let conn = rusqlite::Connection::open_with_flags(
            self.dir.path().join("ledger.sqlite"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .unwrap();
        conn.query_row("SELECT COUNT(*) FROM events WHERE event_type = ?1", [event_type], |r| r.get(0)).unwrap()
    }

    /// Waits until the read models show what `check` looks for (they follow the log).
    fn eventually<T>(&self, what: &str, mut check: impl FnMut(&Rig) -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = check(self) {
                return found;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn inbox(&self, channel: &str) -> Vec<Value> {
        let data = self.graphql(&format!(
            "{{ inbox(first: 50, filter: {{channel: {}}}) {{ edges {{ node {{ conversationId contactId unread lastMessage lastMessageAt }} }} }} }}",
            channel.to_uppercase()
        ));
        data["inbox"]["edges"].as_array().unwrap().iter().map(|e| e["node"].clone()).collect()
    }

    fn items(&self, conversation: &str) -> Vec<Value> {
        let data = self.graphql(&format!(
            "{{ conversation(id: \"{conversation}\") {{ items {{ kind reference text ... on InboundMessage {{ standby reaction }} ... on Echo {{ reaction }} ... on Reply {{ reaction }} }} }} }}"
        ));
        data["conversation"]["items"].as_array().unwrap().clone()
    }

    fn timeline(&self, contact: &str) -> Vec<Value> {
        let data = self.graphql(&format!("{{ contact(id: \"{contact}\") {{ timeline {{ kind summary }} }} }}"));
        data["contact"]["timeline"].as_array().unwrap().clone()
    }
}

fn wa(messages: Value, contacts: Value) -> Vec<u8> {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": contacts, "messages": messages}}]}]})
    .to_string()
    .into_bytes()
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn text_of(items: &[Value], reference: &str) -> String {
    items.iter().find(|i| i["reference"] == reference).map(|i| i["text"].to_string()).unwrap_or_default()
}

#[test]
fn whatsapp_signals_keep_what_they_are_and_land_on_the_right_contact() {
    let rig = Rig::new();
    let sent = now_s() - 3 * 3600;
    let contact = json!([{"profile": {"name": "Sheena"}, "wa_id": "16505551234", "user_id": "US.1349120865"}]);
    rig.post(&wa(
        json!([{"from": "16505551234", "id": "wamid.T1", "timestamp": sent.to_string(), "type": "text", "text": {"body": "Ada warna lain?"}}]),
        contact,
    ));
    let conv = rig.eventually("the first message", |r| r.inbox("whatsapp").first().cloned());
    let (id, contact_id) =
        (conv["conversationId"].as_str().unwrap().to_owned(), conv["contactId"].as_str().unwrap().to_owned());
    // The inbox orders by when the customer wrote, not when Laras received it.
    let at = chrono_like(sent);
    assert_eq!(conv["lastMessageAt"].as_str().unwrap(), at, "lastMessageAt is the platform's time");

    // A reaction attaches to its message: not a message, not unread; an empty one takes it back.
    rig.post(&wa(
        json!([{"from": "16505551234", "id": "wamid.R1", "timestamp": now_s().to_string(), "type": "reaction",
        "reaction": {"message_id": "wamid.T1", "emoji": "👍"}}]),
        json!([]),
    ));
    rig.eventually("the reaction", |r| r.items(&id).iter().find(|i| i["reaction"] == "👍").map(|_| ()));
    assert_eq!(rig.inbox("whatsapp")[0]["unread"], 1);
    assert_eq!(rig.count("InboundMessageReceived"), 1);
    rig.post(&wa(
        json!([{"from": "16505551234", "id": "wamid.R2", "timestamp": now_s().to_string(), "type": "reaction",
        "reaction": {"message_id": "wamid.T1", "emoji": ""}}]),
        json!([]),
    ));
    rig.eventually("the reaction removed", |r| r.items(&id).iter().all(|i| i["reaction"].is_null()).then_some(()));

    // Only a business-scoped id: the same contact, the same conversation; a group id kept.
    rig.post(&wa(
        json!([{"from_user_id": "US.1349120865", "group_id": "Y2FwaV9ncm91cDox", "id": "wamid.B1",
        "timestamp": now_s().to_string(), "type": "text", "text": {"body": "Saya pesan dua"}}]),
        json!([{"profile": {"name": "Sheena"}, "user_id": "US.1349120865"}]),
    ));
    rig.eventually("the BSUID message", |r| r.items(&id).iter().any(|i| i["reference"] == "wamid.B1").then_some(()));

    // The customer changed number: the new number is the same contact, and the timeline says so.
    rig.post_fixture("wa_system_changed_number");
    rig.post(&wa(
        json!([{"from": "12195555358", "id": "wamid.N1", "timestamp": now_s().to_string(), "type": "text",
        "text": {"body": "Nomor baru saya"}}]),
        json!([{"profile": {"name": "Sheena"}, "wa_id": "12195555358"}]),
    ));
    rig.eventually("the new number's message", |r| {
        r.items(&id).iter().any(|i| i["reference"] == "wamid.N1").then_some(())
    });
    assert_eq!(rig.inbox("whatsapp").len(), 1, "one customer, one conversation");
    let timeline = rig.timeline(&contact_id);
    assert!(timeline.iter().any(|e| e["kind"] == "IDENTITY_CHANGED"), "{timeline:?}");
    assert!(rig.items(&id).iter().all(|i| !i["text"].to_string().contains("[system]")));

    // Flow replies, orders and ad referrals keep what they carry.
    rig.post_fixture("wa_flow_reply");
    rig.post_fixture("wa_order");
    rig.post_fixture("wa_referral");
    // The fixtures' sender is the same customer (16505551234): the same conversation.
    let items = rig.eventually("the three fixture messages", |r| {
        Some(r.items(&id)).filter(|i| {
            ["wamid.FLOW", "wamid.ORDER", "wamid.REFERRAL"].iter().all(|m| i.iter().any(|x| x["reference"] == *m))
        })
    });
    assert!(text_of(&items, "wamid.FLOW").contains("size: M"), "{items:?}");
    assert!(text_of(&items, "wamid.ORDER").contains("2 × di9ozbzfi4 at 30.5 USD"), "{items:?}");
    let timeline = rig.timeline(&contact_id);
    assert!(
        timeline.iter().any(|e| e["kind"] == "REFERRAL" && e["summary"].to_string().contains("Summer sale")),
        "{timeline:?}"
    );

    // One unreadable item loses only itself.
    let before = rig.count("InboundMessageReceived");
    rig.post_fixture("wa_one_bad_item");
    rig.eventually("the two readable messages", |r| (r.count("InboundMessageReceived") == before + 2).then_some(()));
}

#[test]
fn messenger_instagram_and_threads_signals_are_recorded_as_what_they_are() {
    let rig = Rig::new();
    rig.post_fixture("messenger_postback_string_time");
    rig.post_fixture("messenger_handover");
    rig.post_fixture("instagram_story_and_reactions");
    rig.post_fixture("threads_mention");
    let conv = rig.eventually("the messenger conversation", |r| r.inbox("messenger").first().cloned());
    let id = conv["conversationId"].as_str().unwrap();
    let items = rig.eventually("the messenger items", |r| Some(r.items(id)).filter(|i| i.len() >= 3));
    assert!(text_of(&items, "postback:24012345678901234:1527459824").contains("Talk to an agent"), "{items:?}");
    assert!(text_of(&items, "m_no_title").contains("GET_STARTED"), "a postback without a title shows its payload");
    let standby = items.iter().find(|i| i["reference"] == "m_standby").unwrap();
    assert_eq!(standby["standby"], true, "another app held the thread: {standby}");
    assert_eq!(rig.count("ThreadControlChanged"), 2);

    let ig = rig.eventually("the instagram conversation", |r| r.inbox("instagram").first().cloned());
    let items = rig.eventually("the instagram items", |r| {
        Some(r.items(ig["conversationId"].as_str().unwrap())).filter(|i| i.len() >= 3)
    });
    assert!(text_of(&items, "aWdf_STORYREPLY").contains("[story reply] Love this!"), "{items:?}");
    assert!(text_of(&items, "aWdf_MENTION").contains("[story mention]"), "{items:?}");
    assert!(text_of(&items, "aWdf_ECHO").contains("[ig_reel] New batik collection"), "{items:?}");
    assert_eq!(rig.count("MessageReacted"), 1, "the Instagram reaction");

    rig.eventually("the Threads mention", |r| (r.count("PublicCommentReceived") == 1).then_some(()));
    let threads = rig.inbox("threads");
    assert!(threads[0]["lastMessage"].to_string().contains("Check out @toko_batik"), "{threads:?}");
}

/// GraphQL's time format for a Unix time in seconds (RFC 3339, UTC, milliseconds).
fn chrono_like(seconds: i64) -> String {
    laras_domain::time::Timestamp::from_seconds(seconds).to_string()
}
