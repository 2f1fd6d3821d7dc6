//! Two `laras serve` nodes on one PostgreSQL database: each with its own data dir (read
//! models only), both given the same master key file and signing-key folder. What one node
//! writes to the shared state (a Partner, an API key, a channel's token and claim) works on
//! the other; webhooks posted to either land once in the one log; both inboxes end equal.
//! Needs `LARAS_TEST_DATABASE_URL`; without it the test prints one line and is skipped.

mod common;

use common::*;
use laras_adapters::graph_api::fake::FakeGraph;
use laras_adapters::postgres_log::testing::TestDatabase;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-two-nodes-token";
const SECRET: &str = "two-nodes-app-secret";
const WA: &str = "106540352242922";
const MESSAGES: usize = 24;

fn post_graphql(base: &str, key: &str, query: &str) -> Value {
    let body = serde_json::json!({ "query": query });
    let resp = reqwest::blocking::Client::new().post(format!("{base}/graphql")).bearer_auth(key).json(&body).send();
    resp.expect("post /graphql").json().expect("json")
}

/// A WhatsApp text from one of three customers, with its own message id.
fn whatsapp_message(i: usize) -> Vec<u8> {
    serde_json::json!({
        "object": "whatsapp_business_account",
        "entry": [{ "id": "102290129340398", "changes": [{ "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": { "display_phone_number": "15550783881", "phone_number_id": WA },
            "contacts": [{ "profile": { "name": format!("Pelanggan {}", i % 3) }, "wa_id": format!("6281200000{}", i % 3) }],
            "messages": [{
                "from": format!("6281200000{}", i % 3),
                "id": format!("wamid.two-nodes-{i}"),
                "timestamp": (1_749_416_383 + i as u64).to_string(),
                "type": "text",
                "text": { "body": format!("Apakah batik nomor {i} masih ada?") }
            }]
        }}]}]
    })
    .to_string()
    .into_bytes()
}

fn post_webhook(base: &str, body: &[u8]) -> u16 {
    post_meta_webhook(base, SECRET, body)
}

const INBOX: &str = "{ inbox(first: 50) { edges { node { conversationId contactId contactName channel status \
                     lastMessage lastMessageAt lastDirection unread windowClosesAt } } } }";

fn inbox(base: &str, key: &str) -> Value {
    let answer = post_graphql(base, key, INBOX);
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["inbox"]["edges"].clone()
}

fn customer_messages(base: &str, key: &str, conversation: &str) -> Vec<String> {
    let query = format!("{{ conversation(id: \"{conversation}\") {{ items {{ kind reference }} }} }}");
    let answer = post_graphql(base, key, &query);
    assert!(answer["errors"].is_null(), "{answer}");
    answer["data"]["conversation"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|i| i["reference"].as_str().is_some_and(|r| r.starts_with("wamid.")))
        .map(|i| i["reference"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start_node(data: &Path, url: &str, secrets: &Path, graph: &str) -> Server {
    let master = secrets.join("master.key");
    let signing = secrets.join("signing");
    let env = [
        ("LARAS_STORE_URL", url),
        ("LARAS_ADMIN_TOKEN", ADMIN),
        ("LARAS_MASTER_KEY_FILE", master.to_str().expect("utf-8 path")),
        ("LARAS_SIGNING_KEY_DIR", signing.to_str().expect("utf-8 path")),
        ("LARAS_META_APP_SECRET", SECRET),
        ("LARAS_META_VERIFY_TOKEN", "verify-two-nodes"),
        ("LARAS_META_GRAPH_URL", graph),
        ("LARAS_THREADS_GRAPH_URL", graph),
    ];
    Server::start(data, &env)
}

#[test]
fn two_nodes_on_one_database_share_partners_keys_channels_and_the_log() {
    let Some(db) =
        tokio::runtime::Runtime::new().expect("a runtime").block_on(TestDatabase::create("two_nodes_on_one_database"))
    else {
        return;
    };
    let secrets = tempfile::tempdir().expect("secrets");
    std::fs::create_dir(secrets.path().join("signing")).expect("signing dir");
    let (one_dir, two_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
    let (fake, graph) = FakeGraph::start();
    // The first node makes the master key and the signing key; the second is given them.
    let one = start_node(one_dir.path(), &db.url, secrets.path(), &graph);
    let two = start_node(two_dir.path(), &db.url, secrets.path(), &graph);

    // A Partner and an agent key made through node one work on node two.
    let created = post_graphql(&one.base, ADMIN, "mutation { createPartner(name: \"Toko Dua Node\") { ownerKey } }");
    let owner = created["data"]["createPartner"]["ownerKey"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    let agent = post_graphql(&one.base, &owner, "mutation { createApiKey(role: AGENT, label: \"desk\") { key } }");
    let agent = agent["data"]["createApiKey"]["key"].as_str().unwrap_or_else(|| panic!("{agent}")).to_owned();
    let me = post_graphql(&two.base, &agent, "{ partner { name } }");
    assert_eq!(me["data"]["partner"]["name"], "Toko Dua Node", "{me}");

    // The channel connected on node one (its token sealed in the shared database).
    fake.vouch("TOKEN-wa-two-nodes", WA);
    let connect = format!(
        "mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"TOKEN-wa-two-nodes\") {{ position }} }}"
    );
    let connected = post_graphql(&one.base, &owner, &connect);
    assert!(connected["errors"].is_null(), "{connected}");

    // Node two routes the account once it has followed the claim from the shared log: the
    // same delivery is posted until its inbox shows it (a repeat is stored once).
    let first = whatsapp_message(0);
    wait_until("node two routes the connected account", || {
        assert_eq!(post_webhook(&two.base, &first), 200);
        inbox(&two.base, &agent).as_array().is_some_and(|e| !e.is_empty())
    });

    // The rest, spread over both nodes, each delivered twice (once to each node).
    for i in 1..MESSAGES {
        let body = whatsapp_message(i);
        let (a, b) = if i % 2 == 0 { (&one, &two) } else { (&two, &one) };
        assert_eq!(post_webhook(&a.base, &body), 200);
        assert_eq!(post_webhook(&b.base, &body), 200, "a redelivery to the other node");
    }

    // Both read models catch up with the one log and say the same.
    let complete = |base: &str| {
        let edges = inbox(base, &agent);
        let conversations: Vec<String> = edges
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["node"]["conversationId"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let messages: usize = conversations.iter().map(|c| customer_messages(base, &agent, c).len()).sum();
        conversations.len() == 3 && messages == MESSAGES
    };
    wait_until("node one shows every message", || complete(&one.base));
    wait_until("node two shows every message", || complete(&two.base));
    assert_eq!(inbox(&one.base, &owner), inbox(&two.base, &agent), "both nodes' inboxes are equal");
    for edge in inbox(&one.base, &owner).as_array().expect("edges") {
        let conversation = edge["node"]["conversationId"].as_str().expect("id");
        let mut references = customer_messages(&two.base, &agent, conversation);
        let count = references.len();
        references.dedup();
        assert_eq!(references.len(), count, "no message recorded twice");
    }

    assert!(one.stop().success() && two.stop().success());
    for dir in [one_dir.path(), two_dir.path()] {
        for shared in
            ["ledger.sqlite", "keys.sqlite", "access.sqlite", "credentials.sqlite", "audit.sqlite", "master.key"]
        {
            assert!(!dir.join(shared).exists(), "{shared} must not be in a node's data dir");
        }
    }
    let verified = run(
        one_dir.path(),
        &[
            "--store",
            &db.url,
            "--signing-key-dir",
            secrets.path().join("signing").to_str().unwrap_or_default(),
            "verify",
        ],
    );
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && text.contains("OK"), "{text}{}", String::from_utf8_lossy(&verified.stderr));
}

/// Two nodes started at the same moment on a fresh database, given one empty secrets
/// folder: both become ready. One of them makes the master key and the signing key and
/// introduces the key in the log; the other waits its turn and takes them (one key in
/// the log, one master key, and the log verifies).
#[test]
fn two_nodes_started_together_on_a_fresh_database_both_become_ready() {
    for round in 0..2 {
        let Some(db) = tokio::runtime::Runtime::new()
            .expect("a runtime")
            .block_on(TestDatabase::create("two_nodes_started_together"))
        else {
            return;
        };
        let secrets = tempfile::tempdir().expect("secrets");
        std::fs::create_dir(secrets.path().join("signing")).expect("signing dir");
        let (one_dir, two_dir) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let (_fake, graph) = FakeGraph::start();
        let launch = |data: &Path| {
            let master = secrets.path().join("master.key");
            let signing = secrets.path().join("signing");
            let env = [
                ("LARAS_STORE_URL", db.url.as_str()),
                ("LARAS_ADMIN_TOKEN", ADMIN),
                ("LARAS_MASTER_KEY_FILE", master.to_str().expect("utf-8 path")),
                ("LARAS_SIGNING_KEY_DIR", signing.to_str().expect("utf-8 path")),
                ("LARAS_META_APP_SECRET", SECRET),
                ("LARAS_META_GRAPH_URL", graph.as_str()),
            ];
            Server::launch(data, &env)
        };
        let (mut one, mut two) = (launch(one_dir.path()), launch(two_dir.path()));
        one.wait_ready(Duration::from_secs(60));
        two.wait_ready(Duration::from_secs(60));

        // Both serve writes, signed with the one key the log introduced.
        for (i, node) in [&one, &two].into_iter().enumerate() {
            let made = post_graphql(
                &node.base,
                ADMIN,
                &format!("mutation {{ createPartner(name: \"Toko {i}\") {{ ownerKey }} }}"),
            );
            assert!(made["errors"].is_null(), "round {round}, node {i}: {made}");
        }
        let keys = std::fs::read_dir(secrets.path().join("signing")).expect("signing dir").count();
        assert_eq!(keys, 1, "round {round}: one signing key made");
        assert!(one.stop().success() && two.stop().success());
        let signing = secrets.path().join("signing");
        let introduced = signing_keys_in_log(&db.url);
        assert_eq!(introduced, 1, "round {round}: one key introduced in the log");
        let verified = run(
            one_dir.path(),
            &["--store", &db.url, "--signing-key-dir", signing.to_str().unwrap_or_default(), "verify"],
        );
        let text = String::from_utf8_lossy(&verified.stdout);
        assert!(verified.status.success() && text.contains("OK"), "round {round}: {text}");
    }
}

fn signing_keys_in_log(url: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        let sql = "SELECT count(*) FROM events WHERE event_type = 'SigningKeyRotated'";
        client.query_one(sql, &[]).await.expect("count").get(0)
    })
}
