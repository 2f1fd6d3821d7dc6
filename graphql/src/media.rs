//! `GET /media/{token}`: one kept file, opened with its contact's key and streamed in
//! pieces, with range support (voice notes and videos seek).
//!
//! The token is a link GraphQL handed out (ADR 014): it names the Partner, the file and
//! when it stops working. A forged, expired or unknown link, another Partner's file and
//! an erased contact's file all get the same bare 404. The route meets the same
//! per-address budgets as `/graphql`, and a forged link counts as a failed authentication.

use crate::http::{GraphqlState, PeerIp};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use laras_commands::media::{MediaObject, MediaVault, OpenedMedia};
use laras_domain::ids::ContactId;
use laras_domain::media::{LinkError, MediaLink};
use std::ops::Range;
use std::sync::Arc;

/// Bytes read and sent at a time: a whole 100 MB document never sits in memory.
const PIECE: u64 = 1024 * 1024;

pub fn routes(state: Arc<GraphqlState>) -> Router {
    Router::new().route("/media/{token}", get(serve)).with_state(state)
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")]).into_response()
}

async fn serve(
    State(state): State<Arc<GraphqlState>>,
    PeerIp(ip): PeerIp,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = state.admit_ip(ip) {
        return refused.into_response();
    }
    let api = &state.api;
    let link = match MediaLink::open(&token, &api.media.link_key, api.ledger.clock.now()) {
        Ok(link) => link,
        Err(LinkError::Expired) => return not_found(),
        Err(LinkError::Forged | LinkError::Malformed) => {
            state.failed(ip);
            return not_found();
        }
    };
    let read = api.read.clone();
    let (partner, conversation) = (link.partner.to_string(), link.conversation.to_string());
    let (message, index) = (link.message.clone(), link.attachment);
    let found =
        tokio::task::spawn_blocking(move || read.stored_attachment(&partner, &conversation, &message, index)).await;
    let stored = match found {
        Ok(Ok(Some(stored))) => stored,
        Ok(Ok(None)) => return not_found(),
        Ok(Err(e)) => return failed("read models", &e),
        Err(e) => return failed("read models", &e),
    };
    let Ok(contact) = stored.contact_id.parse::<ContactId>() else { return not_found() };
    let object = MediaObject { partner: link.partner, contact, name: stored.object };
    let opened = match api.media.vault.open(&object).await {
        Ok(Some(opened)) => opened,
        // Deleted, or its key destroyed: the contact was erased.
        Ok(None) => return not_found(),
        Err(e) => return failed("media store", &e),
    };
    let len = opened.len();
    let range = match requested_range(&headers, len) {
        Ok(range) => range,
        Err(()) => {
            let mut answer = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                answer.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return answer;
        }
    };
    let (status, span) = match range {
        Some(r) => (StatusCode::PARTIAL_CONTENT, r),
        None => (StatusCode::OK, 0..len),
    };
    let mut answer = Response::new(Body::from_stream(pieces(api.media.vault.clone(), opened, span.clone())));
    *answer.status_mut() = status;
    let h = answer.headers_mut();
    let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_TYPE, value(stored.mime.clone()));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(span.end - span.start));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_DISPOSITION, value(disposition(&stored.kind, &stored.mime, link.attachment)));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A customer's file is nobody's page: it runs nothing and is kept by no shared cache.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=300"));
    if status == StatusCode::PARTIAL_CONTENT {
        h.insert(header::CONTENT_RANGE, value(format!("bytes {}-{}/{len}", span.start, span.end.saturating_sub(1))));
    }
    answer
}

fn failed(what: &str, error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "media route: {what} failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// The one range asked for (end exclusive); None for the whole file. Several ranges are
/// answered with the whole file, which RFC 9110 allows; a range past the end is an error.
fn requested_range(headers: &HeaderMap, len: u64) -> Result<Option<Range<u64>>, ()> {
    let Some(value) = headers.get(header::RANGE) else { return Ok(None) };
    let Ok(value) = value.to_str() else { return Ok(None) };
    let ranges =
        http_range_header::parse_range_header(value).and_then(|parsed| parsed.validate(len)).map_err(|_| ())?;
    match ranges.as_slice() {
        [one] => Ok(Some(*one.start()..one.end().saturating_add(1))),
        _ => Ok(None),
    }
}

/// Shown in the page for pictures, sound and video; saved for documents, which a browser
/// could otherwise open as a page of ours.
fn disposition(kind: &str, mime: &str, index: u32) -> String {
    let inline = matches!(kind, "image" | "sticker" | "audio" | "video");
    let extension = match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "audio/ogg" => "ogg",
        "audio/mpeg" => "mp3",
        "audio/mp4" | "audio/aac" => "m4a",
        "video/mp4" => "mp4",
        "video/3gpp" => "3gp",
        "application/pdf" => "pdf",
        _ => "bin",
    };
    let how = if inline { "inline" } else { "attachment" };
    format!("{how}; filename=\"{kind}-{}.{extension}\"", index + 1)
}

/// The file's bytes `span`, opened piece by piece as the client reads them.
fn pieces(
    vault: MediaVault,
    opened: OpenedMedia,
    span: Range<u64>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send {
    let state = (vault, Arc::new(opened), span.start);
    futures_util::stream::unfold(state, move |(vault, opened, at)| {
        let end = span.end;
        async move {
            if at >= end {
                return None;
            }
            let to = (at + PIECE).min(end);
            let piece = match vault.read(&opened, at..to).await {
                Ok(Some(bytes)) => Ok(bytes),
                // Deleted while being sent (an erasure): the answer ends short, never with other bytes.
                Ok(None) => Err(std::io::Error::other("the file was deleted while it was being sent")),
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let next = if piece.is_ok() { to } else { end };
            Some((piece, (vault, opened, next)))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(value: &str, len: u64) -> Result<Option<Range<u64>>, ()> {
        let mut headers = HeaderMap::new();
        headers.insert(header::RANGE, HeaderValue::from_str(value).unwrap_or(HeaderValue::from_static("")));
        requested_range(&headers, len)
    }

    #[test]
    fn single_ranges_are_read_as_rfc_9110_says() {
        assert_eq!(range("bytes=0-99", 1000), Ok(Some(0..100)));
        assert_eq!(range("bytes=900-", 1000), Ok(Some(900..1000)));
        assert_eq!(range("bytes=-100", 1000), Ok(Some(900..1000)));
        assert_eq!(range("bytes=0-5000", 1000), Ok(Some(0..1000)));
        assert_eq!(range("bytes=1000-", 1000), Err(()));
        assert_eq!(range("bytes=0-1,5-9", 1000), Ok(None));
        assert_eq!(requested_range(&HeaderMap::new(), 10), Ok(None));
    }

    #[test]
    fn documents_are_saved_and_pictures_shown() {
        assert_eq!(disposition("image", "image/jpeg", 0), "inline; filename=\"image-1.jpg\"");
        assert_eq!(disposition("document", "application/pdf", 1), "attachment; filename=\"document-2.pdf\"");
    }
}
