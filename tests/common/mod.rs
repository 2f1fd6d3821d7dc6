//! Runs the real `laras` binary: a fresh data dir, a free loopback port, and a clean stop.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_laras");

/// Request limits lifted, for tests that poll GraphQL and are not about the limits.
pub const LIFTED_LIMITS: [(&str, &str); 4] = [
    ("LARAS_REQUESTS_PER_KEY_PER_SECOND", "100000"),
    ("LARAS_REQUEST_BURST_PER_KEY", "100000"),
    ("LARAS_REQUESTS_PER_IP_PER_SECOND", "0"),
    ("LARAS_NEW_CONNECTIONS_PER_IP_PER_SECOND", "0"),
];

/// `env` followed by [`LIFTED_LIMITS`].
pub fn with_lifted_limits<'a>(env: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    env.iter().chain(LIFTED_LIMITS.iter()).copied().collect()
}

/// A `laras` command against `data_dir`, with a quiet log.
pub fn laras(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("LARAS_DATA_DIR", data_dir)
        .env("LARAS_LOG", "warn")
        .env_remove("LARAS_CONFIG")
        .env_remove("LARAS_STORE_URL");
    cmd
}

pub fn run(data_dir: &Path, args: &[&str]) -> Output {
    laras(data_dir).args(args).output().expect("run laras")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A server child process, stopped with SIGTERM on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub data_dir: PathBuf,
}

impl Server {
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Server {
        let server = Server::launch(data_dir, extra_env);
        server.wait_healthy();
        server
    }

    /// Spawns `laras serve` without waiting for it (several nodes started at once).
    pub fn launch(data_dir: &Path, extra_env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let mut cmd = laras(data_dir);
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}")]).stdout(Stdio::null()).stderr(Stdio::piped());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn laras serve");
        Server { child, base: format!("http://127.0.0.1:{port}"), data_dir: data_dir.to_path_buf() }
    }

    /// Waits until `/readyz` answers 200 (every process running or waiting for a lease
    /// another node holds, none far behind); panics with the last answer after `within`.
    pub fn wait_ready(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let url = format!("{}/readyz", self.base);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("laras serve exited with {status} before it was ready");
            }
            if let Ok(resp) = reqwest::blocking::get(&url) {
                let ok = resp.status().is_success();
                last = resp.text().unwrap_or_default();
                if ok {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("laras serve was not ready at {url}: {last}");
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let url = format!("{}/healthz", self.base);
        while Instant::now() < deadline {
            if let Ok(resp) = reqwest::blocking::get(&url) {
                if resp.status().is_success() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("laras serve did not become healthy at {url}");
    }

    /// SIGTERM, then wait: the graceful path that flushes the writer.
    pub fn stop(mut self) -> std::process::ExitStatus {
        terminate(&self.child);
        let status = self.child.wait().expect("wait for laras");
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&self.child);
        let _ = self.child.wait();
    }
}

pub fn terminate(child: &Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
}

pub fn kill9(child: &Child) {
    let _ = Command::new("kill").args(["-KILL", &child.id().to_string()]).status();
}

/// Reads lines from a child's stdout on a thread, so the test can stop reading at will.
pub fn lines_of(child: &mut Child) -> std::sync::mpsc::Receiver<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `sha256=` + hex HMAC-SHA256 of the body: what Meta puts in `X-Hub-Signature-256`.
pub fn meta_signature(app_secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(app_secret.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The accounts the channel tests connect: one per channel, WhatsApp's being a phone number id.
pub const CHANNEL_ACCOUNTS: [(&str, &str); 4] = [
    ("whatsapp", "106540352242922"),
    ("messenger", "109876543210987"),
    ("instagram", "17841405822304914"),
    ("threads", "78901"),
];

/// Connects every channel of [`CHANNEL_ACCOUNTS`] for `partner` with the token `TOKEN-{kind}`,
/// which the fake Graph API at `graph_base` is told to vouch for first.
pub fn connect_all_channels(
    data_dir: &Path,
    partner: &str,
    fake: &laras_adapters::graph_api::fake::FakeGraph,
    graph_base: &str,
) {
    for (kind, account) in CHANNEL_ACCOUNTS {
        fake.vouch(&format!("TOKEN-{kind}"), account);
        let out = laras(data_dir)
            .args(["channel", "connect", "--partner", partner, "--kind", kind, "--account", account, "--name", "Toko"])
            .env("LARAS_CHANNEL_TOKEN", format!("TOKEN-{kind}"))
            .env("LARAS_META_GRAPH_URL", graph_base)
            .env("LARAS_THREADS_GRAPH_URL", graph_base)
            .output()
            .expect("laras channel connect");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Posts `query` to `base`'s `/graphql` with the API key `key`; answers `data`, failing the
/// test on any GraphQL error.
pub fn graphql(base: &str, key: &str, query: &str) -> serde_json::Value {
    let body = serde_json::json!({ "query": query });
    let resp = reqwest::blocking::Client::new().post(format!("{base}/graphql")).bearer_auth(key).json(&body).send();
    let value: serde_json::Value = resp.expect("post /graphql").json().expect("json");
    assert!(value["errors"].is_null(), "{value}");
    value["data"].clone()
}

/// Posts a Meta webhook body signed with `app_secret`; answers the HTTP status.
pub fn post_meta_webhook(base: &str, app_secret: &str, body: &[u8]) -> u16 {
    reqwest::blocking::Client::new()
        .post(format!("{base}/webhooks/meta"))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", meta_signature(app_secret, body))
        .body(body.to_vec())
        .send()
        .expect("post webhook")
        .status()
        .as_u16()
}
