//! The Graph API, as the outbox's [`ChannelSender`]: WhatsApp Cloud API, Messenger and
//! Instagram Send API (incl. private replies to comments), Threads replies.
//!
//! Also the [`GraphProver`]: proof that a Partner's token controls the account it connects.
//!
//! Retries: 429 and 5xx (and a connection that failed before the request was written)
//! are retried with exponential backoff and full jitter, up to `max_attempts` (the server
//! sets 1: its outbox retries, per account); the last one's `Retry-After` is reported. A
//! timeout or an unreadable answer after the request was sent is [`DeliveryError::Unknown`]:
//! Meta may already have delivered it, so the send is in doubt, never simply retried.

mod error;
pub mod fake;
pub mod media;
mod prove;
mod request;

pub use error::classify;
pub use media::GraphMediaSource;
pub use prove::GraphProver;

use async_trait::async_trait;
use laras_commands::credentials::ChannelCredentials;
use laras_commands::outbox::{ChannelSender, DeliveryError, OutboundMessage};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct GraphSettings {
    /// e.g. `https://graph.facebook.com` (tests point it at a fake).
    pub base_url: String,
    pub api_version: String,
    /// e.g. `https://graph.threads.net`.
    pub threads_base_url: String,
    pub threads_api_version: String,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub base_delay: Duration,
    pub max_delay: Duration,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".into(),
            api_version: "v21.0".into(),
            threads_base_url: "https://graph.threads.net".into(),
            threads_api_version: "v1.0".into(),
            timeout: Duration::from_secs(20),
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

pub struct GraphSender {
    http: reqwest::Client,
    settings: GraphSettings,
    credentials: Arc<dyn ChannelCredentials>,
}

impl GraphSender {
    pub fn new(settings: GraphSettings, credentials: Arc<dyn ChannelCredentials>) -> Result<Self, DeliveryError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| DeliveryError::Unavailable { status: None, detail: e.to_string(), retry_after: None })?;
        Ok(Self { http, settings, credentials })
    }

    /// One HTTP call with bounded retries; returns the JSON body of a 2xx answer.
    async fn call(&self, request: &request::GraphRequest, token: &str) -> Result<serde_json::Value, DeliveryError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let builder = self.http.post(&request.url).bearer_auth(token);
            let builder = match &request.body {
                request::Body::Json(json) => builder.json(json),
                request::Body::Form(fields) => builder.form(fields),
                request::Body::Multipart { fields, file: (name, file) } => {
                    let part = reqwest::multipart::Part::bytes(file.bytes.as_ref().clone())
                        .file_name(request::file_name(file))
                        .mime_str(&file.mime)
                        .map_err(|e| DeliveryError::Rejected { code: 0, title: e.without_url().to_string() })?;
                    let form = fields
                        .iter()
                        .fold(reqwest::multipart::Form::new(), |form, (k, v)| form.text(*k, v.clone()))
                        .part(*name, part);
                    builder.multipart(form)
                }
            };
            let outcome: Result<(), (error::Failure, Option<Duration>)> = match builder.send().await {
                Ok(response) => {
                    let status = response.status();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body: serde_json::Value = response.json().await.unwrap_or(serde_json::Value::Null);
                    if status.is_success() {
                        return Ok(body);
                    }
                    Err((classify(status.as_u16(), &body), retry_after))
                }
                Err(e) if e.is_connect() => {
                    Err((error::Failure::Retryable { status: None, detail: "connection failed".into() }, None))
                }
                Err(e) if e.is_timeout() => {
                    return Err(DeliveryError::Unknown { detail: "timed out after sending".into() })
                }
                Err(e) if e.is_builder() => {
                    return Err(DeliveryError::Unavailable {
                        status: None,
                        detail: e.without_url().to_string(),
                        retry_after: None,
                    })
                }
                Err(e) => return Err(DeliveryError::Unknown { detail: e.without_url().to_string() }),
            };
            match outcome {
                Err((error::Failure::Final(e), _)) => return Err(e),
                Err((error::Failure::Retryable { status, detail }, retry_after)) => {
                    if attempt >= self.settings.max_attempts {
                        return Err(DeliveryError::Unavailable { status, detail, retry_after });
                    }
                    let delay = retry_after.unwrap_or_else(|| self.backoff(attempt)).min(self.settings.max_delay);
                    tracing::info!(attempt, status, delay_ms = delay.as_millis() as u64, "Graph API busy; retrying");
                    tokio::time::sleep(delay).await;
                }
                Ok(()) => unreachable!("success returned above"),
            }
        }
    }

    /// Exponential backoff with full jitter: uniform in [0, base · 2^(attempt-1)], capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.settings.base_delay.saturating_mul(1 << (attempt - 1).min(16)).min(self.settings.max_delay);
        let ms = ceiling.as_millis() as u64;
        Duration::from_millis(if ms == 0 { 0 } else { rand::thread_rng().gen_range(0..=ms) })
    }
}

#[async_trait]
impl ChannelSender for GraphSender {
    async fn deliver(&self, message: &OutboundMessage) -> Result<String, DeliveryError> {
        let token = self
            .credentials
            .token(message.partner, message.channel)
            .map_err(|e| DeliveryError::Unavailable { status: None, detail: e.to_string(), retry_after: None })?
            .ok_or(DeliveryError::NoCredentials)?;
        let plan = request::plan(&self.settings, message)?;
        let first = match self.call(&plan.first, token.expose()).await {
            // An upload whose answer was lost sent nothing to the customer: try again later.
            Err(DeliveryError::Unknown { detail }) if plan.first_sends_nothing => {
                return Err(DeliveryError::Unavailable { status: None, detail, retry_after: None })
            }
            other => other?,
        };
        let id = match plan.publish {
            None => request::message_id(&first),
            Some(publish) => {
                let container = first.get("id").and_then(|v| v.as_str()).ok_or_else(malformed)?.to_owned();
                let published = self.call(&publish(container), token.expose()).await?;
                request::message_id(&published)
                    .or_else(|| published.get("id").and_then(|v| v.as_str()).map(str::to_owned))
            }
        };
        id.ok_or_else(malformed)
    }
}

/// Meta answered 2xx without a readable id: it took the request, so the send is in doubt.
fn malformed() -> DeliveryError {
    DeliveryError::Unknown { detail: "the Graph API answered without a message id".into() }
}
