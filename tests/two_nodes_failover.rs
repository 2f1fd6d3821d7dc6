//! Exactly-once work on two `laras serve` nodes sharing one PostgreSQL database, under an
//! autopilot Partner (the AI worker sends its drafts without approval): 200 customer
//! messages spread over both nodes; every one answered exactly once, counted where the
//! replies land (the fake Graph API); each tree head signed once. Half way through the
//! second hundred, the node holding the once-only leases is SIGKILLed: the other takes
//! every lease over within the bounded failover time (`LARAS_LEASE_TTL_SECONDS`, printed
//! beside the measured time), nothing acknowledged is lost, nothing is sent twice, and
//! `laras verify` passes. The killed node then comes back and its inbox equals the
//! survivor's. Meta's part is played by the test: it retries a webhook the dead node did
//! not acknowledge on the other node, and posts a status carrying each send's reference
//! (which settles a send the killed node left in doubt). Needs `LARAS_TEST_DATABASE_URL`.

mod common;

use common::*;
use laras_adapters::graph_api::fake::{FakeGraph, Recorded};
use laras_adapters::postgres_log::testing::TestDatabase;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-failover-token";
const SECRET: &str = "failover-app-secret";
const WA: &str = "106540352242922";
const CUSTOMERS: usize = 20;
const FIRST: usize = 100;
const TOTAL: usize = 200;
/// Short, so the test is quick; the default (6 s) bounds failover under 10 s the same way.
const LEASE_TTL_S: f64 = 2.0;
const ONCE_ONLY: [&str; 4] = ["outbox", "ai-worker", "follow-ups", "merkle-log"];
const QUESTION: &str = "Berapa harga batik tulis kak?";

/// A query connection to the shared database, on a runtime of its own.
struct Pg {
    runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Pg {
    fn connect(url: &str) -> Pg {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let client = runtime.block_on(async {
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            client
        });
        Pg { runtime, client }
    }

    fn count(&self, event_type: &str) -> i64 {
        let sql = "SELECT count(*) FROM events WHERE event_type = $1";
        self.runtime.block_on(self.client.query_one(sql, &[&event_type])).expect("count").get(0)
    }

    /// Events of `event_type` whose JSON payload matches the regular expression `pattern`.
    fn count_matching(&self, event_type: &str, pattern: &str) -> i64 {
        let sql = "SELECT count(*) FROM events WHERE event_type = $1 AND convert_from(payload, 'UTF8') ~ $2";
        self.runtime.block_on(self.client.query_one(sql, &[&event_type, &pattern])).expect("count").get(0)
    }

    /// The live holder of each once-only lease.
    fn holders(&self) -> HashMap<String, String> {
        let sql = "SELECT name, holder FROM leases WHERE expires_at > now()";
        let rows = self.runtime.block_on(self.client.query(sql, &[])).expect("leases");
        rows.iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    /// Tree heads signed more than once for one Partner and size, and how many heads there are.
    fn tree_heads(&self) -> (Vec<(i64, i64)>, i64) {
        let twice = "SELECT size, count(*) FROM tree_heads GROUP BY partner, size HAVING count(*) > 1";
        let twice = self.runtime.block_on(self.client.query(twice, &[])).expect("heads");
        let all: i64 =
            self.runtime.block_on(self.client.query_one("SELECT count(*) FROM tree_heads", &[])).expect("n").get(0);
        (twice.iter().map(|r| (r.get(0), r.get(1))).collect(), all)
    }
}

struct Node {
    name: &'static str,
    dir: tempfile::TempDir,
    server: Option<Server>,
}

impl Node {
    fn new(name: &'static str) -> Node {
        Node { name, dir: tempfile::tempdir().expect("data dir"), server: None }
    }

    fn start(&mut self, url: &str, secrets: &Path, graph: &str) {
        let (master, signing) = (secrets.join("master.key"), secrets.join("signing"));
        let ttl = LEASE_TTL_S.to_string();
        let env = [
            ("LARAS_STORE_URL", url),
            ("LARAS_ADMIN_TOKEN", ADMIN),
            ("LARAS_MASTER_KEY_FILE", master.to_str().expect("utf-8 path")),
            ("LARAS_SIGNING_KEY_DIR", signing.to_str().expect("utf-8 path")),
            ("LARAS_META_APP_SECRET", SECRET),
            ("LARAS_META_VERIFY_TOKEN", "verify-failover"),
            ("LARAS_META_GRAPH_URL", graph),
            ("LARAS_THREADS_GRAPH_URL", graph),
            ("LARAS_NODE_ID", self.name),
            ("LARAS_LEASE_TTL_SECONDS", ttl.as_str()),
            ("LARAS_TREE_HEAD_EVERY_EVENTS", "50"),
            // A send the killed node left in doubt and Meta never took goes again after 3 s.
            ("LARAS_OUTBOX_IN_DOUBT_SECONDS", "3"),
            ("LARAS_OUTBOX_RETRY_BASE_MS", "20"),
        ];
        self.server = Some(Server::start(self.dir.path(), &with_lifted_limits(&env)));
    }

    fn base(&self) -> String {
        self.server.as_ref().map(|s| s.base.clone()).unwrap_or_default()
    }

    fn kill(&mut self) {
        if let Some(mut server) = self.server.take() {
            kill9(&server.child);
            let _ = server.child.wait();
            std::mem::forget(server);
        }
    }
}

fn now_s() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn customer(i: usize) -> String {
    format!("62812{:06}", i % CUSTOMERS)
}

fn question(i: usize) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "contacts": [{"profile": {"name": format!("Pelanggan {}", i % CUSTOMERS)}, "wa_id": customer(i)}],
        "messages": [{"from": customer(i), "id": format!("wamid.failover.{i}"), "timestamp": now_s().to_string(),
                      "type": "text", "text": {"body": QUESTION}}]}}]}]})
}

/// The status Meta sends for a message it took, carrying the send's reference back.
fn status(r: &Recorded, reference: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
        "statuses": [{"id": format!("wamid.fake.{}", r.seq), "status": "sent", "timestamp": now_s().to_string(),
                      "recipient_id": r.body["to"].as_str().unwrap_or_default(),
                      "biz_opaque_callback_data": reference}]}}]}]})
}

fn reference(r: &Recorded) -> Option<String> {
    r.body["biz_opaque_callback_data"].as_str().map(str::to_owned)
}

/// Posts a signed webhook to `base`; the status, or `None` when nobody answered.
fn post(client: &reqwest::blocking::Client, base: &str, body: &Value) -> Option<u16> {
    let bytes = body.to_string().into_bytes();
    client
        .post(format!("{base}/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(SECRET, &bytes))
        .timeout(Duration::from_secs(10))
        .body(bytes)
        .send()
        .ok()
        .map(|r| r.status().as_u16())
}

/// As Meta does: a delivery that was not acknowledged is delivered again, here to the
/// next live node, until one acknowledges it.
fn deliver(client: &reqwest::blocking::Client, bases: &Mutex<Vec<String>>, first: usize, body: &Value) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for attempt in first.. {
        let base = {
            let bases = bases.lock().unwrap_or_else(|p| p.into_inner());
            bases[attempt % bases.len()].clone()
        };
        if post(client, &base, body) == Some(200) {
            return;
        }
        assert!(Instant::now() < deadline, "no node acknowledged a webhook for a minute");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn sends_by_reference(fake: &FakeGraph) -> HashMap<String, usize> {
    let mut sends = HashMap::new();
    for r in fake.requests() {
        if let Some(reference) = reference(&r) {
            *sends.entry(reference).or_default() += 1;
        }
    }
    sends
}

const INBOX: &str = "{ inbox(first: 50) { edges { node { conversationId contactId contactName channel status \
                     lastMessage lastMessageAt lastDirection unread windowClosesAt } } } }";

fn customer_messages(base: &str, key: &str) -> usize {
    let edges = graphql(base, key, INBOX)["inbox"]["edges"].as_array().cloned().unwrap_or_default();
    edges
        .iter()
        .filter_map(|e| e["node"]["conversationId"].as_str())
        .map(|c| {
            let q = format!("{{ conversation(id: \"{c}\") {{ items {{ kind reference }} }} }}");
            let items = graphql(base, key, &q)["conversation"]["items"].as_array().cloned().unwrap_or_default();
            items.iter().filter(|i| i["reference"].as_str().is_some_and(|r| r.starts_with("wamid.failover."))).count()
        })
        .sum()
}

#[test]
fn two_nodes_answer_every_message_once_and_a_killed_lease_holder_hands_its_work_over() {
    let started = Instant::now();
    let Some(db) =
        tokio::runtime::Runtime::new().expect("a runtime").block_on(TestDatabase::create("two_nodes_failover"))
    else {
        return;
    };
    let secrets = tempfile::tempdir().expect("secrets");
    std::fs::create_dir(secrets.path().join("signing")).expect("signing dir");
    let (fake, graph) = FakeGraph::start();
    // A Meta that takes a moment to answer, so sends are in flight when the node dies.
    fake.set_latency(Duration::from_millis(10));
    let (mut a, mut b) = (Node::new("node-a"), Node::new("node-b"));
    a.start(&db.url, secrets.path(), &graph);
    b.start(&db.url, secrets.path(), &graph);
    let pg = Pg::connect(&db.url);
    let client = reqwest::blocking::Client::new();

    // An autopilot Partner with an article to answer from, made through node a.
    let created = graphql(&a.base(), ADMIN, "mutation { createPartner(name: \"Toko Dua Node\") { ownerKey } }");
    let key = created["createPartner"]["ownerKey"].as_str().expect("owner key").to_owned();
    fake.vouch("TOKEN-wa-failover", WA);
    graphql(&a.base(), &key, &format!("mutation {{ connectChannel(channel: WHATSAPP, accountId: \"{WA}\", accessToken: \"TOKEN-wa-failover\") {{ position }} }}"));
    graphql(&a.base(), &key, "mutation { publishArticle(kind: PRODUCT, title: \"Batik tulis\", body: \"Harga batik tulis Rp 450.000 per lembar, stok 3.\") { position } }");
    graphql(&a.base(), &key, "mutation { setApprovalMode(mode: AUTOPILOT) { position } }");

    // Node b routes the account once its directory has followed the claim from the log.
    let bases = Arc::new(Mutex::new(vec![a.base(), b.base()]));
    wait_until("node b routes the connected account", Duration::from_secs(30), || {
        assert_eq!(post(&client, &b.base(), &question(0)), Some(200));
        pg.count("InboundMessageReceived") == 1
    });

    // Meta's statuses: one for every message it took, carrying the send's reference.
    let stop = Arc::new(AtomicBool::new(false));
    let meta = {
        let (fake, bases, stop) = (fake.clone(), bases.clone(), stop.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            let mut echoed: HashSet<u64> = HashSet::new();
            while !stop.load(Ordering::SeqCst) {
                for r in fake.requests() {
                    let (Some(reference), false) = (reference(&r), echoed.contains(&r.seq)) else { continue };
                    deliver(&client, &bases, r.seq as usize, &status(&r, &reference));
                    echoed.insert(r.seq);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            echoed.len()
        })
    };

    // The first hundred, spread over both nodes.
    for i in 1..FIRST {
        deliver(&client, &bases, i, &question(i));
    }
    wait_until("the first hundred answered", Duration::from_secs(60), || pg.count("ReplySent") == FIRST as i64);
    let sends = sends_by_reference(&fake);
    assert_eq!(sends.len(), FIRST, "one reply per message reached Meta");
    assert!(sends.values().all(|n| *n == 1), "a reply was sent twice: {sends:?}");

    // The second hundred from another thread; half way, the lease holder dies.
    let holders = pg.holders();
    let victim = holders.get("outbox").cloned().expect("someone holds the outbox");
    assert!(ONCE_ONLY.iter().all(|l| holders.contains_key(*l)), "every once-only lease held: {holders:?}");
    let posted = Arc::new(AtomicUsize::new(FIRST));
    let second = {
        let (bases, posted) = (bases.clone(), posted.clone());
        std::thread::spawn(move || {
            let client = reqwest::blocking::Client::new();
            for i in FIRST..TOTAL {
                deliver(&client, &bases, i, &question(i));
                posted.store(i + 1, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    wait_until("half the second hundred posted", Duration::from_secs(60), || {
        posted.load(Ordering::SeqCst) >= (FIRST + TOTAL) / 2
    });
    let (dead, alive) = if victim == a.name { (&mut a, &mut b) } else { (&mut b, &mut a) };
    let killed_at = Instant::now();
    dead.kill();
    let mut took_over: HashMap<&str, Duration> = HashMap::new();
    while took_over.len() < ONCE_ONLY.len() && killed_at.elapsed() < Duration::from_secs(30) {
        let holders = pg.holders();
        for lease in ONCE_ONLY {
            if holders.get(lease).is_some_and(|h| h == alive.name) {
                took_over.entry(lease).or_insert_with(|| killed_at.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(took_over.len(), ONCE_ONLY.len(), "{} took over only {took_over:?}", alive.name);
    second.join().expect("the second hundred posted");
    wait_until("every message answered", Duration::from_secs(60), || pg.count("ReplySent") == TOTAL as i64);
    // Let a late duplicate, if any, show itself before counting.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let echoed = meta.join().expect("meta's statuses");

    // Exactly once: every acknowledged message recorded once and answered once, at Meta.
    assert_eq!(pg.count("InboundMessageReceived"), TOTAL as i64, "acknowledged messages, each once");
    assert_eq!(pg.count("SentimentScored"), TOTAL as i64, "each message scored once");
    assert_eq!(pg.count("DraftProposed"), TOTAL as i64, "each message drafted for once");
    assert_eq!(pg.count("ReplySendRequested"), TOTAL as i64, "each draft requested once");
    let sends = sends_by_reference(&fake);
    let twice: Vec<_> = sends.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "replies sent twice: {twice:?}");
    assert_eq!(sends.len(), TOTAL, "one reply per message reached Meta");
    let (heads_twice, heads) = pg.tree_heads();
    assert!(heads_twice.is_empty(), "tree heads signed twice (size, count): {heads_twice:?}");
    assert!(heads >= 10, "tree heads were signed as the log grew: {heads}");

    let mut times: Vec<Duration> = took_over.values().copied().collect();
    times.sort();
    let (median, all) = (times[times.len() / 2], times[times.len() - 1]);
    let bound = Duration::from_secs_f64(LEASE_TTL_S * 4.0 / 3.0);
    eprintln!(
        "two-node failover: lease TTL {LEASE_TTL_S} s (bound 4/3 TTL = {:.2} s); {} killed, {} took over the 4 \
         once-only leases after median {} ms, all {} ms ({took_over:?}); {TOTAL} messages, {} replies at Meta, \
         {echoed} statuses, {} settled by a status, {} re-sent by policy, {heads} tree heads; {:.1} s",
        bound.as_secs_f64(),
        dead.name,
        alive.name,
        median.as_millis(),
        all.as_millis(),
        fake.requests().len(),
        pg.count_matching("ReplySent", "status_webhook"),
        pg.count_matching("SendAttemptStarted", "\"resends_in_doubt\":[0-9]"),
        started.elapsed().as_secs_f64(),
    );
    // The bound plus what a loaded machine adds to one poll and one statement.
    assert!(all <= bound + Duration::from_millis(1500), "failover took {all:?} with a {LEASE_TTL_S} s TTL");

    // The killed node comes back, catches up from the log and shows what the survivor shows.
    dead.start(&db.url, secrets.path(), &graph);
    for node in [&a, &b] {
        wait_until(&format!("{} shows every message", node.name), Duration::from_secs(60), || {
            customer_messages(&node.base(), &key) == TOTAL
        });
    }
    assert_eq!(graphql(&a.base(), &key, INBOX), graphql(&b.base(), &key, INBOX), "both nodes' inboxes are equal");
    for node in [&mut a, &mut b] {
        if let Some(server) = node.server.take() {
            assert!(server.stop().success(), "{} stopped cleanly", node.name);
        }
    }
    let signing = secrets.path().join("signing");
    let verified =
        run(a.dir.path(), &["--store", &db.url, "--signing-key-dir", signing.to_str().unwrap_or_default(), "verify"]);
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success() && text.contains("OK"), "{text}{}", String::from_utf8_lossy(&verified.stderr));
}
