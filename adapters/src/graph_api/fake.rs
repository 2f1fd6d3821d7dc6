//! A fake Graph API on loopback for tests: records every request and answers from a
//! script (errors, rate limits, delays). Used by this crate's tests and the binary's
//! end-to-end tests; it never leaves 127.0.0.1.
//!
//! Account look-ups (`GET`, as the [`super::GraphProver`] sends them) answer from the
//! tokens the test vouched for: `GET /{id}` answers the account when the token controls
//! it, error 100 when the token is known but does not, 190 when the token is unknown;
//! `GET /me` answers the token's first account. Look-ups bypass the script and are kept
//! apart from the sends in `requests()`.
//!
//! Media: files the test serves answer WhatsApp's `GET /{version}/{media-id}` (URL, type,
//! SHA-256, size; a known token is required) and their bytes at `/cdn/{id}`, as served,
//! behind an expired link, cut off halfway, or unknown; Messenger-style attachment links
//! are [`FakeGraph::media_url`]. Every download is counted.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub body: Value,
    /// The request's number: a success answers `wamid.fake.{seq}` / `m_fake.{seq}`.
    pub seq: u64,
}

/// One scripted answer; when the script is empty the fake answers success.
#[derive(Clone, Debug)]
pub enum Answer {
    Ok,
    Error {
        status: u16,
        code: i64,
        title: &'static str,
    },
    RateLimited {
        retry_after_s: u64,
    },
    Slow(Duration),
    /// Takes the message (it is recorded, as Meta would deliver it) and never answers: the
    /// window in which a crash leaves a send in doubt.
    AcceptAndHang,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    lookups: Vec<Recorded>,
    script: VecDeque<Answer>,
    /// Added to every unscripted answer (a slow Meta widens the in-doubt window).
    latency: Duration,
    counter: u64,
    /// (token, account id): the token controls the account.
    grants: Vec<(String, String)>,
    base: String,
    media: HashMap<String, FakeMedia>,
    /// Downloads of each file's bytes (`/cdn/{id}`), by id.
    downloads: HashMap<String, usize>,
}

/// How the fake serves one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaBehaviour {
    Serve,
    /// The look-up answers; the link it gives answers 404 (it expired).
    ExpiredUrl,
    /// The bytes stop halfway through the announced `Content-Length`.
    Truncate,
    /// Half the bytes go out, then the server says nothing more, never closing.
    Stall,
    /// The media id is not known (past its 30 days): the look-up answers error 100.
    UnknownId,
}

#[derive(Clone, Debug)]
struct FakeMedia {
    bytes: Arc<Vec<u8>>,
    mime: String,
    behaviour: MediaBehaviour,
}

#[derive(Clone, Default)]
pub struct FakeGraph(Arc<Mutex<Inner>>);

impl FakeGraph {
    /// Starts the fake on 127.0.0.1:0 on its own runtime thread; returns it and its base URL.
    /// Panics if it cannot bind a loopback port (it is for tests).
    pub fn start() -> (FakeGraph, String) {
        let fake = FakeGraph::default();
        let state = fake.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else { return };
                let Ok(addr) = listener.local_addr() else { return };
                state.0.lock().unwrap_or_else(|p| p.into_inner()).base = format!("http://{addr}");
                if tx.send(addr).is_err() {
                    return;
                }
                let app = Router::new().fallback(handle).with_state(state);
                let _ = axum::serve(listener, app).await;
            });
        });
        let addr = rx.recv().expect("fake graph address");
        (fake, format!("http://{addr}"))
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).script.extend(answers);
    }

    /// From now on every unscripted answer takes `latency`.
    pub fn set_latency(&self, latency: Duration) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).latency = latency;
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).requests.clone()
    }

    /// From now on `token` controls `account_id` (a phone number id, Page, IG or Threads user).
    pub fn vouch(&self, token: &str, account_id: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).grants.push((token.to_owned(), account_id.to_owned()));
    }

    /// Serves a file under the media id (or link id) `id`.
    pub fn serve_media(&self, id: &str, bytes: Vec<u8>, mime: &str, behaviour: MediaBehaviour) {
        let file = FakeMedia { bytes: Arc::new(bytes), mime: mime.to_owned(), behaviour };
        self.0.lock().unwrap_or_else(|p| p.into_inner()).media.insert(id.to_owned(), file);
    }

    /// The CDN link of a served file, as a Messenger or Instagram webhook carries it.
    pub fn media_url(&self, id: &str) -> String {
        format!("{}/cdn/{id}?oh=signed", self.0.lock().unwrap_or_else(|p| p.into_inner()).base)
    }

    /// How many times the bytes of `id` were downloaded.
    pub fn media_downloads(&self, id: &str) -> usize {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).downloads.get(id).copied().unwrap_or(0)
    }

    /// The account look-ups received (`GET`s), in order.
    pub fn lookups(&self) -> Vec<Recorded> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).lookups.clone()
    }
}

/// A JPEG of `width` × `height` (its SOF0 header) and `filler` bytes: enough for the
/// media checks, which read magic numbers and dimensions, never the picture.
pub fn jpeg(width: u16, height: u16, filler: usize) -> Vec<u8> {
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 4, b'J', b'F'];
    b.extend_from_slice(&[0xFF, 0xC0, 0, 11, 8]);
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&[1, 1, 0x11, 0]);
    b.extend((0..filler).map(|i| (i * 13 % 251) as u8));
    b
}

/// An Ogg Opus voice note of `seconds` (its first and last pages), about 90 kB.
pub fn voice_note(seconds: u64) -> Vec<u8> {
    let mut b = b"OggS\0\x02".to_vec();
    b.extend_from_slice(&[0; 22]);
    b.extend_from_slice(b"OpusHead\x01\x01");
    b.extend_from_slice(&312u16.to_le_bytes());
    b.extend((0..90_000).map(|i| (i % 199) as u8));
    b.extend_from_slice(b"OggS\0\x04");
    b.extend_from_slice(&(seconds * 48_000 + 312).to_le_bytes());
    b.extend_from_slice(&[0; 20]);
    b
}

/// Answers an account look-up from the grants.
fn lookup(fake: &FakeGraph, uri: &Uri, authorization: Option<String>) -> axum::response::Response {
    let token = authorization.as_deref().and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("").to_owned();
    let target = uri.path().rsplit('/').next().unwrap_or("").to_owned();
    let answered = {
        let mut inner = fake.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.lookups.push(Recorded { path: uri.path().to_owned(), authorization, body: Value::Null, seq: 0 });
        let known = inner.grants.iter().any(|(t, _)| *t == token);
        let account =
            inner.grants.iter().find(|(t, a)| *t == token && (target == "me" || *a == target)).map(|(_, a)| a.clone());
        (known, account)
    };
    match answered {
        (_, Some(id)) => axum::Json(json!({
            "id": id,
            "name": format!("Fake {id}"),
            "username": format!("fake_{id}"),
            "verified_name": format!("Fake {id}"),
            "display_phone_number": "+62 811-0000-0000",
        }))
        .into_response(),
        (true, None) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "Unsupported get request. Object does not exist, cannot be loaded due to missing permissions, or does not support this operation", "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "Afake"}})),
        )
            .into_response(),
        (false, None) => (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": {"message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException", "code": 190, "fbtrace_id": "Afake"}})),
        )
            .into_response(),
    }
}

async fn handle(
    State(fake): State<FakeGraph>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> axum::response::Response {
    if method == Method::GET {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
        if let Some(id) = uri.path().strip_prefix("/cdn/") {
            return cdn(&fake, id);
        }
        if let Some(response) = media_lookup(&fake, &uri, authorization.as_deref()) {
            return response;
        }
        return lookup(&fake, &uri, authorization);
    }
    let multipart = multipart_fields(&headers, body.clone()).await;
    let body: Value = multipart.map(Ok).unwrap_or_else(|| serde_json::from_slice(&body)).unwrap_or_else(|_| {
        // Form-encoded bodies (Threads) are recorded as an object of their fields.
        let fields: serde_json::Map<String, Value> = url_decode_pairs(&String::from_utf8_lossy(&body));
        Value::Object(fields)
    });
    let (answer, n) = {
        let mut inner = fake.0.lock().unwrap_or_else(|p| p.into_inner());
        inner.counter += 1;
        let seq = inner.counter;
        inner.requests.push(Recorded {
            path: uri.path().to_owned(),
            authorization: headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned),
            body,
            seq,
        });
        let latency = inner.latency;
        let unscripted = if latency.is_zero() { Answer::Ok } else { Answer::Slow(latency) };
        (inner.script.pop_front().unwrap_or(unscripted), inner.counter)
    };
    match answer {
        Answer::Ok => ok(uri.path(), n).into_response(),
        Answer::Slow(d) => {
            tokio::time::sleep(d).await;
            ok(uri.path(), n).into_response()
        }
        Answer::AcceptAndHang => {
            tokio::time::sleep(Duration::from_secs(24 * 3600)).await;
            ok(uri.path(), n).into_response()
        }
        Answer::Error { status, code, title } => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
            axum::Json(json!({"error": {"message": title, "type": "OAuthException", "code": code, "error_data": {"details": title}, "fbtrace_id": "Afake"}})),
        )
            .into_response(),
        Answer::RateLimited { retry_after_s } => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_s.to_string())],
            axum::Json(json!({"error": {"message": "rate limited", "code": 130429}})),
        )
            .into_response(),
    }
}

/// WhatsApp's media look-up, for ids the test serves: None for any other path.
fn media_lookup(fake: &FakeGraph, uri: &Uri, authorization: Option<&str>) -> Option<axum::response::Response> {
    use sha2::Digest;
    let id = uri.path().rsplit('/').next().unwrap_or("");
    let inner = fake.0.lock().unwrap_or_else(|p| p.into_inner());
    let file = inner.media.get(id)?.clone();
    let token = authorization.and_then(|a| a.strip_prefix("Bearer ")).unwrap_or("");
    if !inner.grants.iter().any(|(t, _)| t == token) {
        let body = json!({"error": {"message": "Invalid OAuth access token", "type": "OAuthException", "code": 190}});
        return Some((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
    }
    if file.behaviour == MediaBehaviour::UnknownId {
        let body = json!({"error": {"message": "Unsupported get request.", "type": "GraphMethodException", "code": 100, "error_subcode": 33}});
        return Some((StatusCode::BAD_REQUEST, axum::Json(body)).into_response());
    }
    let sha256 = hex::encode(sha2::Sha256::digest(file.bytes.as_slice()));
    Some(
        axum::Json(json!({
            "messaging_product": "whatsapp",
            "url": format!("{}/cdn/{id}?ext=1&hash=x", inner.base),
            "mime_type": file.mime,
            "sha256": sha256,
            "file_size": file.bytes.len(),
            "id": id,
        }))
        .into_response(),
    )
}

/// A file's bytes, as its behaviour says.
fn cdn(fake: &FakeGraph, id: &str) -> axum::response::Response {
    let file = {
        let mut inner = fake.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(file) = inner.media.get(id).cloned() else { return StatusCode::NOT_FOUND.into_response() };
        *inner.downloads.entry(id.to_owned()).or_default() += 1;
        file
    };
    let length = file.bytes.len().to_string();
    match file.behaviour {
        MediaBehaviour::ExpiredUrl | MediaBehaviour::UnknownId => StatusCode::NOT_FOUND.into_response(),
        MediaBehaviour::Serve => {
            ([("content-type", file.mime), ("content-length", length)], file.bytes.as_ref().clone()).into_response()
        }
        MediaBehaviour::Stall => {
            let half = Bytes::copy_from_slice(&file.bytes[..file.bytes.len() / 2]);
            let first = futures_util::stream::iter([Ok::<_, std::io::Error>(half)]);
            let body =
                axum::body::Body::from_stream(futures_util::StreamExt::chain(first, futures_util::stream::pending()));
            ([("content-type", file.mime), ("content-length", length)], body).into_response()
        }
        MediaBehaviour::Truncate => {
            let half = Bytes::copy_from_slice(&file.bytes[..file.bytes.len() / 2]);
            let parts: Vec<Result<Bytes, std::io::Error>> =
                vec![Ok(half), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut off"))];
            // The first half goes out (headers with it) before the connection is cut.
            let paced = futures_util::StreamExt::then(futures_util::stream::iter(parts), |part| async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                part
            });
            let body = axum::body::Body::from_stream(paced);
            ([("content-type", file.mime), ("content-length", length)], body).into_response()
        }
    }
}

fn ok(path: &str, n: u64) -> axum::Json<Value> {
    if path.ends_with("/threads") {
        axum::Json(json!({"id": format!("container{n}")}))
    } else if path.ends_with("/threads_publish") {
        axum::Json(json!({"id": format!("threads{n}")}))
    } else if path.contains("/messages") {
        axum::Json(
            json!({"messaging_product": "whatsapp", "messages": [{"id": format!("wamid.fake.{n}")}], "recipient_id": "r", "message_id": format!("m_fake.{n}")}),
        )
    } else {
        axum::Json(json!({"id": format!("id{n}")}))
    }
}

/// A multipart body (uploads) as an object of its fields: text fields as JSON where they
/// parse, files as their name, type, size and SHA-256 (hex). None for other bodies.
async fn multipart_fields(headers: &HeaderMap, body: Bytes) -> Option<Value> {
    use sha2::Digest;
    let content_type = headers.get("content-type")?.to_str().ok()?;
    let boundary = multer::parse_boundary(content_type).ok()?;
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut parts = multer::Multipart::new(stream, boundary);
    let mut fields = serde_json::Map::new();
    while let Ok(Some(field)) = parts.next_field().await {
        let name = field.name().unwrap_or_default().to_owned();
        let value = match field.file_name().map(str::to_owned) {
            Some(filename) => {
                let mime = field.content_type().map(|m| m.to_string());
                let bytes = field.bytes().await.ok()?;
                json!({"filename": filename, "mime": mime, "size": bytes.len(), "sha256": hex::encode(sha2::Sha256::digest(&bytes))})
            }
            None => {
                let text = field.text().await.ok()?;
                serde_json::from_str(&text).unwrap_or(Value::String(text))
            }
        };
        fields.insert(name, value);
    }
    Some(Value::Object(fields))
}

fn url_decode_pairs(text: &str) -> serde_json::Map<String, Value> {
    text.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_owned(), Value::String(v.replace('+', " "))))
        .collect()
}
