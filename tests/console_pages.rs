//! The console's pages beside the inbox in a real browser (headless Chromium over
//! WebDriver) against `laras serve --demo`: a contact, the pipeline board, segments,
//! and knowledge with "ask Laras"; and what an AUDITOR key may not do on them.
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
use std::path::Path;
use std::time::{Duration, Instant};
use webdriver::{missing_browser, Browser};

const SOON: Duration = Duration::from_secs(10);

/// The demo served from a fresh data dir, with its owner key.
struct Demo {
    dir: tempfile::TempDir,
    server: Server,
    key: String,
    _fake: FakeGraph,
}

fn demo() -> Demo {
    let dir = tempfile::tempdir().expect("dir");
    let (fake, graph) = FakeGraph::start();
    let (server, key) = serve_demo(dir.path(), &graph);
    Demo { dir, server, key, _fake: fake }
}

impl Demo {
    fn contact_of(&self, name: &str) -> String {
        inbox_row(&self.server.base, &self.key, name)["contactId"].as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the server's background work (read models, the AI worker answering the
    /// demo's messages) has stopped adding events; answers the count.
    fn settled(&self) -> i64 {
        settled(self.dir.path())
    }
}

fn settled(dir: &Path) -> i64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (events(dir), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let count = events(dir);
        if count != last.0 {
            last = (count, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(2) {
            return count;
        }
        assert!(Instant::now() < deadline, "the server did not settle");
    }
}

fn text(browser: &Browser, selector: &str) -> String {
    browser.wait_for(&format!("document.querySelector({selector:?})"), SOON);
    let v = browser.js("return document.querySelector(arguments[0]).textContent;", json!([selector]));
    v.as_str().unwrap_or_default().to_owned()
}

/// Sets a field's value as typing would, so its listeners hear it.
fn fill(browser: &Browser, selector: &str, value: &str) {
    browser.wait_for(&format!("document.querySelector({selector:?})"), SOON);
    browser.js(
        "const f = document.querySelector(arguments[0]); f.focus(); f.value = arguments[1]; f.dispatchEvent(new Event('input', { bubbles: true })); f.dispatchEvent(new Event('change', { bubbles: true }));",
        json!([selector, value]),
    );
}

/// The pipeline card whose title is `title`: `card('…')` in a page script.
const CARD: &str = "const card = title => [...document.querySelectorAll('#board .opp')].find(c => c.querySelector('.title').textContent === title);";

fn stage_of(browser: &Browser, title: &str) -> Value {
    browser.js(
        &format!("{CARD} const c = card(arguments[0]); return c ? c.closest('.stage').dataset.stage : null;"),
        json!([title]),
    )
}

#[test]
fn an_owner_opens_a_contact_from_a_conversation_opts_them_out_and_in_and_adds_a_note() {
    if missing_browser("an_owner_opens_a_contact_from_a_conversation_opts_them_out_and_in_and_adds_a_note") {
        return;
    }
    let demo = demo();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.key);
    browser.wait_for("document.body.innerText.includes('Sari Wulandari')", SOON);
    browser.js(
        "[...document.querySelectorAll('#inbox li')].find(li => li.textContent.includes('Sari Wulandari')).querySelector('a').click();",
        json!([]),
    );
    click(&browser, "#contact-name a");
    browser.wait_for("document.getElementById('contact-title') && document.getElementById('contact-title').textContent === 'Sari Wulandari'", SOON);
    let sari = demo.contact_of("Sari Wulandari");
    assert_eq!(browser.js("return location.hash;", json!([])), json!(format!("#/contact/{sari}")));

    // The timeline, the won deal's CLV and both scored messages on the chart.
    let kinds =
        browser.js("return [...document.querySelectorAll('#timeline li')].map(li => li.dataset.kind);", json!([]));
    for kind in ["identified", "message_in", "note", "opportunity_won"] {
        assert!(kinds.as_array().is_some_and(|k| k.contains(&json!(kind))), "{kind} in the timeline: {kinds}");
    }
    let clv = text(&browser, "#contact-clv");
    assert!(clv.contains("2,800,000"), "Sari's CLV is her won deal of Rp 2.800.000: {clv}");
    assert_eq!(browser.js("return document.querySelectorAll('#sentiment-chart circle').length;", json!([])), json!(2));
    let chart = browser.js("return document.getElementById('sentiment-chart').getAttribute('aria-label');", json!([]));
    assert!(chart.as_str().is_some_and(|c| c.contains("latest 0.80")), "{chart}");
    assert!(text(&browser, "#contact-opportunities").contains("Gayo 10 kg for Kafe Senja"));

    // Opted out on every channel, then in again; the page and the API agree.
    assert_eq!(browser.js("return document.getElementById('optout-state').dataset.optedOut;", json!([])), json!("no"));
    click(&browser, "#opt-out");
    browser.wait_for(
        "document.getElementById('optout-state') && document.getElementById('optout-state').dataset.optedOut === 'yes'",
        SOON,
    );
    assert!(text(&browser, "#optout-state").contains("Opted out: all on every channel"));
    let api = graphql(&demo.server.base, &demo.key, &format!("{{ contact(id: \"{sari}\") {{ optedOut }} }}"));
    assert!(api["contact"]["optedOut"].is_string(), "{api}");
    click(&browser, "#opt-in");
    browser.wait_for(
        "document.getElementById('optout-state') && document.getElementById('optout-state').dataset.optedOut === 'no'",
        SOON,
    );

    let note = "Asked for a sample of the Kintamani <b>natural</b>.";
    fill(&browser, "#note-text", note);
    click(&browser, "#note-add");
    browser.wait_for(
        &format!("document.getElementById('notes') && document.getElementById('notes').textContent.includes({note:?})"),
        SOON,
    );
    assert_eq!(
        browser.js("return document.querySelectorAll('#notes b').length;", json!([])),
        json!(0),
        "a note is text"
    );
    assert_same_origin_only(&browser);
}

#[test]
fn the_pipeline_board_shows_the_demo_deals_by_stage_with_the_forecast_and_moves_wins_and_loses_them() {
    if missing_browser(
        "the_pipeline_board_shows_the_demo_deals_by_stage_with_the_forecast_and_moves_wins_and_loses_them",
    ) {
        return;
    }
    let demo = demo();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.key);
    click(&browser, "#nav a[href='#/pipeline']");
    browser.wait_for("document.querySelectorAll('#board .stage').length === 4", SOON);
    assert_eq!(stage_of(&browser, "Monthly beans, 2 kg"), json!("qualified"));
    assert_eq!(stage_of(&browser, "Kintamani 5 kg"), json!("negotiation"));
    assert_eq!(stage_of(&browser, "Replacement and 1 kg Kintamani"), json!("lead"));
    assert_eq!(stage_of(&browser, "Gayo 10 kg for Kafe Senja"), json!(null), "a won deal is not on the board");
    // 30% of Rp 560.000 + 80% of Rp 1.700.000 + 10% of Rp 340.000.
    let forecast = text(&browser, "#forecast");
    assert!(forecast.contains("1,562,000"), "{forecast}");
    assert!(text(&browser, "#closed").contains("1 won"));

    browser.js(
        &format!("{CARD} const c = card('Monthly beans, 2 kg'); c.querySelector('.move-to').value = 'proposal'; c.querySelector('.move').click();"),
        json!([]),
    );
    browser.wait_for(&format!("(() => {{ {CARD} const c = card('Monthly beans, 2 kg'); return c && c.closest('.stage').dataset.stage === 'proposal'; }})()"), SOON);
    let forecast = text(&browser, "#forecast");
    assert!(forecast.contains("1,730,000"), "60% of Rp 560.000 now: {forecast}");

    browser.js(&format!("{CARD} card('Kintamani 5 kg').querySelector('.win').click();"), json!([]));
    browser.wait_for(&format!("(() => {{ {CARD} return !card('Kintamani 5 kg'); }})()"), SOON);
    assert!(text(&browser, "#closed").contains("2 won"));

    browser
        .js(&format!("{CARD} card('Replacement and 1 kg Kintamani').querySelector('.lose-open').click();"), json!([]));
    browser.js(
        &format!("{CARD} const c = card('Replacement and 1 kg Kintamani'); c.querySelector('.lose-reason').value = 'Only wanted the replacement'; c.querySelector('.confirm-lose').click();"),
        json!([]),
    );
    browser.wait_for(&format!("(() => {{ {CARD} return !card('Replacement and 1 kg Kintamani'); }})()"), SOON);
    assert!(text(&browser, "#closed").contains("1 lost"));
    let api = graphql(&demo.server.base, &demo.key, "{ pipeline { wonCount lostCount } }");
    assert_eq!(api["pipeline"], json!({ "wonCount": 2, "lostCount": 1 }));
    assert_same_origin_only(&browser);
}

#[test]
fn the_segments_table_lists_the_demo_contacts_with_clv_and_rfm() {
    if missing_browser("the_segments_table_lists_the_demo_contacts_with_clv_and_rfm") {
        return;
    }
    let demo = demo();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.key);
    click(&browser, "#nav a[href='#/segments']");
    browser.wait_for("document.querySelectorAll('#segments tbody tr[data-contact]').length === 5", SOON);
    let first = browser
        .js("return [...document.querySelector('#segments tbody tr').cells].map(c => c.textContent);", json!([]));
    assert_eq!(first[0], json!("Sari Wulandari"), "the most valuable first: {first}");
    assert!(first[2].as_str().is_some_and(|c| c.contains("2,800,000")), "{first}");
    assert_eq!(first[3], json!("1"), "one won deal: {first}");
    let names = browser.js("return document.querySelector('#segments tbody').textContent;", json!([]));
    for name in ["budi.santoso", "rina.kopi", "Dewi Lestari", "andi.brews"] {
        assert!(names.as_str().is_some_and(|n| n.contains(name)), "{name}: {names}");
    }
    // A row leads to its contact.
    click(&browser, "#segments tbody tr a");
    browser.wait_for("document.getElementById('contact-title') && document.getElementById('contact-title').textContent === 'Sari Wulandari'", SOON);
}

#[test]
fn an_article_is_published_and_retired_and_asking_laras_shows_a_draft_and_records_nothing() {
    if missing_browser("an_article_is_published_and_retired_and_asking_laras_shows_a_draft_and_records_nothing") {
        return;
    }
    let demo = demo();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.key);
    click(&browser, "#nav a[href='#/knowledge']");
    browser.wait_for("document.querySelectorAll('#articles .article').length === 3", SOON);

    fill(&browser, "#article-kind", "PRODUCT");
    fill(&browser, "#article-title", "Wholesale prices");
    fill(&browser, "#article-body", "Cafes ordering 10 kg or more pay Rp 260.000 per kg.");
    fill(&browser, "#article-tags", "wholesale, cafe");
    click(&browser, "#article-publish");
    browser.wait_for("document.getElementById('articles') && document.getElementById('articles').textContent.includes('Wholesale prices')", SOON);
    assert!(text(&browser, "#articles").contains("#wholesale #cafe"));
    browser.js(
        "[...document.querySelectorAll('#articles .article')].find(a => a.textContent.includes('Wholesale prices')).querySelector('.retire').click();",
        json!([]),
    );
    browser.wait_for("document.getElementById('articles-retired') && document.getElementById('articles-retired').textContent.includes('Wholesale prices')", SOON);
    assert!(!text(&browser, "#articles").contains("Wholesale prices"));

    // The worker has learned the demo's articles when the API's own dry run finds one.
    let deadline = Instant::now() + Duration::from_secs(30);
    let question = "What grind for a V60 with the Kintamani?";
    loop {
        let answer =
            graphql(&demo.server.base, &demo.key, &format!("{{ askLaras(question: {question:?}) {{ text }} }}"));
        if answer["askLaras"]["text"].is_string() {
            break;
        }
        assert!(Instant::now() < deadline, "the knowledge was never learned: {answer}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = demo.settled();
    fill(&browser, "#ask-question", question);
    click(&browser, "#ask-button");
    browser.wait_for("document.getElementById('ask-draft')", SOON);
    assert!(text(&browser, "#ask-draft").contains("medium-fine"), "the draft comes from the Kintamani article");
    let confidence =
        browser.js("return Number(document.getElementById('ask-confidence').dataset.confidence);", json!([]));
    assert!(confidence.as_f64().is_some_and(|c| (0.5..=1.0).contains(&c)), "{confidence}");
    assert!(text(&browser, "#ask-confidence").contains('%'));
    let cited = browser.js(
        "return [...document.querySelectorAll('#ask-articles li[data-cited=yes]')].map(li => li.textContent);",
        json!([]),
    );
    assert!(cited.to_string().contains("Kintamani natural roast"), "{cited}");

    fill(&browser, "#ask-question", "STOP");
    click(&browser, "#ask-button");
    browser.wait_for("document.getElementById('ask-declined') && document.getElementById('ask-declined').dataset.reason === 'opt_out_keyword'", SOON);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(events(demo.dir.path()), before, "asking Laras recorded nothing");
    assert_same_origin_only(&browser);
}

#[test]
fn erasing_a_contact_asks_first_says_what_it_means_and_then_shows_it_erased() {
    if missing_browser("erasing_a_contact_asks_first_says_what_it_means_and_then_shows_it_erased") {
        return;
    }
    let demo = demo();
    let dewi = demo.contact_of("Dewi Lestari");
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.key);
    go(&browser, &format!("#/contact/{dewi}"));
    browser.wait_for("document.getElementById('contact-title') && document.getElementById('contact-title').textContent === 'Dewi Lestari'", SOON);

    click(&browser, "#erase");
    browser.wait_for("document.getElementById('erase-dialog').open", SOON);
    let said = text(&browser, "#erase-dialog");
    for words in ["key is destroyed", "unreadable", "still verifies", "cannot be undone"] {
        assert!(said.contains(words), "the confirmation says {words:?}: {said}");
    }
    click(&browser, "#erase-cancel");
    browser.wait_for("!document.getElementById('erase-dialog').open", SOON);
    let api = graphql(&demo.server.base, &demo.key, &format!("{{ contact(id: \"{dewi}\") {{ erased }} }}"));
    assert_eq!(api["contact"]["erased"], json!(false), "cancelling erased nothing");

    click(&browser, "#erase");
    browser.wait_for("document.getElementById('erase-dialog').open", SOON);
    click(&browser, "#erase-confirm");
    browser.wait_for("document.getElementById('erased-state')", SOON);
    assert_eq!(text(&browser, "#contact-title"), "—", "the name is no longer readable");
    let left = browser.js(
        "return [!!document.getElementById('erase'), !!document.getElementById('opt-out'), !!document.getElementById('note-text')];",
        json!([]),
    );
    assert_eq!(left, json!([false, false, false]), "nothing is offered on an erased contact");
    assert!(!browser
        .js("return document.body.innerText;", json!([]))
        .as_str()
        .unwrap_or_default()
        .contains("torn bag"));
    assert_eq!(browser.js("return window.__dialogs;", json!([])), json!([]), "no browser dialog was used");
    let api = graphql(&demo.server.base, &demo.key, &format!("{{ contact(id: \"{dewi}\") {{ erased displayName }} }}"));
    assert_eq!(api["contact"], json!({ "erased": true, "displayName": null }));
}

#[test]
fn an_auditor_sees_the_pages_without_any_action() {
    if missing_browser("an_auditor_sees_the_pages_without_any_action") {
        return;
    }
    let demo = demo();
    let created =
        graphql(&demo.server.base, &demo.key, "mutation { createApiKey(role: AUDITOR, label: \"auditor\") { key } }");
    let auditor = created["createApiKey"]["key"].as_str().expect("an auditor key").to_owned();
    let sari = demo.contact_of("Sari Wulandari");
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &auditor);
    for (hash, ready) in [
        (format!("#/contact/{sari}"), "document.querySelectorAll('#timeline li').length > 0"),
        ("#/pipeline".to_owned(), "document.querySelectorAll('#board .opp').length === 3"),
        ("#/segments".to_owned(), "document.querySelectorAll('#segments tbody tr[data-contact]').length === 5"),
        ("#/knowledge".to_owned(), "document.querySelectorAll('#articles .article').length === 3"),
    ] {
        go(&browser, &hash);
        browser.wait_for(ready, SOON);
        let actions = browser.js(
            "return [...document.querySelectorAll('main button, main form, main textarea, main .move-to')].map(e => e.outerHTML.slice(0, 80));",
            json!([]),
        );
        assert_eq!(actions, json!([]), "{hash}: an auditor has no actions");
    }
    assert!(text(&browser, "#read-only").contains("read-only"));
}

#[test]
fn the_pages_fit_a_phone_and_every_control_has_a_name() {
    if missing_browser("the_pages_fit_a_phone_and_every_control_has_a_name") {
        return;
    }
    let demo = demo();
    let sari = demo.contact_of("Sari Wulandari");
    let browser = Browser::start(390, 844);
    sign_in(&browser, &demo.server.base, &demo.key);
    for (hash, ready) in [
        (format!("#/contact/{sari}"), "document.getElementById('erase')"),
        ("#/pipeline".to_owned(), "document.querySelectorAll('#board .opp').length === 3"),
        ("#/segments".to_owned(), "document.querySelectorAll('#segments tbody tr[data-contact]').length === 5"),
        ("#/knowledge".to_owned(), "document.getElementById('ask-question')"),
    ] {
        go(&browser, &hash);
        browser.wait_for(ready, SOON);
        // The segments table scrolls inside its own box; the page never scrolls sideways.
        let fits = browser.js("return document.documentElement.scrollWidth <= window.innerWidth + 1;", json!([]));
        assert_eq!(fits, json!(true), "{hash}: no sideways scrolling at phone width");
        let unnamed = browser.js(
            "return [...document.querySelectorAll('button, select, input, textarea')].filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map(e => e.outerHTML);",
            json!([]),
        );
        assert_eq!(unnamed, json!([]), "{hash}: every control has an accessible name");
    }
}

#[test]
fn an_owner_edits_a_draft_before_approving_it_and_moves_the_conversation() {
    if missing_browser("an_owner_edits_a_draft_before_approving_it_and_moves_the_conversation") {
        return;
    }
    let demo = demo();
    let browser = Browser::start(1280, 900);
    sign_in(&browser, &demo.server.base, &demo.key);
    browser.wait_for("document.body.innerText.includes('budi.santoso')", SOON);
    browser.js(
        "[...document.querySelectorAll('#inbox li')].find(li => li.textContent.includes('budi.santoso')).querySelector('a').click();",
        json!([]),
    );
    click(&browser, ".draft .edit");
    let edited = "Ya kak, kirim ke Jakarta 1 hari. <b>not markup</b>";
    fill(&browser, ".draft .draft-edit-text", edited);
    click(&browser, ".draft .save-edit");
    browser.wait_for(&format!("document.querySelector('.draft .draft-text')?.textContent === {edited:?}"), SOON);
    let conversation = browser
        .js("return decodeURIComponent(location.hash.slice(4));", json!([]))
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let items = graphql(
        &demo.server.base,
        &demo.key,
        &format!("{{ conversation(id: \"{conversation}\") {{ items {{ kind text ... on Draft {{ state }} }} }} }}"),
    );
    let proposed: Vec<&Value> = items["conversation"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|i| i["kind"] == "DRAFT" && i["state"] == "PROPOSED")
        .collect();
    assert_eq!(proposed.len(), 1, "{items}");
    assert_eq!(proposed[0]["text"], edited, "the edit is the draft's text");

    fill(&browser, "#status-select", "RESOLVED");
    click(&browser, "#status-save");
    let deadline = Instant::now() + SOON;
    loop {
        let inbox =
            graphql(&demo.server.base, &demo.key, "{ inbox(first: 50) { edges { node { conversationId status } } } }");
        let status = inbox["inbox"]["edges"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["node"]["conversationId"] == conversation.as_str())
            .map(|e| e["node"]["status"].clone());
        if status == Some(json!("RESOLVED")) {
            break;
        }
        assert!(Instant::now() < deadline, "the conversation was not resolved: {inbox}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_same_origin_only(&browser);
}
