//! A small W3C WebDriver client over reqwest, enough to drive headless Chromium through
//! chromedriver: start, navigate, run scripts, read alerts and the browser's log.
//! (A client crate such as fantoccini would add a second HTTP stack to build on every
//! cold start; these few endpoints are all the console tests need.)
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// WebDriver's code points for keys that are not characters.
pub const TAB: char = '\u{E004}';
pub const ENTER: char = '\u{E007}';
pub const SPACE: char = ' ';

/// Why browser tests cannot run here, if they cannot. Under `CI` a missing browser is a
/// failure, not a skip.
pub fn missing_browser(test: &str) -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER].into_iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {} missing under CI (apt-get install -y chromium chromium-driver)", missing.join(" and "));
    }
    println!("{test}: skipped: {} not installed (apt-get install -y chromium chromium-driver)", missing.join(" and "));
    true
}

/// chromedriver on a free loopback port with one headless Chromium session; both end on drop.
pub struct Browser {
    driver: Child,
    http: reqwest::blocking::Client,
    session: String,
    base: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start(width: u32, height: u32) -> Browser {
        let port = crate::common::free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ready = http.get(format!("{base}/status")).send().ok().and_then(|r| r.json::<Value>().ok());
            if ready.is_some_and(|v| v["value"]["ready"] == true) {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    "--disable-dev-shm-usage", "--lang=en-US",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        } } });
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .and_then(|r| r.json())
            .expect("new session");
        let session =
            answer["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no session: {answer}")).to_owned();
        Browser { driver, http, session, base, _profile: profile }
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().and_then(|r| r.json::<Value>()).map(|v| v["value"].clone()).expect("webdriver call")
    }

    pub fn goto(&self, url: &str) {
        let answer = self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })));
        assert!(answer.is_null(), "navigate to {url}: {answer}");
    }

    /// Runs `script` (a function body; `arguments` are `args`) and answers its return value.
    pub fn js(&self, script: &str, args: Value) -> Value {
        let answer = self.call(reqwest::Method::POST, "/execute/sync", Some(json!({ "script": script, "args": args })));
        if answer.get("error").is_some() {
            panic!("script failed: {answer}\n{script}");
        }
        answer
    }

    /// Runs an async script: it calls `arguments[arguments.length - 1]` with its result.
    pub fn js_async(&self, script: &str, args: Value) -> Value {
        let answer =
            self.call(reqwest::Method::POST, "/execute/async", Some(json!({ "script": script, "args": args })));
        if answer.get("error").is_some() {
            panic!("async script failed: {answer}\n{script}");
        }
        answer
    }

    /// Polls the expression `condition` until it is truthy; answers how long that took.
    pub fn wait_for(&self, condition: &str, within: Duration) -> Duration {
        let started = Instant::now();
        let script = format!("return !!({condition});");
        loop {
            if self.js(&script, json!([])) == Value::Bool(true) {
                return started.elapsed();
            }
            if started.elapsed() > within {
                let body = self.js("return document.body.innerText;", json!([]));
                panic!("not within {within:?}: {condition}\npage text: {body}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// Presses each key of `keys` in turn (W3C key actions): characters as they are,
    /// and the WebDriver code points for the others ([`TAB`], [`ENTER`], [`SPACE`]).
    pub fn keys(&self, keys: &str) {
        let actions: Vec<Value> = keys
            .chars()
            .flat_map(|k| {
                [
                    json!({ "type": "keyDown", "value": k.to_string() }),
                    json!({ "type": "keyUp", "value": k.to_string() }),
                ]
            })
            .collect();
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        let answer = self.call(reqwest::Method::POST, "/actions", Some(body));
        assert!(answer.is_null(), "key actions: {answer}");
    }

    /// Shift+Tab: focus back one stop.
    pub fn shift_tab(&self) {
        let shift = "\u{E008}";
        let tab = TAB.to_string();
        let actions = json!([
            { "type": "keyDown", "value": shift }, { "type": "keyDown", "value": tab },
            { "type": "keyUp", "value": tab }, { "type": "keyUp", "value": shift },
        ]);
        let body = json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] });
        let answer = self.call(reqwest::Method::POST, "/actions", Some(body));
        assert!(answer.is_null(), "key actions: {answer}");
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        use base64::Engine as _;
        let answer = self.call(reqwest::Method::GET, "/screenshot", None);
        let encoded = answer.as_str().unwrap_or_else(|| panic!("no screenshot: {answer}"));
        base64::engine::general_purpose::STANDARD.decode(encoded).expect("base64 screenshot")
    }

    /// Resizes the window so the page's viewport is `width` × `height` CSS pixels.
    pub fn set_viewport(&self, width: u32, height: u32) {
        let _ = self.call(reqwest::Method::POST, "/window/rect", Some(json!({ "width": width, "height": height })));
        // The window includes the browser's frame; grow it by what the viewport lacks.
        let inner = self.js("return [window.innerWidth, window.innerHeight];", json!([]));
        let (w, h) = (inner[0].as_u64().unwrap_or(0) as u32, inner[1].as_u64().unwrap_or(0) as u32);
        if (w, h) != (width, height) {
            let body = json!({ "width": 2 * width - w.min(2 * width), "height": 2 * height - h.min(2 * height) });
            let _ = self.call(reqwest::Method::POST, "/window/rect", Some(body));
        }
    }

    /// The text of the open alert, confirm or prompt, if one is open.
    pub fn alert_text(&self) -> Option<String> {
        let answer = self.call(reqwest::Method::GET, "/alert/text", None);
        answer.as_str().map(str::to_owned)
    }

    /// The browser console's entries since the last call (Chromium's log extension).
    pub fn console_log(&self) -> Vec<Value> {
        let answer = self.call(reqwest::Method::POST, "/se/log", Some(json!({ "type": "browser" })));
        answer.as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
