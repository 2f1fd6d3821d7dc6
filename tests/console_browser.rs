//! The Partner console in a real browser: Debian's Chromium, headless, driven over
//! WebDriver, against `laras serve --demo` with a fake Graph API on loopback.
//!
//! Without Chromium and chromedriver each test says it was skipped; under `CI` it fails.

mod common;
#[path = "common/console.rs"]
mod console;
#[path = "common/webdriver.rs"]
mod webdriver;

use common::*;
use console::*;
use laras_adapters::graph_api::fake::FakeGraph;
use laras_commands::access::Role;
use laras_commands::handlers::inbound::{IncomingComment, IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::CommandMeta;
use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, OnboardPartner};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{ApprovalMode, DraftAuthor, ReplyTarget};
use laras_domain::ids::{ConversationId, PartnerId};
use serde_json::json;
use std::time::{Duration, Instant};
use webdriver::{missing_browser, Browser};

const WA: &str = "106540352242922";
const IG: &str = "17841405822304914";
const XSS: &str = "<img src=x onerror=alert(1)>";
const WAIT: Duration = Duration::from_secs(10);

/// A served data dir: the demo Partner, and "Toko Batik" whose channels the fake Graph API vouches for.
struct Rig {
    _dir: tempfile::TempDir,
    server: Server,
    fake: FakeGraph,
    demo_key: String,
    owner_key: String,
    auditor_key: String,
    /// Toko Batik's conversations by contact name.
    conversations: Vec<(String, ConversationId)>,
    draft_text: String,
}

fn text_from(number: &str, name: &str, id: &str, text: &str) -> IncomingMessage {
    IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: WA.to_owned(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: number.to_owned(), name: Some(name.to_owned()) },
        channel_message_id: id.to_owned(),
        sent_at: laras_domain::time::Timestamp(now_ms() - 60_000),
        content: PlainContent::Text(text.to_owned()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    }
}

impl Rig {
    fn new() -> Rig {
        let dir = tempfile::tempdir().expect("dir");
        let rt = runtime();
        let partner = PartnerId(uuid::Uuid::now_v7());
        let (owner_key, auditor_key) = rt.block_on(async {
            let app = open(dir.path()).await;
            let onboard = OnboardPartner {
                partner_id: partner,
                name: "Toko Batik".into(),
                approval: ApprovalMode::Approval,
                pipeline: default_pipeline(),
            };
            app.ledger.onboard_partner(onboard, &CommandMeta::system("test")).await.expect("onboard");
            let (_, owner) = app.api_keys.create(partner, Role::Owner, "owner").expect("owner key");
            let (_, auditor) = app.api_keys.create(partner, Role::Auditor, "auditor").expect("auditor key");
            app.close().await;
            (owner.expose().to_owned(), auditor.expose().to_owned())
        });
        let (fake, graph) = FakeGraph::start();
        connect_all_channels(dir.path(), &partner.to_string(), &fake, &graph);
        let draft_text = "Ada, kak: merah dan biru.".to_owned();
        let conversations = rt.block_on(async {
            let app = open(dir.path()).await;
            let hook = CommandMeta::system("webhook");
            let mut conversations = vec![];
            for (number, name, text) in [
                ("6281100000001", "Sheena Nelson", "Ada warna lain?"),
                ("6281100000002", "Mallory", XSS),
                ("6281100000003", "Oscar Opted", "Berapa ongkirnya?"),
            ] {
                let recorded = app
                    .ledger
                    .record_inbound_message(partner, text_from(number, name, &format!("wamid.{number}"), text), &hook)
                    .await
                    .expect("inbound");
                conversations.push((name.to_owned(), recorded.conversation_id));
            }
            let comment = IncomingComment {
                channel: ChannelKind::Instagram,
                account_id: IG.to_owned(),
                sender: SenderIdentity {
                    kind: IdentityKind::Igsid,
                    value: "17841455550000009".into(),
                    name: Some("Rina Comment".into()),
                },
                post_id: "17900000000000009".into(),
                comment_id: "17950000000000009".into(),
                parent_id: None,
                text: "Masih ada warna biru?".into(),
                sent_at: laras_domain::time::Timestamp(now_ms() - 60_000),
            };
            let recorded = app.ledger.record_public_comment(partner, comment, &hook).await.expect("comment");
            conversations.push(("Rina Comment".to_owned(), recorded.conversation_id));
            let author = DraftAuthor::AiWorker {
                generator: "test".into(),
                model: "test".into(),
                prompt_hash: String::new(),
                article_ids: vec![],
                confidence: 0.9,
                latency_ms: 0,
            };
            let ai = CommandMeta::new(laras_domain::actor::Actor::AiWorker { generator: "test".into() });
            let target = ReplyTarget::Conversation { quote: None };
            app.ledger
                .propose_draft(partner, conversations[0].1, author, &draft_text, target, &ai)
                .await
                .expect("draft");
            app.close().await;
            conversations
        });
        let (server, demo_key) = serve_demo(dir.path(), &graph);
        let rig = Rig { _dir: dir, server, fake, demo_key, owner_key, auditor_key, conversations, draft_text };
        // Oscar has said STOP (as an owner would record it).
        let contact = rig.contact_of("Oscar Opted");
        graphql(
            &rig.server.base,
            &rig.owner_key,
            &format!("mutation {{ optOut(contactId: \"{contact}\") {{ position }} }}"),
        );
        rig
    }

    /// The id of `name`'s conversation once the inbox shows it (one a webhook opened).
    fn conversation_in_inbox(&self, name: &str) -> String {
        inbox_row(&self.server.base, &self.owner_key, name)["conversationId"].as_str().unwrap_or_default().to_owned()
    }

    fn conversation(&self, name: &str) -> String {
        self.conversations.iter().find(|(n, _)| n == name).map(|(_, c)| c.to_string()).expect("conversation")
    }

    fn contact_of(&self, name: &str) -> String {
        inbox_row(&self.server.base, &self.owner_key, name)["contactId"].as_str().unwrap_or_default().to_owned()
    }

    fn post_webhook(&self, number: &str, name: &str, wamid: &str, text: &str) {
        self.post_webhook_at(number, name, wamid, text, now_ms() / 1000);
    }

    /// A WhatsApp text the customer wrote at `secs` (Unix seconds), as Meta would post it.
    fn post_webhook_at(&self, number: &str, name: &str, wamid: &str, text: &str, secs: i64) {
        let message =
            json!({"from": number, "id": wamid, "timestamp": secs.to_string(), "type": "text", "text": {"body": text}});
        self.post_message(number, name, message);
    }

    /// One WhatsApp message (as Meta's `messages[]` item) from `number`, signed and posted.
    fn post_message(&self, number: &str, name: &str, message: serde_json::Value) {
        let body = json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
            "messaging_product": "whatsapp", "metadata": {"display_phone_number": "1555", "phone_number_id": WA},
            "contacts": [{"profile": {"name": name}, "wa_id": number}],
            "messages": [message]}}]}]})
        .to_string()
        .into_bytes();
        let status = reqwest::blocking::Client::new()
            .post(format!("{}/webhooks/meta", self.server.base))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", meta_signature(SECRET, &body))
            .body(body)
            .send()
            .expect("post webhook")
            .status();
        assert_eq!(status.as_u16(), 200);
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

#[test]
fn the_demo_owner_signs_in_sees_the_demo_inbox_and_nothing_goes_to_another_origin() {
    if missing_browser("the_demo_owner_signs_in_sees_the_demo_inbox_and_nothing_goes_to_another_origin") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (fake, graph) = FakeGraph::start();
    let (server, key) = serve_demo(dir.path(), &graph);
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &server.base, &key);
    browser.wait_for("document.body.innerText.includes('Sari Wulandari')", Duration::from_secs(10));
    let who = browser.js("return document.getElementById('who').textContent;", json!([]));
    assert!(who.as_str().is_some_and(|w| w.contains("Kopi Laras Roastery") && w.contains("OWNER")), "{who}");
    // The key is in no address and no storage.
    let kept = browser.js(
        "return location.href + JSON.stringify(Object.assign({}, localStorage)) + JSON.stringify(Object.assign({}, sessionStorage)) + document.cookie;",
        json!([]),
    );
    assert!(!kept.as_str().unwrap_or_default().contains(&key), "the key leaked: {kept}");

    let bytes = browser.js(
        "const nav = performance.getEntriesByType('navigation')[0]; \
         const files = performance.getEntriesByType('resource').filter(e => !e.name.endsWith('/graphql')); \
         return { transferred: nav.transferSize + files.reduce((n, e) => n + e.transferSize, 0), \
                  body: nav.encodedBodySize + files.reduce((n, e) => n + e.encodedBodySize, 0), files: files.length + 1 };",
        json!([]),
    );
    println!(
        "console first load: {} bytes transferred ({} bytes of bodies) in {} files",
        bytes["transferred"], bytes["body"], bytes["files"]
    );
    assert_same_origin_only(&browser);

    // The channel filter narrows the list to that channel.
    browser.js("const s = document.getElementById('filter-channel'); s.value = 'INSTAGRAM'; s.dispatchEvent(new Event('change'));", json!([]));
    browser.wait_for(
        "[...document.querySelectorAll('#inbox .channel')].length > 0 && [...document.querySelectorAll('#inbox .channel')].every(c => c.textContent === 'Instagram')",
        Duration::from_secs(10),
    );
    browser.js(
        "const s = document.getElementById('filter-channel'); s.value = ''; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    browser.wait_for("document.body.innerText.includes('Sari Wulandari')", Duration::from_secs(10));

    // Indonesian on the switch, and the layout fits a phone's width.
    browser.js(
        "const s = document.getElementById('lang'); s.value = 'id'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    browser.wait_for(
        "document.querySelector('h1') && document.querySelector('h1').textContent === 'Kotak masuk'",
        Duration::from_secs(10),
    );
    click(&browser, "#signout");
    browser.wait_for("document.getElementById('signin-key')", Duration::from_secs(5));
    let answer = browser.js_async(
        "fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{\"query\":\"{ me { role } }\"}' }).then(r => r.json()).then(arguments[0]);",
        json!([]),
    );
    assert!(answer["errors"].is_array(), "after sign-out the page holds no key: {answer}");
    drop(fake);
}

#[test]
fn the_console_fits_a_phone() {
    if missing_browser("the_console_fits_a_phone") {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let (_fake, graph) = FakeGraph::start();
    let (server, key) = serve_demo(dir.path(), &graph);
    let browser = Browser::start(390, 844);
    sign_in(&browser, &server.base, &key);
    let fits = browser.js("return document.documentElement.scrollWidth <= window.innerWidth + 1;", json!([]));
    assert_eq!(fits, json!(true), "no sideways scrolling at phone width");
    let unnamed = browser.js(
        "return [...document.querySelectorAll('button, select, input, textarea')].filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML);",
        json!([]),
    );
    assert_eq!(unnamed, json!([]), "every control has an accessible name");
}

#[test]
fn an_owner_approves_a_draft_the_graph_api_receives_it_and_a_webhook_shows_up_live() {
    if missing_browser("an_owner_approves_a_draft_the_graph_api_receives_it_and_a_webhook_shows_up_live") {
        return;
    }
    let rig = Rig::new();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &rig.server.base, &rig.owner_key);
    browser.wait_for("document.body.innerText.includes('Sheena Nelson')", Duration::from_secs(10));
    browser.wait_for("document.querySelector('.badge.drafts')", Duration::from_secs(10));
    // The live subscription is up before the webhook is posted.
    browser.wait_for("document.getElementById('status').textContent === 'Live'", Duration::from_secs(10));

    rig.post_webhook("6281100000099", "Putri Live", "wamid.live.1", "Masih buka hari ini?");
    let took = browser.wait_for("document.body.innerText.includes('Putri Live')", Duration::from_secs(2));
    println!("a webhook reached the open inbox in {took:?}, without a reload");

    let conversation = rig.conversation("Sheena Nelson");
    click(&browser, &format!("li[data-id='{conversation}'] a"));
    browser.wait_for("document.querySelector('.draft .approve')", Duration::from_secs(10));
    click(&browser, ".draft .approve");
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let sent = rig.fake.requests();
        if let Some(s) = sent.iter().find(|r| r.path.ends_with("/messages")) {
            break s.clone();
        }
        if Instant::now() > deadline {
            let page = browser.js(
                "return document.getElementById('status').textContent + ' | ' + document.body.innerText;",
                json!([]),
            );
            let conn = rusqlite::Connection::open(rig.server.data_dir.join("ledger.sqlite")).expect("db");
            let mut st = conn.prepare("SELECT event_type FROM events ORDER BY rowid DESC LIMIT 12").expect("q");
            let types: Vec<String> = st.query_map([], |r| r.get(0)).expect("rows").filter_map(Result::ok).collect();
            panic!("the fake Graph API received nothing: {sent:?}\n{page}\n{types:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(sent.path, format!("/v21.0/{WA}/messages"));
    assert_eq!(sent.body["text"]["body"], rig.draft_text);
    assert_eq!(sent.body["to"], "6281100000001");
    browser.wait_for("!document.querySelector('.draft .approve')", Duration::from_secs(10));
    assert_same_origin_only(&browser);
}

#[test]
fn customer_text_is_text_refusals_are_explained_before_sending_and_other_partners_are_not_found() {
    if missing_browser("customer_text_is_text_refusals_are_explained_before_sending_and_other_partners_are_not_found") {
        return;
    }
    let rig = Rig::new();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &rig.server.base, &rig.owner_key);

    let mallory = rig.conversation("Mallory");
    browser.wait_for("document.body.innerText.includes('<img src=x onerror=alert(1)>')", Duration::from_secs(10));
    assert_eq!(browser.js("return document.querySelectorAll('main img').length;", json!([])), json!(0));
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{mallory}")]));
    browser.wait_for("document.querySelector('#thread .item')", Duration::from_secs(10));
    let shown = browser.js("return document.querySelector('#thread .item').firstChild.textContent;", json!([]));
    assert_eq!(shown, json!(XSS), "the message is shown as its characters");
    assert_eq!(browser.js("return document.querySelectorAll('main img').length;", json!([])), json!(0));
    assert_eq!(browser.alert_text(), None, "no dialog opened");
    assert_eq!(browser.js("return window.__dialogs;", json!([])), json!([]), "no dialog was asked for");

    let oscar = rig.conversation("Oscar Opted");
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{oscar}")]));
    type_reply(&browser, "Promo minggu ini!");
    browser.wait_for("document.getElementById('reply-check').dataset.reason === 'opted_out'", Duration::from_secs(10));
    let check = browser.js("return document.getElementById('reply-check').textContent;", json!([]));
    assert!(check.as_str().is_some_and(|c| c.contains("opted out")), "{check}");
    assert_eq!(browser.js("return document.getElementById('reply-send').disabled;", json!([])), json!(true));
    assert!(rig.fake.requests().iter().all(|r| !r.path.ends_with("/messages")), "nothing was sent");

    let sheena = rig.conversation("Sheena Nelson");
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{sheena}")]));
    type_reply(&browser, "Ada, kak!");
    browser.wait_for("document.getElementById('reply-check').classList.contains('allowed')", Duration::from_secs(10));

    // Under an Instagram comment the box is the one private reply: it goes out once,
    // and then the box says it was used before anything is sent.
    let rina = rig.conversation("Rina Comment");
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{rina}")]));
    browser.wait_for("document.querySelector('label[for=reply-text]') && document.querySelector('label[for=reply-text]').textContent.includes('private reply')", Duration::from_secs(10));
    type_reply(&browser, "Masih, kak! Cek DM ya.");
    browser.wait_for("document.getElementById('reply-check').classList.contains('allowed')", Duration::from_secs(10));
    click(&browser, "#reply-send");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !rig.fake.requests().iter().any(|r| r.body.to_string().contains("Cek DM ya")) {
        assert!(
            Instant::now() < deadline,
            "the private reply did not reach the fake Graph API: {:?}",
            rig.fake.requests()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    browser.wait_for("document.getElementById('reply-text').value === ''", Duration::from_secs(10));
    type_reply(&browser, "Satu lagi, kak.");
    browser.wait_for(
        "document.getElementById('reply-check').dataset.reason === 'comment_already_answered'",
        Duration::from_secs(10),
    );
    assert_eq!(browser.js("return document.getElementById('reply-send').disabled;", json!([])), json!(true));

    // A conversation of the demo Partner, from Toko Batik's key: the same as no conversation.
    let demo = graphql(&rig.server.base, &rig.demo_key, "{ inbox(first: 1) { edges { node { conversationId } } } }");
    let foreign = demo["inbox"]["edges"][0]["node"]["conversationId"].as_str().expect("a demo conversation").to_owned();
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{foreign}")]));
    browser.wait_for("document.getElementById('not-found')", Duration::from_secs(10));
    assert!(!browser.js("return document.body.innerText;", json!([])).as_str().unwrap_or_default().contains("Sari"));
    assert_same_origin_only(&browser);
}

#[test]
fn an_auditor_reads_but_sees_no_reply_box_and_no_approval() {
    if missing_browser("an_auditor_reads_but_sees_no_reply_box_and_no_approval") {
        return;
    }
    let rig = Rig::new();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &rig.server.base, &rig.auditor_key);
    let who = browser.js("return document.getElementById('who').textContent;", json!([]));
    assert!(who.as_str().is_some_and(|w| w.contains("AUDITOR")), "{who}");
    let sheena = rig.conversation("Sheena Nelson");
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{sheena}")]));
    browser.wait_for("document.getElementById('read-only')", Duration::from_secs(10));
    browser.wait_for("document.querySelector('.draft')", Duration::from_secs(10));
    let controls = browser.js(
        "return [!!document.getElementById('reply-text'), !!document.querySelector('.draft .approve')];",
        json!([]),
    );
    assert_eq!(controls, json!([false, false]));
}

#[test]
fn an_inbox_of_a_thousand_conversations_renders_beside_its_query_time() {
    if missing_browser("an_inbox_of_a_thousand_conversations_renders_beside_its_query_time") {
        return;
    }
    const N: usize = 1_000;
    let dir = tempfile::tempdir().expect("dir");
    let partner = PartnerId(uuid::Uuid::now_v7());
    let seeding = Instant::now();
    let key = runtime().block_on(async {
        let app = open(dir.path()).await;
        let system = CommandMeta::system("test");
        let onboard = OnboardPartner {
            partner_id: partner,
            name: "Toko Ramai".into(),
            approval: ApprovalMode::Approval,
            pipeline: default_pipeline(),
        };
        app.ledger.onboard_partner(onboard, &system).await.expect("onboard");
        let directory = laras_commands::directory::ChannelDirectory::new(app.ledger.store.clone());
        let connect = ConnectChannel {
            channel: ChannelKind::WhatsApp,
            account_id: WA.into(),
            display_name: "Toko Ramai".into(),
            proof: None,
        };
        app.ledger.connect_channel(partner, connect, &directory, &system).await.expect("connect");
        let hook = CommandMeta::system("webhook");
        for i in 0..N {
            let number = format!("62812{i:08}");
            let message =
                text_from(&number, &format!("Pelanggan {i}"), &format!("wamid.bulk.{i}"), "Halo, masih ada stok?");
            app.ledger.record_inbound_message(partner, message, &hook).await.expect("inbound");
        }
        let (_, key) = app.api_keys.create(partner, Role::Owner, "owner").expect("key");
        app.close().await;
        key.expose().to_owned()
    });
    println!("seeded {N} conversations in {:?}", seeding.elapsed());
    let (_fake, graph) = FakeGraph::start();
    let (server, _) = serve_demo(dir.path(), &graph);
    // The read models and the AI worker catch up before anything is timed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last = (0, Instant::now());
    loop {
        let count = events(dir.path());
        if count != last.0 {
            last = (count, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not settle");
        std::thread::sleep(Duration::from_millis(200));
    }
    let browser = Browser::start(1280, 900);
    let (mut rendered, mut queried) = (vec![], vec![]);
    for run in 0..5 {
        // A new address each time, so each run is a fresh page load.
        sign_in_at(&browser, &format!("{}/?run={run}", server.base), &key);
        browser.wait_for(&format!("document.body.dataset.inboxRows === '{N}'"), Duration::from_secs(60));
        let ms = browser.js("return Number(document.body.dataset.inboxMs);", json!([]));
        rendered.push(ms.as_f64().unwrap_or(f64::NAN));
        let alone = browser.js_async(
            "const [key, done] = arguments; const t0 = performance.now(); \
             const q = 'query($after: String) { inbox(first: 200, after: $after) { edges { node { conversationId contactName channel status lastMessage lastMessageAt lastDirection unread windowClosesAt upset draftsWaiting assignee } } pageInfo { hasNextPage endCursor } } }'; \
             (async () => { let after = null, n = 0; for (;;) { \
               const r = await fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + key }, body: JSON.stringify({ query: q, variables: { after } }) }); \
               const b = await r.json(); n += b.data.inbox.edges.length; \
               if (!b.data.inbox.pageInfo.hasNextPage) break; after = b.data.inbox.pageInfo.endCursor; } \
               done({ ms: performance.now() - t0, n }); })();",
            json!([key]),
        );
        assert_eq!(alone["n"], json!(N));
        queried.push(alone["ms"].as_f64().unwrap_or(f64::NAN));
    }
    println!(
        "inbox of {N} conversations: rendered in {:.0} ms (median of {rendered:.0?}); the GraphQL queries alone {:.0} ms (median of {queried:.0?})",
        median(rendered.clone()),
        median(queried.clone())
    );
    assert_same_origin_only(&browser);
}

#[test]
fn outside_whatsapps_window_the_reply_box_offers_a_template_and_the_graph_api_receives_it() {
    if missing_browser("outside_whatsapps_window_the_reply_box_offers_a_template_and_the_graph_api_receives_it") {
        return;
    }
    let rig = Rig::new();
    // Written two days ago: WhatsApp's 24-hour window is closed.
    rig.post_webhook_at("6281100000009", "Tari Lama", "wamid.old.9", "Masih ada stok?", now_ms() / 1000 - 2 * 86_400);
    let deadline = Instant::now() + Duration::from_secs(10);
    let conversation = loop {
        let inbox = graphql(
            &rig.server.base,
            &rig.owner_key,
            "{ inbox(first: 50) { edges { node { conversationId contactName } } } }",
        );
        let found =
            inbox["inbox"]["edges"].as_array().into_iter().flatten().find(|e| e["node"]["contactName"] == "Tari Lama");
        if let Some(e) = found {
            break e["node"]["conversationId"].as_str().unwrap_or_default().to_owned();
        }
        assert!(Instant::now() < deadline, "Tari Lama in the inbox: {inbox}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &rig.server.base, &rig.owner_key);
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{conversation}")]));
    type_reply(&browser, "Stok sudah ada lagi, kak.");
    browser.wait_for("document.getElementById('reply-check')?.dataset.reason === 'template_required'", WAIT);
    assert_eq!(browser.js("return document.getElementById('reply-send').disabled;", json!([])), json!(true));
    browser.wait_for("!document.getElementById('template-picker').hidden", WAIT);
    browser.js(
        "const set = (id, v) => { const f = document.getElementById(id); f.value = v; f.dispatchEvent(new Event('input', { bubbles: true })); };
         set('template-name', 'restock_notice'); set('template-language', 'id'); set('template-parameters', arguments[0]);",
        json!(["Tari\nKopi Kintamani"]),
    );
    click(&browser, "#template-send");
    browser.wait_for("document.getElementById('template-result')?.textContent === 'Template sent.'", WAIT);
    let deadline = Instant::now() + WAIT;
    loop {
        let sent = rig.fake.requests();
        let template = sent.iter().find(|r| r.path.ends_with("/messages") && r.body["type"] == "template");
        if let Some(r) = template {
            assert_eq!(r.body["to"], "6281100000009", "{}", r.body);
            assert_eq!(r.body["template"]["name"], "restock_notice", "{}", r.body);
            assert_eq!(r.body["template"]["language"]["code"], "id", "{}", r.body);
            assert!(r.body.to_string().contains("Kopi Kintamani"), "the parameters go out: {}", r.body);
            break;
        }
        assert!(Instant::now() < deadline, "no template reached the Graph API: {sent:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_same_origin_only(&browser);
}

#[test]
fn a_customers_photo_shows_in_the_thread_from_this_origin() {
    if missing_browser("a_customers_photo_shows_in_the_thread_from_this_origin") {
        return;
    }
    use base64::Engine as _;
    use sha2::Digest as _;
    let rig = Rig::new();
    let photo = laras_adapters::graph_api::fake::jpeg(640, 480, 20_000);
    let sha256 = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&photo));
    rig.fake.serve_media(
        "m_console_photo",
        photo.clone(),
        "image/jpeg",
        laras_adapters::graph_api::fake::MediaBehaviour::Serve,
    );
    rig.post_message(
        "6281100000010",
        "Putri Foto",
        json!({"from": "6281100000010", "id": "wamid.photo.10", "timestamp": (now_ms() / 1000).to_string(), "type": "image",
               "image": {"caption": "yang ini ada?", "mime_type": "image/jpeg", "sha256": sha256, "id": "m_console_photo"}}),
    );
    let conversation = rig.conversation_in_inbox("Putri Foto");
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &rig.server.base, &rig.owner_key);
    browser.js("location.hash = arguments[0];", json!([format!("#/c/{conversation}")]));
    // The file is fetched in the background; the live thread shows it once it is kept.
    browser.wait_for(
        "document.querySelector('#thread .attachment-image')?.getAttribute('src')?.startsWith('/media/')",
        Duration::from_secs(20),
    );
    let served = browser.js_async(
        "const done = arguments[arguments.length - 1]; \
         const src = document.querySelector('#thread .attachment-image').getAttribute('src'); \
         fetch(src).then(async r => done([r.status, r.headers.get('content-type'), (await r.arrayBuffer()).byteLength]));",
        json!([]),
    );
    assert_eq!(
        served,
        json!([200, "image/jpeg", photo.len()]),
        "the thread's photo is the customer's file, from this origin"
    );
    assert!(
        browser.js("return document.querySelector('#thread').textContent.includes('yang ini ada?');", json!([]))
            == json!(true),
        "the caption is shown"
    );
    assert_same_origin_only(&browser);
}
