//! The Partner console (ADR 015): a web app for owners, agents and auditors, served at
//! `/` from files compiled into the binary. It is a client of the public GraphQL API
//! and nothing else: no server-side session, no other origin, no build step.
//!
//! The assets live under `/console/<crate version>/`, so a new release is a new address
//! and they can be cached for a year; the index is never cached, so it always names the
//! assets of the running binary.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::LazyLock;

/// The part of the assets' address that changes with every release.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Everything the page may load or connect to: this origin only, and no inline script
/// or style, so a customer's text that slipped into the markup still could not run.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

static INDEX: LazyLock<String> =
    LazyLock::new(|| include_str!("web/index.html").replace("__ASSETS__", &format!("/console/{VERSION}")));

/// The files under `/console/<version>/`: name, media type, contents.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("web/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_bytes!("web/api.js")),
    ("i18n.js", "text/javascript; charset=utf-8", include_bytes!("web/i18n.js")),
    ("views.js", "text/javascript; charset=utf-8", include_bytes!("web/views.js")),
    ("page.js", "text/javascript; charset=utf-8", include_bytes!("web/page.js")),
    ("contact.js", "text/javascript; charset=utf-8", include_bytes!("web/contact.js")),
    ("pipeline.js", "text/javascript; charset=utf-8", include_bytes!("web/pipeline.js")),
    ("segments.js", "text/javascript; charset=utf-8", include_bytes!("web/segments.js")),
    ("knowledge.js", "text/javascript; charset=utf-8", include_bytes!("web/knowledge.js")),
    ("settings.js", "text/javascript; charset=utf-8", include_bytes!("web/settings.js")),
    ("audit.js", "text/javascript; charset=utf-8", include_bytes!("web/audit.js")),
    ("proof.js", "text/javascript; charset=utf-8", include_bytes!("web/proof.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("web/app.css")),
];

/// `/` and the console's assets, each answer with the console's security headers.
pub fn routes() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/console/{version}/{file}", get(asset))
        .layer(axum::middleware::map_response(secured))
}

async fn index() -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-cache")], INDEX.as_str())
        .into_response()
}

async fn asset(Path((version, file)): Path<(String, String)>) -> Response {
    // An older page asking for its own release's files gets a 404, not newer code.
    let found = (version == VERSION).then(|| ASSETS.iter().find(|(name, ..)| *name == file)).flatten();
    match found {
        Some((_, media_type, body)) => (
            [(header::CONTENT_TYPE, *media_type), (header::CACHE_CONTROL, "public, max-age=31536000, immutable")],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-cache")], "not found").into_response(),
    }
}

async fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(HeaderName::from_static("cross-origin-opener-policy"), HeaderValue::from_static("same-origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    async fn get(path: &str) -> Response {
        let request = axum::http::Request::get(path).body(axum::body::Body::empty()).expect("request");
        routes().oneshot(request).await.expect("answer")
    }

    #[tokio::test]
    async fn the_index_names_this_releases_assets_and_carries_the_security_headers() {
        let answer = get("/").await;
        assert_eq!(answer.status(), StatusCode::OK);
        let h = answer.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let body = axum::body::to_bytes(answer.into_body(), usize::MAX).await.expect("body");
        let body = String::from_utf8_lossy(&body);
        assert!(body.contains(&format!("/console/{VERSION}/app.js")), "{body}");
        assert!(!body.contains("<script>"), "no inline script");
    }

    #[tokio::test]
    async fn assets_are_cached_for_long_and_only_for_this_release() {
        let answer = get(&format!("/console/{VERSION}/app.js")).await;
        assert_eq!(answer.status(), StatusCode::OK);
        assert!(answer.headers()[header::CACHE_CONTROL].to_str().is_ok_and(|v| v.contains("immutable")));
        assert_eq!(get("/console/0.0.0-old/app.js").await.status(), StatusCode::NOT_FOUND);
        assert_eq!(get(&format!("/console/{VERSION}/secret.rs")).await.status(), StatusCode::NOT_FOUND);
    }
}
