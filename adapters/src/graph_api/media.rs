//! Fetching customers' files through the Graph API, as the [`MediaSource`].
//!
//! WhatsApp: `GET /{media-id}` with the channel's token answers the file's URL (valid for
//! minutes), type, SHA-256 and size; the URL is then fetched with the same token.
//! Messenger and Instagram: the attachment URL of the webhook (a signed CDN link) is
//! fetched as it is. A file is read while its length stays within the limit; a body that
//! ends before its announced length is cut off, never kept.

use super::GraphSettings;
use async_trait::async_trait;
use laras_commands::credentials::ChannelCredentials;
use laras_commands::media::{FetchedFile, MediaRequest, MediaSource, SourceError};
use laras_domain::channel::ChannelKind;
use laras_domain::event::MediaUnavailableReason as Why;
use serde_json::Value;
use std::sync::Arc;

pub struct GraphMediaSource {
    http: reqwest::Client,
    settings: GraphSettings,
    credentials: Arc<dyn ChannelCredentials>,
}

fn retry(detail: &'static str, if_final: Why) -> SourceError {
    SourceError::Retryable { detail, if_final }
}

fn final_(why: Why) -> SourceError {
    SourceError::Unavailable(why)
}

/// A WhatsApp media id: digits as Meta issues them (anything else could name another
/// Graph object).
fn is_media_id(reference: &str) -> bool {
    !reference.is_empty() && reference.len() <= 64 && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl GraphMediaSource {
    pub fn new(settings: GraphSettings, credentials: Arc<dyn ChannelCredentials>) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(settings.timeout).build()?;
        Ok(Self { http, settings, credentials })
    }

    async fn whatsapp(&self, request: &MediaRequest) -> Result<FetchedFile, SourceError> {
        if !is_media_id(&request.reference) {
            return Err(final_(Why::NoReference));
        }
        let token = match self.credentials.token(request.partner, ChannelKind::WhatsApp) {
            Ok(Some(token)) => token,
            Ok(None) => return Err(final_(Why::Forbidden)),
            Err(_) => return Err(retry("credentials", Why::Unreachable)),
        };
        let url = format!("{}/{}/{}", self.settings.base_url, self.settings.api_version, request.reference);
        let query = [("phone_number_id", request.account_id.as_str())];
        let answer = self.http.get(&url).query(&query).bearer_auth(token.expose()).send().await.map_err(sent)?;
        let status = answer.status().as_u16();
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(lookup_failure(status, &body));
        }
        let text = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        let size = body.get("file_size").and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        if size.is_some_and(|s| s > request.limit) {
            return Err(final_(Why::TooLarge { limit: request.limit }));
        }
        let Some(file_url) = text("url") else { return Err(retry("look-up without a url", Why::NotFound)) };
        // The URL lasts minutes: one that no longer serves is looked up afresh on the next try.
        let mut file = self.download(&file_url, Some(token.expose()), request.limit, true).await?;
        file.mime = file.mime.or(text("mime_type"));
        file.sha256 = text("sha256");
        Ok(file)
    }

    async fn download(
        &self,
        url: &str,
        token: Option<&str>,
        limit: u64,
        renewable: bool,
    ) -> Result<FetchedFile, SourceError> {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(final_(Why::NoReference));
        }
        let builder = self.http.get(url);
        let builder = match token {
            Some(t) => builder.bearer_auth(t),
            None => builder,
        };
        let mut answer = builder.send().await.map_err(sent)?;
        let status = answer.status().as_u16();
        let expired = if renewable { retry("the link expired", Why::Expired) } else { final_(Why::Expired) };
        match status {
            200..=299 => {}
            401 | 403 if token.is_some() => return Err(final_(Why::Forbidden)),
            401 | 403 | 404 | 410 => return Err(expired),
            429 | 500..=599 => return Err(retry("the file server is busy", Why::Unreachable)),
            _ => return Err(final_(Why::NotFound)),
        }
        let announced = answer.content_length();
        if announced.is_some_and(|n| n > limit) {
            return Err(final_(Why::TooLarge { limit }));
        }
        let mime = answer.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut bytes = Vec::with_capacity(announced.unwrap_or(0).min(limit) as usize);
        loop {
            match answer.chunk().await {
                Ok(Some(chunk)) => {
                    if bytes.len() as u64 + chunk.len() as u64 > limit {
                        return Err(final_(Why::TooLarge { limit }));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(retry("the download timed out", Why::Unreachable)),
                Err(_) => return Err(retry("the download was cut off", Why::Truncated)),
            }
        }
        if announced.is_some_and(|n| n != bytes.len() as u64) {
            return Err(retry("the download was cut off", Why::Truncated));
        }
        Ok(FetchedFile { bytes, mime, sha256: None })
    }
}

/// A request that failed before an answer: nothing was served, so it may be tried again.
fn sent(e: reqwest::Error) -> SourceError {
    if e.is_timeout() {
        retry("timed out", Why::Unreachable)
    } else if e.is_builder() {
        final_(Why::NoReference)
    } else {
        retry("the platform could not be reached", Why::Unreachable)
    }
}

/// Sorts a failed media look-up: `{"error": {"code", ...}}`.
fn lookup_failure(status: u16, body: &Value) -> SourceError {
    let code = body.get("error").and_then(|e| e.get("code")).and_then(Value::as_i64);
    match (status, code) {
        (429 | 500..=599, _) | (_, Some(4 | 17 | 32 | 613 | 80007 | 130429)) => {
            retry("the Graph API is busy", Why::Unreachable)
        }
        (_, Some(190 | 10 | 200)) | (401 | 403, _) => final_(Why::Forbidden),
        // Media ids last about 30 days; after that (and for ids never issued) Meta answers
        // that the object does not exist.
        (_, Some(100)) | (404, _) => final_(Why::NotFound),
        _ => final_(Why::NotFound),
    }
}

#[async_trait]
impl MediaSource for GraphMediaSource {
    async fn fetch(&self, request: &MediaRequest) -> Result<FetchedFile, SourceError> {
        match request.channel {
            ChannelKind::WhatsApp => self.whatsapp(request).await,
            _ => self.download(&request.reference, None, request.limit, false).await,
        }
    }
}
