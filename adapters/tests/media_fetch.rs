//! The media fetcher against the fake Graph API, with the folder store: photos and voice
//! notes are fetched once, checked and kept sealed; every bad file ends in a recorded
//! reason with nothing kept; an erased contact's files open for no one, then are deleted.

use base64::Engine;
use laras_adapters::graph_api::fake::{jpeg, voice_note, FakeGraph, MediaBehaviour};
use laras_adapters::graph_api::{GraphMediaSource, GraphSettings};
use laras_adapters::media_folder::FolderMediaStore;
use laras_commands::credentials::{AccessToken, ChannelCredentials};
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::media::{MediaFetchProcess, MediaFetcher, MediaObject, MediaSettings, MediaVault, MEDIA_FETCH};
use laras_commands::memory::{ledger_at, onboard_with_channel, MemoryCredentials};
use laras_commands::runtime::memory::MemoryRuntime;
use laras_commands::runtime::{Checkpoints, NodeId, PoisonPolicy, ProcessState, Supervisor, SupervisorSettings};
use laras_commands::{CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AttachmentKind, DomainEvent, MediaUnavailableReason};
use laras_domain::ids::{ContactId, PartnerId};
use laras_domain::time::Timestamp;
use sha2::Digest;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const SHOP: PartnerId = PartnerId(Uuid::from_u128(1));
const PAGE: PartnerId = PartnerId(Uuid::from_u128(2));
const WA: &str = "106540352242922";
const FB: &str = "page-77";

fn sha256_b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

struct Rig {
    ledger: Ledger,
    fake: FakeGraph,
    vault: MediaVault,
    runtime: MemoryRuntime,
    fetcher: MediaFetcher,
    _dir: tempfile::TempDir,
    media_dir: std::path::PathBuf,
}

async fn rig() -> Rig {
    rig_timing_out_after(Duration::from_secs(5)).await
}

/// The rig with the Graph API client's timeout at `timeout` (a whole request's time).
async fn rig_timing_out_after(timeout: Duration) -> Rig {
    let ledger = ledger_at(NOW);
    onboard_with_channel(&ledger, SHOP, ChannelKind::WhatsApp, WA).await.unwrap();
    onboard_with_channel(&ledger, PAGE, ChannelKind::Messenger, FB).await.unwrap();
    let (fake, base_url) = FakeGraph::start();
    fake.vouch("wa-token", WA);
    let credentials = Arc::new(MemoryCredentials::default());
    credentials.store(SHOP, ChannelKind::WhatsApp, &AccessToken::new("wa-token")).unwrap();
    let settings = GraphSettings { base_url, timeout, ..GraphSettings::default() };
    let source = Arc::new(GraphMediaSource::new(settings, credentials).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let media_dir = dir.path().join("media");
    let store = Arc::new(FolderMediaStore::open(&media_dir).unwrap());
    let vault = MediaVault { store, keys: ledger.keys.clone() };
    let mut limits = MediaSettings::default().limits;
    limits.insert(laras_domain::media::MediaKind::Image, 1_000_000);
    let media_settings = MediaSettings {
        limits,
        attempts: 3,
        first_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        concurrency: 4,
    };
    let fetcher = MediaFetcher { ledger: ledger.clone(), vault: vault.clone(), source, settings: media_settings };
    Rig { ledger, fake, vault, runtime: MemoryRuntime::default(), fetcher, _dir: dir, media_dir }
}

fn supervise(rig: &Rig, checkpoints: MemoryRuntime) -> Supervisor {
    let settings = SupervisorSettings {
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
        ..SupervisorSettings::default()
    };
    let supervisor = Supervisor::new(Arc::new(checkpoints.clone()), NodeId("test".into()), settings);
    let process = MediaFetchProcess {
        fetcher: rig.fetcher.clone(),
        checkpoints: Arc::new(checkpoints),
        poison: PoisonPolicy::default(),
    };
    supervisor.spawn(Arc::new(process));
    supervisor
}

async fn whatsapp(ledger: &Ledger, wamid: &str, content: PlainContent) -> ContactId {
    let msg = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: WA.into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: "6281234567".into(), name: None },
        channel_message_id: wamid.into(),
        sent_at: NOW,
        content,
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    ledger.record_inbound_message(SHOP, msg, &CommandMeta::system("webhook")).await.unwrap().contact_id
}

fn image(id: &str, sha256: Option<String>) -> PlainContent {
    PlainContent::Image { media: id.into(), mime: Some("image/jpeg".into()), caption: None, sha256 }
}

/// Every media outcome in the log, by message id.
async fn outcomes(ledger: &Ledger) -> BTreeMap<String, DomainEvent> {
    let all = ledger.store.read_all(0, 100_000).await.unwrap();
    let mut out = BTreeMap::new();
    for s in all {
        match s.envelope.event().unwrap() {
            e @ DomainEvent::MediaStored { .. } | e @ DomainEvent::MediaUnavailable { .. } => {
                let (DomainEvent::MediaStored { channel_message_id, .. }
                | DomainEvent::MediaUnavailable { channel_message_id, .. }) = &e
                else {
                    unreachable!()
                };
                assert!(out.insert(channel_message_id.clone(), e.clone()).is_none(), "recorded twice: {e:?}");
            }
            _ => {}
        }
    }
    out
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("tmp"))
        .map(|p| if p.is_dir() { files_under(&p) } else { 1 })
        .sum()
}

fn unavailable(reason: MediaUnavailableReason) -> impl Fn(&DomainEvent) -> bool {
    move |e| matches!(e, DomainEvent::MediaUnavailable { reason: r, .. } if *r == reason)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn photos_and_voice_notes_are_fetched_once_checked_kept_sealed_and_shredded_with_their_contact() {
    let rig = rig().await;
    let photo = jpeg(800, 600, 200_000);
    let voice = voice_note(3);
    let wrong = jpeg(10, 10, 10);
    let big = jpeg(4000, 3000, 1_200_000);
    let pdf = b"%PDF-1.7 not a photo".to_vec();
    rig.fake.serve_media("9001", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    rig.fake.serve_media("9002", voice.clone(), "audio/ogg", MediaBehaviour::Serve);
    rig.fake.serve_media("9003", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    rig.fake.serve_media("9004", big.clone(), "image/jpeg", MediaBehaviour::Serve);
    rig.fake.serve_media("9005", photo.clone(), "image/jpeg", MediaBehaviour::ExpiredUrl);
    rig.fake.serve_media("9006", photo.clone(), "image/jpeg", MediaBehaviour::Truncate);
    rig.fake.serve_media("9007", pdf.clone(), "image/jpeg", MediaBehaviour::Serve);
    rig.fake.serve_media("9008", photo.clone(), "image/jpeg", MediaBehaviour::UnknownId);
    rig.fake.serve_media("cdn-1", photo.clone(), "image/jpeg", MediaBehaviour::Serve);

    let customer = whatsapp(&rig.ledger, "wamid.photo", image("9001", Some(sha256_b64(&photo)))).await;
    // A redelivery of the same webhook.
    whatsapp(&rig.ledger, "wamid.photo", image("9001", Some(sha256_b64(&photo)))).await;
    let note = PlainContent::VoiceNote {
        media: "9002".into(),
        mime: Some("audio/ogg; codecs=opus".into()),
        sha256: Some(sha256_b64(&voice)),
    };
    whatsapp(&rig.ledger, "wamid.voice", note).await;
    whatsapp(&rig.ledger, "wamid.hash", image("9003", Some(sha256_b64(&wrong)))).await;
    whatsapp(&rig.ledger, "wamid.big", image("9004", None)).await;
    whatsapp(&rig.ledger, "wamid.expired", image("9005", None)).await;
    whatsapp(&rig.ledger, "wamid.cut", image("9006", None)).await;
    whatsapp(&rig.ledger, "wamid.lie", image("9007", None)).await;
    whatsapp(&rig.ledger, "wamid.old", image("9008", None)).await;
    let doc = PlainContent::Attachment {
        attachment: AttachmentKind::Document,
        media: "".into(),
        mime: None,
        caption: None,
        sha256: None,
    };
    whatsapp(&rig.ledger, "wamid.empty", doc).await;
    let fb = IncomingMessage {
        channel: ChannelKind::Messenger,
        account_id: FB.into(),
        sender: SenderIdentity { kind: IdentityKind::Psid, value: "psid-1".into(), name: None },
        channel_message_id: "m_photo".into(),
        sent_at: NOW,
        content: PlainContent::Image { media: rig.fake.media_url("cdn-1"), mime: None, caption: None, sha256: None },
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    rig.ledger.record_inbound_message(PAGE, fb, &CommandMeta::system("webhook")).await.unwrap();

    let supervisor = supervise(&rig, rig.runtime.clone());
    until("every file has an outcome", async || outcomes(&rig.ledger).await.len() == 10).await;
    let all = outcomes(&rig.ledger).await;
    let DomainEvent::MediaStored { object, size, mime, width, height, sha256, .. } = &all["wamid.photo"] else {
        panic!("{:?}", all["wamid.photo"])
    };
    assert_eq!((*size, mime.as_str(), *width, *height), (photo.len() as u64, "image/jpeg", Some(800), Some(600)));
    assert_eq!(rig.ledger.open(sha256).unwrap(), Some(hex::encode(sha2::Sha256::digest(&photo))));
    assert!(
        matches!(&all["wamid.voice"], DomainEvent::MediaStored { mime, duration_ms: Some(3_000), .. } if mime == "audio/ogg")
    );
    assert!(matches!(&all["m_photo"], DomainEvent::MediaStored { width: Some(800), .. }));
    assert!(unavailable(MediaUnavailableReason::HashMismatch)(&all["wamid.hash"]));
    assert!(unavailable(MediaUnavailableReason::TooLarge { limit: 1_000_000 })(&all["wamid.big"]));
    assert!(unavailable(MediaUnavailableReason::Expired)(&all["wamid.expired"]));
    assert!(unavailable(MediaUnavailableReason::Truncated)(&all["wamid.cut"]), "{:?}", all["wamid.cut"]);
    assert!(unavailable(MediaUnavailableReason::TypeMismatch)(&all["wamid.lie"]));
    assert!(unavailable(MediaUnavailableReason::NotFound)(&all["wamid.old"]));
    assert!(unavailable(MediaUnavailableReason::NoReference)(&all["wamid.empty"]));
    // Fetched once despite the redelivery; the oversized file was refused on its announced
    // size, before a byte was downloaded; the expired link was tried (and looked up) again.
    assert_eq!(rig.fake.media_downloads("9001"), 1);
    assert_eq!(rig.fake.media_downloads("9004"), 0);
    assert_eq!(rig.fake.media_downloads("9005"), 3);
    // Only the three good files are kept.
    assert_eq!(files_under(&rig.media_dir), 3);

    // Kept sealed, and opened by range.
    let kept = MediaObject { partner: SHOP, contact: customer, name: object.clone() };
    let on_disk =
        std::fs::read(rig.media_dir.join(SHOP.0.to_string()).join(customer.0.to_string()).join(object)).unwrap();
    assert!(!on_disk.windows(64).any(|w| w == &photo[100_000..100_064]));
    let opened = rig.vault.open(&kept).await.unwrap().unwrap();
    assert_eq!(rig.vault.read(&opened, 0..photo.len() as u64).await.unwrap().unwrap(), photo);
    assert_eq!(rig.vault.read(&opened, 70_000..70_100).await.unwrap().unwrap(), &photo[70_000..70_100]);

    let status = supervisor.registry().get(MEDIA_FETCH).unwrap();
    assert_eq!(status.state, ProcessState::Running);
    let head = *rig.ledger.store.head().borrow();
    until("the checkpoint reaches the head", async || rig.runtime.load(MEDIA_FETCH).await.unwrap() >= Some(head)).await;
    supervisor.shutdown().await;

    // A run from the start of the log (a lost checkpoint) fetches nothing again.
    let fresh = supervise(&rig, MemoryRuntime::default());
    tokio::time::sleep(Duration::from_millis(300)).await;
    fresh.shutdown().await;
    assert_eq!(rig.fake.media_downloads("9001"), 1);
    assert_eq!(outcomes(&rig.ledger).await.len(), 10);

    // Erasure: unreadable at once, then the files are deleted.
    let supervisor = supervise(&rig, rig.runtime.clone());
    rig.ledger.erase_contact(SHOP, customer, &CommandMeta::system("test")).await.unwrap();
    assert!(rig.vault.open(&kept).await.unwrap().is_none());
    until("the erased contact's files are deleted", async || files_under(&rig.media_dir) == 1).await;
    supervisor.shutdown().await;
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// A measurement, not a timed test: `cargo test -p laras-adapters --test media_fetch --
/// --ignored --nocapture`. Prints, from one run, the median time to record a text message
/// (the plain-text path), the median time from a photo's record to its `MediaStored`
/// (the added latency), their ratio, and the fetch throughput of a backlog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_media_fetch_beside_the_plain_text_path() {
    let rig = rig().await;
    let photo = jpeg(1280, 960, 150_000);
    let rounds = 60;
    let mut text = Vec::new();
    for n in 0..rounds {
        let started = Instant::now();
        whatsapp(&rig.ledger, &format!("wamid.text.{n}"), PlainContent::Text("Berapa harganya?".into())).await;
        text.push(started.elapsed());
    }
    let supervisor = supervise(&rig, rig.runtime.clone());
    let mut added = Vec::new();
    for n in 0..rounds {
        let id = format!("7{n:04}");
        rig.fake.serve_media(&id, photo.clone(), "image/jpeg", MediaBehaviour::Serve);
        let wamid = format!("wamid.one.{n}");
        let recorded = Instant::now();
        whatsapp(&rig.ledger, &wamid, image(&id, Some(sha256_b64(&photo)))).await;
        let mut head = rig.ledger.store.head();
        while !outcomes(&rig.ledger).await.contains_key(&wamid) {
            let _ = tokio::time::timeout(Duration::from_millis(50), head.changed()).await;
        }
        added.push(recorded.elapsed());
    }
    supervisor.shutdown().await;

    let backlog = 300;
    for n in 0..backlog {
        let id = format!("8{n:04}");
        rig.fake.serve_media(&id, photo.clone(), "image/jpeg", MediaBehaviour::Serve);
        whatsapp(&rig.ledger, &format!("wamid.backlog.{n}"), image(&id, None)).await;
    }
    let started = Instant::now();
    let supervisor = supervise(&rig, rig.runtime.clone());
    let expected = rounds + backlog;
    until("the backlog is fetched", async || outcomes(&rig.ledger).await.len() >= expected).await;
    let elapsed = started.elapsed();
    supervisor.shutdown().await;

    let (text, added) = (median(text), median(added));
    let per_second = backlog as f64 / elapsed.as_secs_f64();
    println!("plain-text record, median of {rounds}: {text:?}");
    println!("photo ({} bytes) record to MediaStored, median of {rounds}: {added:?}", photo.len());
    println!("ratio photo/plain-text: {:.1}", added.as_secs_f64() / text.as_secs_f64());
    println!(
        "backlog of {backlog} photos: {elapsed:?}, {per_second:.0} files/s, {:.1} MB/s",
        per_second * photo.len() as f64 / 1e6
    );
}

/// A file server that sends half a file and then goes silent ends in a recorded reason
/// within the attempts' timeouts, keeps nothing of the half, and holds no other file up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_silent_mid_file_ends_in_a_recorded_reason_and_holds_no_neighbour() {
    let rig = rig_timing_out_after(Duration::from_millis(400)).await;
    let photo = jpeg(640, 480, 150_000);
    rig.fake.serve_media("9101", photo.clone(), "image/jpeg", MediaBehaviour::Stall);
    rig.fake.serve_media("9102", photo.clone(), "image/jpeg", MediaBehaviour::Serve);
    whatsapp(&rig.ledger, "wamid.silent", image("9101", None)).await;
    whatsapp(&rig.ledger, "wamid.after", image("9102", None)).await;
    let started = Instant::now();
    let supervisor = supervise(&rig, rig.runtime.clone());
    until("both files have an outcome", async || outcomes(&rig.ledger).await.len() == 2).await;
    let all = outcomes(&rig.ledger).await;
    assert!(unavailable(MediaUnavailableReason::Unreachable)(&all["wamid.silent"]), "{:?}", all["wamid.silent"]);
    assert!(matches!(&all["wamid.after"], DomainEvent::MediaStored { .. }), "{:?}", all["wamid.after"]);
    assert_eq!(rig.fake.media_downloads("9101"), 3, "each attempt timed out and was tried again");
    assert_eq!(files_under(&rig.media_dir), 1, "nothing of the half file is kept");
    // Three attempts of 0.4 s with short backoffs: bounded, not stuck.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    supervisor.shutdown().await;
}
