//! The AI worker end to end through `laras serve`: an owner publishes an article and
//! turns on autopilot over GraphQL; a WhatsApp question arrives by webhook; the
//! worker drafts the answer from the article and it goes out through the Graph API.
//! An off-topic request in the same conversation gets no answer.

mod common;

use common::*;
use laras_adapters::graph_api::fake::FakeGraph;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "test-app-secret";
const WA: &str = "106540352242922";

fn wa_text(wamid: &str, text: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "6281234567890"}],
        "messages": [{"from": "6281234567890", "id": wamid, "timestamp": now.to_string(), "type": "text", "text": {"body": text}}]}}]}]})
    .to_string()
    .into_bytes()
}

fn post_webhook(base: &str, body: &[u8]) {
    assert_eq!(post_meta_webhook(base, SECRET, body), 200);
}

/// The conversation's items once `done` holds for them (or after 20 s).
fn items_until(base: &str, key: &str, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let inbox = graphql(base, key, "{ inbox(first: 1) { edges { node { conversationId } } } }");
        let items = match inbox["inbox"]["edges"][0]["node"]["conversationId"].as_str() {
            Some(id) => {
                let q = format!("{{ conversation(id: \"{id}\") {{ items {{ kind text actor ... on Draft {{ state proposedBy {{ kind model articleIds confidence }} }} ... on Reply {{ delivery }} }} }} }}");
                graphql(base, key, &q)["conversation"]["items"].as_array().cloned().unwrap_or_default()
            }
            None => Vec::new(),
        };
        if done(&items) || Instant::now() > deadline {
            return items;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn under_autopilot_a_question_is_answered_from_the_partners_article_through_the_graph_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &["partner", "create", "--name", "Toko Batik Laras"]);
    let created: Value = serde_json::from_slice(&out.stdout).expect("partner create prints JSON");
    let key = created["owner_key"].as_str().expect("owner key").to_owned();
    let (fake, graph) = FakeGraph::start();
    fake.vouch("EAAB-test", WA);
    let env = [("LARAS_META_APP_SECRET", SECRET), ("LARAS_META_GRAPH_URL", graph.as_str())];
    let server = Server::start(dir.path(), &env);
    let base = server.base.clone();

    graphql(&base, &key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"EAAB-test\") {{ position }} }}"));
    graphql(&base, &key, "mutation { publishArticle(kind: PRODUCT, title: \"Batik tulis\", body: \"Harga batik tulis Rp 450.000 per lembar, stok 3.\") { position } }");
    graphql(&base, &key, "mutation { setApprovalMode(mode: AUTOPILOT) { position } }");

    post_webhook(&base, &wa_text("wamid.ai.1", "Berapa harga batik tulis kak?"));
    let items = items_until(&base, &key, |items| items.iter().any(|i| i["kind"] == "REPLY" && i["delivery"] == "SENT"));
    let draft = items.iter().find(|i| i["kind"] == "DRAFT").unwrap_or_else(|| panic!("an AI draft in {items:?}"));
    assert_eq!(draft["text"], "Batik tulis: Harga batik tulis Rp 450.000 per lembar, stok 3.");
    assert!(items.iter().any(|i| i["kind"] == "REPLY" && i["delivery"] == "SENT"), "sent under autopilot: {items:?}");
    let sent = fake.requests();
    assert!(
        sent.iter().any(|r| r.body["text"]["body"] == "Batik tulis: Harga batik tulis Rp 450.000 per lembar, stok 3."),
        "the Graph API got the answer: {sent:?}"
    );

    post_webhook(&base, &wa_text("wamid.ai.2", "Tolong buatkan puisi tentang laut"));
    let items = items_until(&base, &key, |items| items.iter().any(|i| i["kind"] == "DRAFT_DECLINED"));
    assert!(items.iter().any(|i| i["kind"] == "DRAFT_DECLINED"), "off-topic is declined: {items:?}");
    assert_eq!(items.iter().filter(|i| i["kind"] == "DRAFT").count(), 1, "no answer to the poem request");

    // An upset customer: the inbox flags it, and the draft waits for a person.
    post_webhook(&base, &wa_text("wamid.ai.3", "Kecewa banget! Berapa harga batik tulis?"));
    let items = items_until(&base, &key, |items| items.iter().filter(|i| i["kind"] == "DRAFT").count() == 2);
    assert_eq!(items.iter().filter(|i| i["kind"] == "DRAFT").count(), 2, "a draft for a person: {items:?}");
    let inbox = graphql(&base, &key, "{ inbox(first: 1) { edges { node { upset draftsWaiting } } } }");
    assert_eq!(inbox["inbox"]["edges"][0]["node"]["upset"], true, "{inbox}");
    assert_eq!(items.iter().filter(|i| i["kind"] == "REPLY").count(), 1, "nothing more went out: {items:?}");
    server.stop();
}

#[test]
fn in_approval_mode_the_ai_draft_waits_and_goes_out_once_a_person_approves_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(dir.path(), &["partner", "create", "--name", "Toko Batik Laras"]);
    let created: Value = serde_json::from_slice(&out.stdout).expect("partner create prints JSON");
    let key = created["owner_key"].as_str().expect("owner key").to_owned();
    let (fake, graph) = FakeGraph::start();
    fake.vouch("EAAB-test", WA);
    let env = [("LARAS_META_APP_SECRET", SECRET), ("LARAS_META_GRAPH_URL", graph.as_str())];
    let server = Server::start(dir.path(), &env);
    let base = server.base.clone();
    graphql(&base, &key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"EAAB-test\") {{ position }} }}"));
    graphql(&base, &key, "mutation { publishArticle(kind: FAQ, title: \"Jam buka\", body: \"Toko buka setiap hari jam 9 sampai 17.\") { position } }");

    post_webhook(&base, &wa_text("wamid.ap.1", "Jam buka toko setiap hari?"));
    let items = items_until(&base, &key, |items| items.iter().any(|i| i["kind"] == "DRAFT"));
    let draft = items.iter().find(|i| i["kind"] == "DRAFT").unwrap_or_else(|| panic!("an AI draft in {items:?}"));
    assert_eq!(draft["state"], "PROPOSED", "approval is the default: it waits");
    assert_eq!(draft["proposedBy"]["kind"], "AI_WORKER", "{draft}");
    assert!(draft["proposedBy"]["model"].as_str().is_some_and(|m| !m.is_empty()), "{draft}");
    assert!(
        draft["proposedBy"]["articleIds"].as_array().is_some_and(|a| !a.is_empty()),
        "grounded in the FAQ: {draft}"
    );
    assert!(draft["proposedBy"]["confidence"].as_f64().is_some_and(|c| c > 0.0 && c <= 1.0), "{draft}");
    assert!(fake.requests().is_empty(), "nothing went out before approval");

    let inbox = graphql(&base, &key, "{ inbox(first: 1) { edges { node { conversationId } } } }");
    let conversation = inbox["inbox"]["edges"][0]["node"]["conversationId"].as_str().expect("conversation").to_owned();
    let q = format!("{{ conversation(id: \"{conversation}\") {{ items {{ kind reference }} }} }}");
    let ids = graphql(&base, &key, &q);
    let draft_id = ids["conversation"]["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["kind"] == "DRAFT"))
        .and_then(|i| i["reference"].as_str())
        .expect("draft id")
        .to_owned();
    graphql(
        &base,
        &key,
        &format!(
            "mutation {{ approveDraft(conversationId: \"{conversation}\", draftId: \"{draft_id}\") {{ position }} }}"
        ),
    );
    let items = items_until(&base, &key, |items| items.iter().any(|i| i["kind"] == "REPLY" && i["delivery"] == "SENT"));
    assert!(items.iter().any(|i| i["kind"] == "REPLY" && i["delivery"] == "SENT"), "sent after approval: {items:?}");
    assert!(fake.requests().iter().any(|r| r.body["text"]["body"] == "Toko buka setiap hari jam 9 sampai 17."));
    server.stop();
}
