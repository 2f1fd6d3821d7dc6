//! `/webhooks/meta`: Meta's verification handshake and its deliveries.
//!
//! POST: the signature is checked over the raw body before anything is parsed; a
//! missing or wrong one is 401 with nothing recorded. Each signal becomes a command, and
//! a delivery's commands are recorded together (`laras_commands::together`: one group,
//! one commit, each append still checked on its own); the 200 goes out only after every
//! resulting append is durable, and a failed append is a 5xx so Meta retries. Content Laras cannot act on (unknown account, unknown
//! type, a status for a conversation it never had) is acknowledged and counted: Meta
//! disables endpoints that keep failing, and redelivering would not help.

use super::{parse, verify_signature, Signal};
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use laras_commands::directory::ChannelDirectory;
use laras_commands::{together, CommandError, CommandMeta, Ledger};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Meta's deliveries are small; 3 MB leaves room for large batches.
pub const MAX_BODY: usize = 3 * 1024 * 1024;

#[derive(Default, Debug)]
pub struct WebhookCounters {
    pub deliveries: AtomicU64,
    pub bad_signatures: AtomicU64,
    pub recorded: AtomicU64,
    pub duplicates: AtomicU64,
    pub ignored: AtomicU64,
    /// Items that could not be read (their neighbours in the delivery were still recorded).
    pub malformed: AtomicU64,
    pub unknown_accounts: AtomicU64,
    pub failed_appends: AtomicU64,
    /// Anyone can post a bad signature: one log line per period, with the count.
    pub bad_signature_lines: laras_commands::sampled::Sampled,
    /// Addresses refused for posting bad signatures again and again.
    pub bad_senders: super::BadSenders,
    pub refused_senders: AtomicU64,
}

pub struct WebhookState {
    pub ledger: Ledger,
    pub directory: Arc<ChannelDirectory>,
    pub app_secret: String,
    pub verify_token: Option<String>,
    pub counters: WebhookCounters,
}

pub fn routes(state: Arc<WebhookState>) -> Router {
    Router::new()
        .route("/webhooks/meta", get(handshake).post(delivery))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

#[derive(Deserialize)]
struct Handshake {
    #[serde(rename = "hub.mode")]
    mode: Option<String>,
    #[serde(rename = "hub.verify_token")]
    verify_token: Option<String>,
    #[serde(rename = "hub.challenge")]
    challenge: Option<String>,
}

async fn handshake(State(state): State<Arc<WebhookState>>, Query(q): Query<Handshake>) -> Response {
    let expected = state.verify_token.as_deref();
    let matches = match (q.mode.as_deref(), q.verify_token.as_deref(), expected) {
        (Some("subscribe"), Some(given), Some(expected)) => {
            subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into()
        }
        _ => false,
    };
    match (matches, q.challenge) {
        (true, Some(challenge)) => (StatusCode::OK, challenge).into_response(),
        _ => {
            tracing::warn!("webhook verification handshake refused");
            StatusCode::FORBIDDEN.into_response()
        }
    }
}

async fn delivery(State(state): State<Arc<WebhookState>>, request: Request) -> Response {
    let c = &state.counters;
    c.deliveries.fetch_add(1, Ordering::Relaxed);
    let ip = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let (parts, body) = request.into_parts();
    let headers = parts.headers;
    if ip.is_some_and(|ip| c.bad_senders.refused_at(ip, Instant::now())) {
        c.refused_senders.fetch_add(1, Ordering::Relaxed);
        count("unknown", "refused_sender");
        // Refused unread: the connection closes after this answer, and says so.
        let headers = [(header::RETRY_AFTER, "60"), (header::CONNECTION, "close")];
        return (StatusCode::TOO_MANY_REQUESTS, headers, "too many bad signatures").into_response();
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "body too large or cut short").into_response(),
    };
    let header = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(state.app_secret.as_bytes(), &body, header) {
        c.bad_signatures.fetch_add(1, Ordering::Relaxed);
        if let Some(ip) = ip {
            c.bad_senders.failed_at(ip, Instant::now());
        }
        count("unknown", "bad_signature");
        if let Some(refused) = c.bad_signature_lines.count() {
            tracing::warn!(reason = %e, refused, "webhook deliveries refused: bad signature");
        }
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let batch = match parse(&body, state.ledger.clock.now()) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(reason = %e, "signed webhook body is not JSON");
            return (StatusCode::BAD_REQUEST, "body is not JSON").into_response();
        }
    };
    for m in &batch.malformed {
        c.malformed.fetch_add(1, Ordering::Relaxed);
        count("unknown", "malformed");
        // Where it was and what kind, never what it said: the item may hold personal data.
        tracing::warn!(
            kind = m.kind,
            account = m.account.as_deref().unwrap_or("-"),
            position = %m.position,
            reason = m.reason,
            "webhook item could not be read; the rest of the delivery is recorded"
        );
    }
    let mut ignored: HashMap<String, u64> = HashMap::new();
    for i in &batch.ignored {
        *ignored.entry(i.reason.clone()).or_default() += 1;
    }
    let meta = CommandMeta::system("webhook");
    let mut routed = Vec::with_capacity(batch.signals.len());
    for signal in batch.signals {
        let kind = signal.kind();
        let channel = signal.channel();
        let Some(partner) = state.directory.partner_for(channel, signal.account_id(), Duration::from_millis(500)).await
        else {
            c.unknown_accounts.fetch_add(1, Ordering::Relaxed);
            count(channel.as_str(), "unknown_account");
            tracing::warn!(channel = %channel, kind, "webhook for an account no partner has connected");
            continue;
        };
        routed.push((kind, channel, partner, signal));
    }
    let labels: Vec<_> = routed.iter().map(|(kind, channel, _, _)| (*kind, *channel)).collect();
    // One lane per customer: a customer's signals are recorded one after another, each
    // deciding on what the one before it recorded (a handover then a pass back, a message
    // then its reaction); different customers' lanes share one commit.
    let mut lanes: Vec<(LaneKey, Lane)> = Vec::new();
    for (index, (_, channel, partner, signal)) in routed.into_iter().enumerate() {
        let customer = signal.customer();
        let key = (partner, channel, signal.account_id().to_owned(), customer.kind, customer.value.clone());
        match lanes.iter_mut().find(|(k, _)| *k == key) {
            Some((_, lane)) => lane.push((index, partner, signal)),
            None => lanes.push((key, vec![(index, partner, signal)])),
        }
    }
    let ledger = &state.ledger;
    let meta = &meta;
    let commands = lanes.into_iter().map(|(_, lane)| async move {
        let mut out = Vec::with_capacity(lane.len());
        for (index, partner, signal) in lane {
            out.push((index, record(ledger, partner, signal, meta).await));
        }
        out
    });
    let mut results: Vec<_> =
        together::record_together(state.ledger.store.clone(), commands.collect()).await.into_iter().flatten().collect();
    results.sort_by_key(|(index, _)| *index);
    let results = results.into_iter().map(|(_, result)| result);
    let mut failed = false;
    for ((kind, channel), result) in labels.into_iter().zip(results) {
        let channel = channel.as_str();
        match result {
            Ok(true) => {
                c.recorded.fetch_add(1, Ordering::Relaxed);
                count(channel, "recorded");
            }
            Ok(false) => {
                c.duplicates.fetch_add(1, Ordering::Relaxed);
                count(channel, "duplicate");
            }
            Err(CommandError::Domain(e)) => {
                c.ignored.fetch_add(1, Ordering::Relaxed);
                count(channel, "ignored");
                tracing::info!(kind, reason = %e, "webhook signal not recorded");
            }
            Err(e) => {
                c.failed_appends.fetch_add(1, Ordering::Relaxed);
                count(channel, "failed");
                tracing::error!(kind, error = %e, "webhook signal could not be stored; Meta will retry");
                failed = true;
            }
        }
    }
    if failed {
        // The neighbours that were stored answer as duplicates when Meta redelivers.
        return (StatusCode::SERVICE_UNAVAILABLE, "not stored; retry").into_response();
    }
    for (reason, n) in ignored {
        c.ignored.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("laras_webhook_items_total", "channel" => "unknown", "result" => "ignored").increment(n);
        tracing::info!(reason, n, "webhook content ignored");
    }
    (StatusCode::OK, "EVENT_RECEIVED").into_response()
}

/// A customer of one account of one Partner.
type LaneKey = (PartnerId, ChannelKind, String, IdentityKind, String);
/// That customer's signals, with their places in the delivery.
type Lane = Vec<(usize, PartnerId, Signal)>;

/// Counts one webhook item by channel and result (`laras_webhook_items_total`).
fn count(channel: &'static str, result: &'static str) {
    metrics::counter!("laras_webhook_items_total", "channel" => channel, "result" => result).increment(1);
}

/// Records one signal; Ok(false) when it was already recorded (a redelivery).
async fn record(
    ledger: &Ledger,
    partner: laras_domain::ids::PartnerId,
    signal: Signal,
    meta: &CommandMeta,
) -> Result<bool, CommandError> {
    let committed = match signal {
        Signal::Message(m) => ledger.record_inbound_message(partner, m, meta).await?.committed,
        Signal::Comment(c) => ledger.record_public_comment(partner, c, meta).await?.committed,
        Signal::Echo(e) => ledger.record_echo(partner, e, meta).await?.committed,
        Signal::Status(s) => ledger.record_status(partner, s, meta).await?,
        Signal::Watermark(w) => ledger.record_watermark(partner, w, meta).await?,
        Signal::Reaction(r) => ledger.record_reaction(partner, r, meta).await?.committed,
        Signal::IdentityChange(i) => ledger.record_identity_change(partner, i, meta).await?.committed,
        Signal::ThreadControl(t) => ledger.record_thread_control(partner, t, meta).await?.committed,
    };
    Ok(!committed.duplicate && !committed.is_noop())
}
