//! What the console's browser tests share: `laras serve --demo` on a free port, signing
//! in through the page, and the checks every console test ends with.
#![allow(dead_code)]

use crate::common::{free_port, laras, lines_of, Server};
use crate::webdriver::Browser;
use laras::app::{App, SystemClock};
use laras::settings::{Overrides, Settings};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

pub const SECRET: &str = "console-app-secret";

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

/// The data dir opened in-process, to seed it before a server runs on it.
pub async fn open(dir: &Path) -> App {
    let settings =
        Settings::load(Overrides { data_dir: Some(dir.to_path_buf()), ..Overrides::default() }).expect("settings");
    App::from_settings(&settings, Arc::new(SystemClock)).await.expect("app")
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// `laras serve --demo` on a free port; answers the server and the demo owner key it printed.
pub fn serve_demo(dir: &Path, graph: &str) -> (Server, String) {
    serve_demo_with(dir, graph, &[])
}

/// [`serve_demo`] with more environment (`LARAS_…` settings).
pub fn serve_demo_with(dir: &Path, graph: &str, env: &[(&str, &str)]) -> (Server, String) {
    let port = free_port();
    let mut command = laras(dir);
    command
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .env("LARAS_META_APP_SECRET", SECRET)
        .env("LARAS_META_VERIFY_TOKEN", "verify")
        .env("LARAS_META_GRAPH_URL", graph)
        .env("LARAS_THREADS_GRAPH_URL", graph)
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("spawn laras serve --demo");
    let lines = lines_of(&mut child);
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), data_dir: dir.to_path_buf() };
    let printed = lines.recv_timeout(Duration::from_secs(60)).expect("the demo's line");
    let printed: Value = serde_json::from_str(&printed).expect("json");
    assert_eq!(printed["console"], format!("{}/", server.base), "the console's address is printed");
    server.wait_healthy();
    (server, printed["owner_key"].as_str().expect("owner key").to_owned())
}

/// Opens the console, records every resource and CSP violation from the first moment,
/// and signs in with `key`.
pub fn sign_in(browser: &Browser, base: &str, key: &str) {
    sign_in_at(browser, &format!("{base}/"), key);
}

pub fn sign_in_at(browser: &Browser, url: &str, key: &str) {
    browser.goto(url);
    watch_page(browser);
    browser.wait_for("document.getElementById('signin-key')", Duration::from_secs(10));
    browser.js(
        "const i = document.getElementById('signin-key'); i.value = arguments[0]; document.getElementById('signin-button').click();",
        json!([key]),
    );
    browser.wait_for("document.body.dataset.inboxRows !== undefined", Duration::from_secs(30));
}

/// Records CSP violations and replaces the page's dialogs, answering `confirm` with yes.
pub fn watch_page(browser: &Browser) {
    browser.js(
        "window.__violations = []; document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.blockedURI + ' ' + e.violatedDirective)); \
         window.__dialogs = []; for (const f of ['alert', 'confirm', 'prompt']) { window[f] = m => { window.__dialogs.push(f + ' ' + m); return f === 'confirm'; }; }",
        json!([]),
    );
}

/// Every request the page made went to its own origin and nothing was blocked by the policy.
pub fn assert_same_origin_only(browser: &Browser) {
    let report = browser.js(
        "return { origin: location.origin, names: performance.getEntriesByType('resource').map(e => e.name), violations: window.__violations || [] };",
        json!([]),
    );
    let origin = report["origin"].as_str().unwrap_or_default();
    for name in report["names"].as_array().into_iter().flatten() {
        let name = name.as_str().unwrap_or_default();
        assert!(name.starts_with(origin) || name.starts_with("data:"), "a request to another origin: {name}");
    }
    assert_eq!(report["violations"], json!([]), "content-security-policy violations");
}

pub fn click(browser: &Browser, selector: &str) {
    browser.wait_for(&format!("document.querySelector({selector:?})"), Duration::from_secs(10));
    browser.js("document.querySelector(arguments[0]).click();", json!([selector]));
}

pub fn type_reply(browser: &Browser, text: &str) {
    browser.wait_for("document.getElementById('reply-text')", Duration::from_secs(10));
    browser.js(
        "const t = document.getElementById('reply-text'); t.focus(); t.value = arguments[0]; t.dispatchEvent(new Event('input', { bubbles: true }));",
        json!([text]),
    );
}

/// Sets a form control's value as a person would, firing `input` and `change`.
pub fn set_value(browser: &Browser, selector: &str, value: &str) {
    browser.wait_for(&format!("document.querySelector({selector:?})"), Duration::from_secs(10));
    browser.js(
        "const e = document.querySelector(arguments[0]); e.value = arguments[1]; \
         e.dispatchEvent(new Event('input', { bubbles: true })); e.dispatchEvent(new Event('change', { bubbles: true }));",
        json!([selector, value]),
    );
}

/// How many events the data dir's ledger holds (-1 when it cannot be read yet).
pub fn events(dir: &Path) -> i64 {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(dir.join("ledger.sqlite"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return -1;
    };
    conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap_or(-1)
}

/// The inbox row of `name`'s conversation, once the inbox shows it (a webhook or the
/// demo may still be recording it): `conversationId` and `contactId`.
pub fn inbox_row(base: &str, key: &str, name: &str) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let data = crate::common::graphql(
            base,
            key,
            "{ inbox(first: 50) { edges { node { conversationId contactId contactName } } } }",
        );
        let found = data["inbox"]["edges"].as_array().into_iter().flatten().find(|e| e["node"]["contactName"] == name);
        if let Some(e) = found {
            return e["node"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{name} in the inbox: {data}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Opens a route of the console (`#/settings`) in the signed-in page.
pub fn go(browser: &Browser, hash: &str) {
    browser.js("location.hash = arguments[0];", json!([hash]));
}
