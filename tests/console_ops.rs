//! The console's operating pages in a real browser (headless Chromium over WebDriver,
//! against `laras serve --demo`): settings, API keys, the audit page's in-browser proof
//! check, the inbox's filters and search, keyboard-only use, and screenshots.
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
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use webdriver::{missing_browser, Browser, ENTER, SPACE, TAB};

/// The demo served on a fresh data dir, with the limits lifted (the tests poll).
struct Demo {
    _dir: tempfile::TempDir,
    fake: FakeGraph,
    server: Server,
    owner_key: String,
}

impl Demo {
    fn start() -> Demo {
        let dir = tempfile::tempdir().expect("dir");
        let (fake, graph) = FakeGraph::start();
        let (server, owner_key) = serve_demo_with(dir.path(), &graph, &LIFTED_LIMITS);
        Demo { _dir: dir, fake, server, owner_key }
    }

    fn gql(&self, key: &str, query: &str) -> Value {
        graphql(&self.server.base, key, query)
    }

    /// A new key of the demo Partner, made by its owner through the API.
    fn key(&self, role: &str) -> String {
        let data =
            self.gql(&self.owner_key, &format!("mutation {{ createApiKey(role: {role}, label: \"test\") {{ key }} }}"));
        data["createApiKey"]["key"].as_str().expect("key").to_owned()
    }

    /// The demo inbox's conversations, newest first.
    fn inbox(&self) -> Vec<Value> {
        let data = self.gql(
            &self.owner_key,
            "{ inbox(first: 100) { edges { node { conversationId contactName draftsWaiting lastMessage } } } }",
        );
        data["inbox"]["edges"].as_array().into_iter().flatten().map(|e| e["node"].clone()).collect()
    }
}

/// The answer's errors (the request must fail).
fn refused(base: &str, key: &str, query: &str) -> Value {
    let body = json!({ "query": query });
    let answer: Value = reqwest::blocking::Client::new()
        .post(format!("{base}/graphql"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .and_then(|r| r.json())
        .expect("post /graphql");
    assert!(answer["errors"].is_array(), "expected a refusal: {answer}");
    answer["errors"].clone()
}

fn rows(browser: &Browser) -> Vec<String> {
    let ids = browser.js("return [...document.querySelectorAll('#inbox li.conv')].map(l => l.dataset.id);", json!([]));
    ids.as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_owned)).collect()
}

fn text(browser: &Browser) -> String {
    browser.js("return document.body.innerText;", json!([])).as_str().unwrap_or_default().to_owned()
}

const WAIT: Duration = Duration::from_secs(10);

#[test]
fn settings_show_the_demo_channels_and_an_approval_mode_change_sticks_after_reload() {
    if missing_browser("settings_show_the_demo_channels_and_an_approval_mode_change_sticks_after_reload") {
        return;
    }
    let demo = Demo::start();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.owner_key);
    go(&browser, "#/settings");
    browser.wait_for("document.querySelectorAll('#channels tr.channel-row').length === 4", WAIT);
    let shown = browser.js(
        "return [...document.querySelectorAll('#channels tr.channel-row')].map(r => [r.dataset.channel, r.querySelector('.channel-status').dataset.status, r.querySelector('.mode').dataset.mode]);",
        json!([]),
    );
    let mut shown: Vec<Value> = shown.as_array().cloned().unwrap_or_default();
    shown.sort_by_key(|v| v[0].as_str().unwrap_or_default().to_owned());
    assert_eq!(
        shown,
        vec![
            json!(["INSTAGRAM", "connected", "APPROVAL"]),
            json!(["MESSENGER", "connected", "APPROVAL"]),
            json!(["THREADS", "connected", "APPROVAL"]),
            json!(["WHATSAPP", "connected", "APPROVAL"]),
        ]
    );
    assert!(text(&browser).contains("demo-wa-106540352242922"), "the account ids are shown");

    set_value(&browser, "#mode-instagram", "AUTOPILOT");
    browser.wait_for("document.querySelector('tr[data-channel=INSTAGRAM] .mode')?.dataset.mode === 'AUTOPILOT'", WAIT);
    // A reload signs out (the key lives in the tab's memory); the mode is the server's.
    sign_in(&browser, &demo.server.base, &demo.owner_key);
    go(&browser, "#/settings");
    browser.wait_for("document.querySelector('tr[data-channel=INSTAGRAM] .mode')", WAIT);
    let modes = browser.js(
        "return [document.getElementById('mode-instagram').value, document.getElementById('mode-whatsapp').value, document.getElementById('mode-default').value];",
        json!([]),
    );
    assert_eq!(modes, json!(["AUTOPILOT", "APPROVAL", "APPROVAL"]));
    let served =
        demo.gql(&demo.owner_key, "{ partner { approvalMode channels { channel approvalMode ownApprovalMode } } }");
    let instagram =
        served["partner"]["channels"].as_array().into_iter().flatten().find(|c| c["channel"] == "INSTAGRAM");
    assert_eq!(
        instagram.map(|c| (&c["approvalMode"], &c["ownApprovalMode"])),
        Some((&json!("AUTOPILOT"), &json!(true)))
    );

    // The follow-up policy is saved and shown again.
    set_value(&browser, "#follow-up-hours", "36");
    click(&browser, "#follow-up-save");
    browser.wait_for("document.getElementById('status').textContent === 'Saved.'", WAIT);
    let policy = demo.gql(&demo.owner_key, "{ partner { followUp { delayHours } } }");
    assert_eq!(policy["partner"]["followUp"]["delayHours"], 36);
    browser.wait_for("document.getElementById('follow-up-hours').value === '36'", WAIT);
    assert_same_origin_only(&browser);
}

#[test]
fn a_new_api_key_is_shown_once_signs_in_and_is_refused_once_revoked() {
    if missing_browser("a_new_api_key_is_shown_once_signs_in_and_is_refused_once_revoked") {
        return;
    }
    let demo = Demo::start();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.owner_key);
    go(&browser, "#/settings");
    set_value(&browser, "#key-role", "AGENT");
    set_value(&browser, "#key-label", "front desk");
    click(&browser, "#key-create");
    browser.wait_for("document.getElementById('new-key') && document.getElementById('new-key').value.length > 0", WAIT);
    let secret = browser.js("return document.getElementById('new-key').value;", json!([]));
    let secret = secret.as_str().expect("the secret").to_owned();
    let key_id = browser.js("return document.getElementById('new-key-box').dataset.keyId;", json!([]));
    let key_id = key_id.as_str().expect("the key id").to_owned();
    assert!(text(&browser).contains("only time the key is shown"), "it says it will not be shown again");
    assert!(text(&browser).contains("front desk"), "the new key is listed with its label");

    // Gone once the page is left: coming back shows the key's id, never its secret.
    go(&browser, "#/");
    browser.wait_for("document.getElementById('inbox')", WAIT);
    go(&browser, "#/settings");
    browser.wait_for(&format!("document.querySelector(\"tr[data-key='{key_id}']\")"), WAIT);
    let again = browser.js(
        "return !!document.getElementById('new-key-box') || document.documentElement.outerHTML.includes(arguments[0]) || [...document.querySelectorAll('input')].some(i => i.value === arguments[0]);",
        json!([secret]),
    );
    assert_eq!(again, json!(false), "the secret is shown once only");

    // The new key signs in, as an agent.
    let other = Browser::start(1280, 900);
    sign_in(&other, &demo.server.base, &secret);
    let who = other.js("return document.getElementById('who').textContent;", json!([]));
    assert!(who.as_str().is_some_and(|w| w.contains("AGENT")), "{who}");
    drop(other);

    // Revoked, it is refused by the API and by the sign-in page.
    click(&browser, &format!("tr[data-key='{key_id}'] .revoke"));
    browser.wait_for(&format!("!document.querySelector(\"tr[data-key='{key_id}']\")"), WAIT);
    let errors = refused(&demo.server.base, &secret, "{ me { role } }");
    assert!(errors.to_string().contains("UNAUTHENTICATED"), "{errors}");
    let third = Browser::start(1280, 900);
    third.goto(&format!("{}/", demo.server.base));
    watch_page(&third);
    third.wait_for("document.getElementById('signin-key')", WAIT);
    third.js(
        "document.getElementById('signin-key').value = arguments[0]; document.getElementById('signin-button').click();",
        json!([secret]),
    );
    third.wait_for("document.getElementById('signin-error')", WAIT);
    assert_same_origin_only(&browser);
}

#[test]
fn the_audit_page_checks_a_real_proof_as_valid_and_a_tampered_one_as_invalid() {
    if missing_browser("the_audit_page_checks_a_real_proof_as_valid_and_a_tampered_one_as_invalid") {
        return;
    }
    let demo = Demo::start();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.owner_key);
    go(&browser, "#/audit");
    browser.wait_for("document.getElementById('head-size') || document.getElementById('no-head')", WAIT);
    click(&browser, "#fresh-head");
    browser.wait_for("document.getElementById('head-size')", WAIT);
    let head = demo.gql(&demo.owner_key, "{ treeHead { treeSize rootHash keyId } }");
    let shown = browser.js(
        "return [Number(document.getElementById('head-size').textContent), document.getElementById('head-root').textContent, document.getElementById('head-key-id').textContent];",
        json!([]),
    );
    assert_eq!(shown, json!([head["treeHead"]["treeSize"], head["treeHead"]["rootHash"], head["treeHead"]["keyId"]]));
    assert!(text(&browser).contains("laras audit verify"), "the offline commands are shown");
    assert!(text(&browser).contains("laras export --partner"), "{}", text(&browser));

    // The page's hashing and signature checks agree with the format's worked vectors.
    let vectors: Value = serde_json::from_str(include_str!("vectors/proofs.json")).expect("vectors");
    let checked = browser.js_async(
        "const [d, done] = arguments; \
         import(document.querySelector('script[type=module]').src.replace('app.js', 'proof.js')).then(async p => { \
           const leaves = await Promise.all(d.envelope_hashes.map(h => p.sha256(p.concat(Uint8Array.of(0), p.fromHex(h))))); \
           const roots = new Map(d.roots.map(r => [r.tree_size, r.root_hash])); \
           let proofs = 0; \
           for (const x of d.inclusion) { \
             const root = await p.rootFromPath(x.leaf_index, x.tree_size, leaves[x.leaf_index], x.path.map(p.fromHex)); \
             if (root && p.toHex(root) === roots.get(x.tree_size)) proofs++; } \
           const h = d.tree_head; \
           const bytes = p.treeHeadBytes(h.partner_id, { treeSize: h.tree_size, rootHash: h.root_hash, timestampMs: h.timestamp_ms, keyId: h.key_id }); \
           const tampered = bytes.slice(); tampered[20] ^= 1; \
           done({ leaves: leaves.every((l, i) => p.toHex(l) === d.leaf_hashes[i]), proofs, bytes: p.toHex(bytes) === h.signed_bytes_hex, \
                  keyId: (await p.keyIdOf(p.fromHex(h.signing_key.public))) === h.key_id, \
                  signature: await p.ed25519(p.fromHex(h.signing_key.public), p.fromHex(h.signature), bytes), \
                  tampered: await p.ed25519(p.fromHex(h.signing_key.public), p.fromHex(h.signature), tampered) }); \
         }).catch(e => done({ error: String(e) }));",
        json!([vectors]),
    );
    let proofs = vectors["inclusion"].as_array().map(Vec::len).unwrap_or(0);
    assert_eq!(
        checked,
        json!({ "leaves": true, "proofs": proofs, "bytes": true, "keyId": true, "signature": true, "tampered": false })
    );

    // An event by its leaf number: every step passes, checked in the page.
    set_value(&browser, "#proof-event", "3");
    click(&browser, "#proof-get");
    browser.wait_for("document.getElementById('proof-verdict')", WAIT);
    let verdict = browser.js(
        "return [document.getElementById('proof-verdict').dataset.valid, [...document.querySelectorAll('#proof-steps li')].map(l => l.dataset.step + '=' + l.dataset.ok)];",
        json!([]),
    );
    assert_eq!(verdict[0], "true", "{verdict}");
    assert_eq!(verdict[1].as_array().map(Vec::len), Some(7), "{verdict}");

    // One hex digit of the leaf changed: the leaf and the root no longer match.
    browser.js(
        "const l = document.getElementById('proof-leaf'); l.value = (l.value[0] === '0' ? '1' : '0') + l.value.slice(1);",
        json!([]),
    );
    click(&browser, "#proof-check");
    browser.wait_for("document.getElementById('proof-verdict').dataset.valid === 'false'", WAIT);
    let failed = browser.js(
        "return [...document.querySelectorAll('#proof-steps li[data-ok=false]')].map(l => l.dataset.step);",
        json!([]),
    );
    assert_eq!(failed, json!(["stepLeaf", "stepRoot"]));

    // The leaf restored and one path hash changed: only the root fails.
    click(&browser, "#proof-get");
    browser.wait_for(
        "document.getElementById('proof-verdict') && document.getElementById('proof-verdict').dataset.valid === 'true'",
        WAIT,
    );
    browser.js(
        "const p = document.getElementById('proof-path'); const lines = p.value.split('\\n'); lines[0] = (lines[0][0] === 'f' ? 'e' : 'f') + lines[0].slice(1); p.value = lines.join('\\n');",
        json!([]),
    );
    click(&browser, "#proof-check");
    browser.wait_for("document.getElementById('proof-verdict').dataset.valid === 'false'", WAIT);
    let failed = browser.js(
        "return [...document.querySelectorAll('#proof-steps li[data-ok=false]')].map(l => l.dataset.step);",
        json!([]),
    );
    assert_eq!(failed, json!(["stepRoot"]));

    // From a message of a conversation: its proof link opens the check, valid.
    let conversation = demo.inbox()[0]["conversationId"].as_str().expect("a conversation").to_owned();
    go(&browser, &format!("#/c/{conversation}"));
    browser.wait_for("document.querySelector('#thread .proof-link')", WAIT);
    click(&browser, "#thread .proof-link");
    browser.wait_for("document.getElementById('proof-verdict')", WAIT);
    assert_eq!(browser.js("return document.getElementById('proof-verdict').dataset.valid;", json!([])), json!("true"));
    assert_same_origin_only(&browser);
}

#[test]
fn inbox_filters_by_assignee_and_mine_and_search_narrow_the_list() {
    if missing_browser("inbox_filters_by_assignee_and_mine_and_search_narrow_the_list") {
        return;
    }
    let demo = Demo::start();
    let agent = demo.key("AGENT");
    let inbox = demo.inbox();
    assert!(inbox.len() >= 3, "the demo has conversations: {inbox:?}");
    let id = |i: usize| inbox[i]["conversationId"].as_str().expect("id").to_owned();
    let (mine, theirs) = (id(0), id(1));
    demo.gql(&demo.owner_key, &format!("mutation {{ assignConversation(conversationId: \"{mine}\") {{ position }} }}"));
    demo.gql(&agent, &format!("mutation {{ assignConversation(conversationId: \"{theirs}\") {{ position }} }}"));
    let agent_user = demo.gql(&agent, "{ me { userId } }")["me"]["userId"].as_str().expect("user id").to_owned();

    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.owner_key);
    browser.wait_for(&format!("document.querySelectorAll('#inbox li.conv').length === {}", inbox.len()), WAIT);
    set_value(&browser, "#filter-assignee", "mine");
    browser.wait_for(&format!("document.querySelectorAll('#inbox li.conv').length === 1 && document.querySelector('#inbox li.conv').dataset.id === '{mine}'"), WAIT);
    browser.wait_for(&format!("document.querySelector(\"#filter-assignee option[value='{agent_user}']\")"), WAIT);
    set_value(&browser, "#filter-assignee", &agent_user);
    browser.wait_for(&format!("document.querySelectorAll('#inbox li.conv').length === 1 && document.querySelector('#inbox li.conv').dataset.id === '{theirs}'"), WAIT);
    set_value(&browser, "#filter-assignee", "");
    browser.wait_for(&format!("document.querySelectorAll('#inbox li.conv').length === {}", inbox.len()), WAIT);

    // Search: the one conversation whose customer wrote of Gayo coffee, with the passage.
    let gayo: Vec<String> = inbox
        .iter()
        .filter(|c| c["contactName"] == "Sari Wulandari")
        .filter_map(|c| c["conversationId"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(gayo.len(), 1, "{inbox:?}");
    set_value(&browser, "#inbox-search", "Gayo");
    let deadline = Instant::now() + Duration::from_secs(20);
    while rows(&browser) != gayo {
        let status = browser.js("return document.getElementById('status').textContent;", json!([]));
        assert!(
            Instant::now() < deadline,
            "search did not narrow the list to {gayo:?}: {:?} ({status})",
            rows(&browser)
        );
        std::thread::sleep(Duration::from_millis(700));
        // The index follows the log; ask again (Enter in the box) until it has caught up.
        browser.js("document.querySelector('form.search').requestSubmit();", json!([]));
    }
    let snippet = browser.js("return document.querySelector('#inbox .snippet b') && document.querySelector('#inbox .snippet b').textContent;", json!([]));
    assert_eq!(snippet, json!("Gayo"), "the matched word is bold, as an element built from text");
    set_value(&browser, "#inbox-search", "zzzznothing");
    browser.wait_for(
        "document.querySelectorAll('#inbox li.conv').length === 0 && document.querySelector('#inbox li.empty')",
        WAIT,
    );
    assert_same_origin_only(&browser);
}

#[test]
fn sign_in_the_inbox_a_conversation_and_approving_a_draft_work_by_keyboard_alone() {
    if missing_browser("sign_in_the_inbox_a_conversation_and_approving_a_draft_work_by_keyboard_alone") {
        return;
    }
    let demo = Demo::start();
    let with_draft = demo
        .inbox()
        .into_iter()
        .find(|c| c["draftsWaiting"].as_i64().unwrap_or(0) > 0)
        .and_then(|c| c["conversationId"].as_str().map(str::to_owned))
        .expect("a demo conversation with a draft waiting");
    let browser = Browser::start(1280, 900);
    browser.goto(&format!("{}/", demo.server.base));
    watch_page(&browser);
    browser.wait_for("document.activeElement && document.activeElement.id === 'signin-key'", WAIT);
    browser.keys(&format!("{}{ENTER}", demo.owner_key));
    browser.wait_for("document.body.dataset.inboxRows !== undefined", Duration::from_secs(30));
    browser.wait_for("document.activeElement && document.activeElement.id === 'inbox-title'", WAIT);

    let focused = |browser: &Browser| {
        browser.js(
        "const e = document.activeElement; return { tag: e.tagName, id: e.id, cls: e.className, href: e.getAttribute('href'), outline: getComputedStyle(e).outlineStyle };",
        json!([]),
    )
    };
    let tab_to = |browser: &Browser, condition: &str, most: usize| {
        for _ in 0..most {
            browser.keys(&TAB.to_string());
            if browser.js(&format!("return !!({condition});"), json!([])) == json!(true) {
                let f = focused(browser);
                assert_ne!(f["outline"], "none", "the focused control shows its focus: {f}");
                return;
            }
        }
        panic!("{condition} not reached in {most} tabs; focus is on {}", focused(browser));
    };
    tab_to(&browser, &format!("document.activeElement.getAttribute('href') === '#/c/{with_draft}'"), 80);
    browser.keys(&ENTER.to_string());
    browser.wait_for(&format!("location.hash === '#/c/{with_draft}'"), WAIT);
    browser.wait_for("document.activeElement && document.activeElement.id === 'contact-name'", WAIT);
    browser.wait_for("document.querySelector('.draft .approve')", WAIT);
    tab_to(&browser, "document.activeElement.classList.contains('approve')", 40);
    browser.keys(&SPACE.to_string());
    browser.wait_for("!document.querySelector('.draft .approve')", WAIT);
    let state = demo.gql(
        &demo.owner_key,
        &format!("{{ conversation(id: \"{with_draft}\") {{ items {{ kind ... on Draft {{ state }} }} }} }}"),
    );
    let drafts: Vec<&Value> =
        state["conversation"]["items"].as_array().into_iter().flatten().filter(|i| i["kind"] == "DRAFT").collect();
    assert!(drafts.iter().all(|d| d["state"] != "PROPOSED"), "the draft was decided: {drafts:?}");
    assert!(drafts.iter().any(|d| d["state"] == "APPROVED" || d["state"] == "SENT"), "approved: {drafts:?}");

    // Back to the inbox by keyboard: the back link is the first stop after the heading.
    browser.js("document.getElementById('contact-name').focus();", json!([]));
    browser.shift_tab();
    assert_eq!(focused(&browser)["href"], "#/", "{}", focused(&browser));
    browser.keys(&ENTER.to_string());
    browser.wait_for("location.hash === '#/' || location.hash === ''", WAIT);
    browser.wait_for("document.activeElement && document.activeElement.id === 'inbox-title'", WAIT);
}

#[test]
fn an_auditor_sees_settings_without_any_control_and_checks_proofs() {
    if missing_browser("an_auditor_sees_settings_without_any_control_and_checks_proofs") {
        return;
    }
    let demo = Demo::start();
    let auditor = demo.key("AUDITOR");
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &auditor);
    go(&browser, "#/settings");
    browser.wait_for("document.querySelectorAll('#channels tr.channel-row').length === 4", WAIT);
    browser.wait_for("document.getElementById('settings-read-only')", WAIT);
    let controls = browser.js(
        "return [...document.getElementById('main').querySelectorAll('button, select, input, textarea, form, details')].map(e => e.outerHTML.slice(0, 80));",
        json!([]),
    );
    assert_eq!(controls, json!([]), "an auditor sees no settings actions");
    assert!(!text(&browser).contains("API keys"), "no key list for an auditor");
    // The auditor's own page: a proof checks as valid.
    go(&browser, "#/audit/2");
    browser.wait_for("document.getElementById('proof-verdict')", WAIT);
    assert_eq!(browser.js("return document.getElementById('proof-verdict').dataset.valid;", json!([])), json!("true"));
    // An agent has no audit page in the bar.
    let agent = demo.key("AGENT");
    let other = Browser::start(1280, 900);
    sign_in(&other, &demo.server.base, &agent);
    let nav = other.js("return [...document.querySelectorAll('#nav a')].map(a => a.getAttribute('href'));", json!([]));
    assert!(!nav.to_string().contains("#/audit"), "{nav}");
    assert!(nav.to_string().contains("#/settings"), "{nav}");
}

/// PNGs of the inbox, a conversation and the pipeline (and settings and audit) at desktop
/// and phone widths, into
/// `LARAS_SCREENSHOTS_DIR` when it is set; without it the pages are still loaded, checked
/// and photographed, and only the files are not written.
#[test]
fn screenshots_of_the_inbox_a_conversation_and_the_pipeline_at_desktop_and_phone_widths() {
    if missing_browser("screenshots_of_the_inbox_a_conversation_and_the_pipeline_at_desktop_and_phone_widths") {
        return;
    }
    let out = std::env::var_os("LARAS_SCREENSHOTS_DIR").map(std::path::PathBuf::from);
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir).expect("screenshots dir");
    }
    let demo = Demo::start();
    let conversation = demo
        .inbox()
        .into_iter()
        .find(|c| c["draftsWaiting"].as_i64().unwrap_or(0) > 0)
        .or_else(|| demo.inbox().into_iter().next())
        .and_then(|c| c["conversationId"].as_str().map(str::to_owned))
        .expect("a demo conversation");
    for (size, width, height) in [("desktop", 1280, 800), ("phone", 390, 844)] {
        let browser = Browser::start(width, height);
        browser.set_viewport(width, height);
        sign_in(&browser, &demo.server.base, &demo.owner_key);
        let thread = format!("#/c/{conversation}");
        let pages = [
            ("inbox", "#/", "document.querySelectorAll('#inbox li.conv').length > 0"),
            ("conversation", thread.as_str(), "document.querySelectorAll('#thread li').length > 0"),
            ("pipeline", "#/pipeline", "document.querySelector('main h1') && document.getElementById('inbox') === null || document.querySelectorAll('#inbox li.conv').length > 0"),
            ("settings", "#/settings", "document.querySelectorAll('#channels tr.channel-row').length > 0"),
            ("audit", "#/audit/3", "document.getElementById('proof-verdict')"),
        ];
        for (page, hash, loaded) in pages {
            go(&browser, hash);
            browser.wait_for(loaded, WAIT);
            // The heading took focus on the route change; a picture shows the page at rest.
            browser.js("document.activeElement && document.activeElement.blur();", json!([]));
            std::thread::sleep(Duration::from_millis(300));
            if page != "pipeline" {
                let fits =
                    browser.js("return document.documentElement.scrollWidth <= window.innerWidth + 1;", json!([]));
                assert_eq!(fits, json!(true), "{page} at {size} width scrolls sideways");
            }
            let png = browser.screenshot();
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{page} at {size}: a PNG");
            let shot_width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
            assert_eq!(shot_width, width, "{page} at {size}: the viewport's width");
            if let Some(dir) = &out {
                let path = dir.join(format!("console-{page}-{size}.png"));
                std::fs::write(&path, &png).expect("write screenshot");
                println!("wrote {}", path.display());
            }
        }
        assert_same_origin_only(&browser);
    }
}

#[test]
fn a_disconnected_channel_is_reauthorised_only_with_a_token_that_controls_it() {
    if missing_browser("a_disconnected_channel_is_reauthorised_only_with_a_token_that_controls_it") {
        return;
    }
    let demo = Demo::start();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.owner_key);
    go(&browser, "#/settings");
    let row = "document.querySelector('#channels tr[data-channel=WHATSAPP]')";
    browser.wait_for(&format!("{row}?.querySelector('.channel-status').dataset.status === 'connected'"), WAIT);
    let account = browser.js(&format!("return {row}.querySelector('.account').textContent;"), json!([]));
    let account = account.as_str().unwrap_or_default().to_owned();
    assert!(!account.is_empty(), "the WhatsApp row names its account");
    browser.js(&format!("{row}.querySelector('.disconnect').click();"), json!([]));
    browser.wait_for(&format!("{row}?.querySelector('.channel-status').dataset.status === 'disconnected'"), WAIT);

    // Re-authorise fills the connect form with the channel and its account.
    browser.js(&format!("{row}.querySelector('.reauthorise').click();"), json!([]));
    browser.wait_for("document.getElementById('connect').open", WAIT);
    assert_eq!(browser.js("return document.getElementById('connect-account').value;", json!([])), json!(account));
    assert_eq!(browser.js("return document.getElementById('connect-channel').value;", json!([])), json!("WHATSAPP"));

    // A token that does not control the account is refused and changes nothing.
    set_value(&browser, "#connect-token", "token-of-someone-else");
    click(&browser, "#connect-button");
    browser.wait_for("document.getElementById('status').textContent.length > 0", WAIT);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        browser.js(&format!("return {row}.querySelector('.channel-status').dataset.status;"), json!([])),
        json!("disconnected"),
        "a token that does not vouch for the account connects nothing"
    );

    demo.fake.vouch("token-of-the-owner", &account);
    browser.js(&format!("{row}.querySelector('.reauthorise').click();"), json!([]));
    browser.wait_for("document.getElementById('connect').open", WAIT);
    set_value(&browser, "#connect-token", "token-of-the-owner");
    click(&browser, "#connect-button");
    browser.wait_for(&format!("{row}?.querySelector('.channel-status').dataset.status === 'connected'"), WAIT);
    let partner = demo.gql(&demo.owner_key, "{ partner { channels { channel status } } }");
    let whatsapp =
        partner["partner"]["channels"].as_array().into_iter().flatten().find(|c| c["channel"] == "WHATSAPP").cloned();
    assert_eq!(whatsapp.map(|c| c["status"].clone()), Some(json!("CONNECTED")), "{partner}");
    assert_same_origin_only(&browser);
}
