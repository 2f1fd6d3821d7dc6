//! The webhook endpoint when the store fails: a 5xx so Meta retries, and nothing half-recorded.

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use laras_adapters::meta_webhook::{routes, WebhookCounters, WebhookState};
use laras_commands::directory::ChannelDirectory;
use laras_commands::memory::{MemoryKeys, MemoryStore};
use laras_commands::signer::LedgerSigner;
use laras_commands::store::*;
use laras_commands::{CommandMeta, Ledger};
use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, OnboardPartner};
use laras_domain::channel::ChannelKind;
use laras_domain::event::ApprovalMode;
use laras_domain::ids::PartnerId;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::stream::StreamId;
use laras_domain::time::{ManualClock, Timestamp};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use uuid::Uuid;

/// A store whose appends can be made to fail, as a full disk would.
#[derive(Default)]
struct FlakyStore {
    inner: MemoryStore,
    failing: AtomicBool,
}

#[async_trait]
impl EventStore for FlakyStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Storage("disk full".into()));
        }
        self.inner.append(request).await
    }
    async fn read_stream(&self, stream: &StreamId, from: u64) -> Result<Vec<StoredEnvelope>, StoreError> {
        self.inner.read_stream(stream, from).await
    }
    async fn stream_head(&self, stream: &StreamId) -> Result<Option<StreamHead>, StoreError> {
        self.inner.stream_head(stream).await
    }
    async fn read_all(&self, after: Position, limit: usize) -> Result<Vec<StoredEnvelope>, StoreError> {
        self.inner.read_all(after, limit).await
    }
    fn head(&self) -> watch::Receiver<Position> {
        self.inner.head()
    }
}

fn body(wamid: &str) -> String {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "1065"}, "contacts": [{"wa_id": "628123", "profile": {"name": "Ana"}}],
        "messages": [{"from": "628123", "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": "halo"}}]}}]}]})
    .to_string()
}

fn signature(body: &str) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"secret").unwrap();
    mac.update(body.as_bytes());
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A Partner with a WhatsApp account (operator-seeded: no token, no proof) on `store`, and
/// the webhook route served on loopback: its URL.
async fn serve_webhooks(store: Arc<dyn EventStore>) -> String {
    let ledger = Ledger::new(
        store.clone(),
        Arc::new(MemoryKeys::default()),
        Arc::new(LedgerSigner::new(LedgerSigningKey::from_secret([7; 32]))),
        Arc::new(ManualClock::at(Timestamp(1_767_225_600_000))),
    );
    let partner = PartnerId(Uuid::from_u128(1));
    let meta = CommandMeta::system("test");
    let onboard = OnboardPartner {
        partner_id: partner,
        name: "Toko".into(),
        approval: ApprovalMode::Approval,
        pipeline: default_pipeline(),
    };
    ledger.onboard_partner(onboard, &meta).await.unwrap();
    let directory = ChannelDirectory::new(store);
    tokio::spawn(directory.clone().follow(std::future::pending()));
    let connect = ConnectChannel {
        channel: ChannelKind::WhatsApp,
        account_id: "1065".into(),
        display_name: "Toko".into(),
        proof: None,
    };
    ledger.connect_channel(partner, connect, &directory, &meta).await.unwrap();
    let state = Arc::new(WebhookState {
        ledger,
        directory,
        app_secret: "secret".into(),
        verify_token: None,
        counters: WebhookCounters::default(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/meta", listener.local_addr().unwrap());
    let app = routes(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn an_address_that_keeps_posting_bad_signatures_is_refused_unread_and_meta_is_not() {
    let store = Arc::new(FlakyStore::default());
    let url = serve_webhooks(store.clone()).await;
    let from =
        |ip: [u8; 4]| reqwest::Client::builder().local_address(std::net::IpAddr::from(ip)).build().expect("client");
    let (stranger, meta) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    let forged = body("wamid.forged");
    for _ in 0..30 {
        let r = stranger.post(&url).header("x-hub-signature-256", "sha256=00").body(forged.clone()).send().await;
        assert_eq!(r.expect("answer").status().as_u16(), 401);
    }
    // Past its budget even a correctly signed body from that address is refused unread.
    let signed = body("wamid.2");
    let r = stranger.post(&url).header("x-hub-signature-256", signature(&signed)).body(signed.clone()).send().await;
    let r = r.expect("answer");
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("60"));
    let r = meta.post(&url).header("x-hub-signature-256", signature(&signed)).body(signed).send().await;
    assert_eq!(r.expect("answer").status().as_u16(), 200, "another address is not refused");
    let recorded = store.read_all(0, 1000).await.unwrap();
    assert_eq!(recorded.iter().filter(|s| s.envelope.header.event_type == "InboundMessageReceived").count(), 1);
}

#[tokio::test]
async fn a_failed_append_answers_503_so_meta_retries_and_the_retry_is_recorded_once() {
    let store = Arc::new(FlakyStore::default());
    let url = serve_webhooks(store.clone()).await;
    let client = reqwest::Client::new();
    let post = |b: String| {
        let sig = signature(&b);
        client.post(&url).header("x-hub-signature-256", sig).body(b).send()
    };

    let before = store.read_all(0, 1000).await.unwrap().len();
    store.failing.store(true, Ordering::SeqCst);
    assert_eq!(post(body("wamid.1")).await.unwrap().status().as_u16(), 503);
    assert_eq!(store.read_all(0, 1000).await.unwrap().len(), before, "nothing recorded");

    store.failing.store(false, Ordering::SeqCst);
    assert_eq!(post(body("wamid.1")).await.unwrap().status().as_u16(), 200);
    assert_eq!(post(body("wamid.1")).await.unwrap().status().as_u16(), 200);
    let received = store
        .read_all(0, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|s| s.envelope.header.event_type == "InboundMessageReceived")
        .count();
    assert_eq!(received, 1);
}

fn delivery_of(messages: &[(&str, &str)]) -> String {
    let messages: Vec<_> = messages
        .iter()
        .map(|(from, wamid)| {
            serde_json::json!({"from": from, "id": wamid, "timestamp": "1767225600", "type": "text", "text": {"body": "halo"}})
        })
        .collect();
    let contacts: Vec<_> =
        messages.iter().map(|m| serde_json::json!({"wa_id": m["from"], "profile": {"name": "Ana"}})).collect();
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", "value": {
        "metadata": {"phone_number_id": "1065"}, "contacts": contacts, "messages": messages}}]}]})
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deliverys_messages_are_recorded_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(laras_adapters::sqlite_log::SqliteEventStore::open(&dir.path().join("log.sqlite")).unwrap());
    let store: Arc<dyn EventStore> = sqlite.clone();
    let url = serve_webhooks(store.clone()).await;
    let client = reqwest::Client::new();
    let post = |b: String| {
        let sig = signature(&b);
        client.post(&url).header("x-hub-signature-256", sig).body(b).send()
    };
    // The directory learns the account (and the route's first delivery warms nothing).
    assert_eq!(post(delivery_of(&[("62810", "wamid.0")])).await.unwrap().status().as_u16(), 200);

    let before = sqlite.metrics().commits;
    let three = delivery_of(&[("62811", "wamid.a"), ("62812", "wamid.b"), ("62813", "wamid.c")]);
    assert_eq!(post(three.clone()).await.unwrap().status().as_u16(), 200);
    assert_eq!(sqlite.metrics().commits - before, 1, "three customers' messages, one commit");
    assert_eq!(post(three).await.unwrap().status().as_u16(), 200, "a redelivery is acknowledged");
    let received = store
        .read_all(0, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|s| s.envelope.header.event_type == "InboundMessageReceived")
        .count();
    assert_eq!(received, 4, "and recorded once");
    sqlite.close().await;
}
