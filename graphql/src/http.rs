//! `/graphql` over HTTP: POST runs queries and mutations, GET serves GraphiQL or
//! upgrades to a graphql-transport-ws websocket for subscriptions (`crate::ws`).
//!
//! Authentication and the per-key rate limit happen here, before anything executes.

use crate::auth::{authenticate, presented, Caller, Presented};
use crate::error::{ApiError, Code};
use crate::schema::{Api, LarasSchema};
use crate::ws::protocol::SUBPROTOCOL;
use crate::ws::slots::SubscriptionSlots;
use async_graphql::futures_util::TryStreamExt;
use async_graphql::http::MultipartOptions;
use async_graphql_axum::GraphQLRequest;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota};
use laras_commands::sampled::Sampled;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;

/// What the `/graphql` routes share.
pub struct GraphqlState {
    pub schema: LarasSchema,
    pub api: Api,
    pub admin_token: Option<String>,
    limiter: DefaultKeyedRateLimiter<String>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    failed_auth: Option<DefaultKeyedRateLimiter<IpAddr>>,
    refusals: RefusalLog,
    /// Operations open on websockets, per key.
    pub(crate) subscriptions: Arc<SubscriptionSlots>,
}

impl GraphqlState {
    pub fn new(schema: LarasSchema, api: Api, admin_token: Option<String>) -> Arc<Self> {
        let l = api.limits;
        let per_second = NonZeroU32::new(l.per_key_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(l.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = DefaultKeyedRateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
        let per_ip = NonZeroU32::new(l.per_ip_per_second).map(|n| {
            DefaultKeyedRateLimiter::keyed(
                Quota::per_second(n).allow_burst(n.saturating_mul(NonZeroU32::MIN.saturating_add(1))),
            )
        });
        let failed_auth = NonZeroU32::new(l.failed_auth_per_ip_per_minute)
            .map(|n| DefaultKeyedRateLimiter::keyed(Quota::per_minute(n)));
        Arc::new(Self {
            schema,
            api,
            admin_token,
            limiter,
            per_ip,
            failed_auth,
            refusals: RefusalLog::default(),
            subscriptions: Arc::default(),
        })
    }

    /// Refuses a request from `ip` past its address's budgets, before anything is read.
    pub(crate) fn admit_ip(&self, ip: Option<IpAddr>) -> Result<(), Refusal> {
        let Some(ip) = ip else { return Ok(()) };
        let over = |l: &Option<DefaultKeyedRateLimiter<IpAddr>>| l.as_ref().is_some_and(|l| l.check_key(&ip).is_err());
        if over(&self.per_ip) {
            return Err(Refusal::rate_limited());
        }
        // Spent its failed authentications: no more guesses for a while.
        if self.refusals.blocked(ip) {
            return Err(Refusal::rate_limited());
        }
        Ok(())
    }

    /// Counts a failed authentication from `ip`; past its budget the address is blocked
    /// for a minute.
    pub(crate) fn failed(&self, ip: Option<IpAddr>) {
        self.refusals.count();
        if let (Some(ip), Some(limiter)) = (ip, &self.failed_auth) {
            if limiter.check_key(&ip).is_err() {
                self.refusals.block(ip, std::time::Duration::from_secs(60));
            }
        }
    }

    /// Spends one request of `bucket` (a key's id, or "admin"); true when it has none left.
    pub(crate) fn over_key_rate(&self, bucket: &str) -> bool {
        self.limiter.check_key(&bucket.to_owned()).is_err()
    }

    /// The caller named by `Authorization`, or the response that refuses the request.
    fn caller(&self, headers: &HeaderMap, ip: Option<IpAddr>) -> Result<Option<Caller>, Refusal> {
        let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = match presented(header) {
            // No key: only introspection works (every resolver asks for a caller).
            Presented::None => return Ok(None),
            Presented::Malformed => {
                self.failed(ip);
                return Err(Refusal::of(StatusCode::UNAUTHORIZED, ApiError::unauthenticated()));
            }
            Presented::Bearer(token) => token,
        };
        match authenticate(token, self.admin_token.as_deref(), self.api.keys.as_ref()) {
            Ok(Some(caller)) => {
                let bucket = match &caller {
                    Caller::Admin => "admin".to_owned(),
                    Caller::Key(k) => k.id.clone(),
                };
                if self.over_key_rate(&bucket) {
                    return Err(Refusal::rate_limited());
                }
                Ok(Some(caller))
            }
            Ok(None) => {
                self.failed(ip);
                Err(Refusal::of(
                    StatusCode::UNAUTHORIZED,
                    ApiError::new(Code::Unauthenticated, "unknown or revoked API key"),
                ))
            }
            Err(e) => Err(Refusal::of(StatusCode::INTERNAL_SERVER_ERROR, e)),
        }
    }
}

/// A request refused before it executes: a GraphQL-shaped error body with an HTTP status.
pub(crate) struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn of(status: StatusCode, error: ApiError) -> Self {
        Self { status, code: error.code.as_str(), message: error.message }
    }

    fn rate_limited() -> Self {
        Self::of(
            StatusCode::TOO_MANY_REQUESTS,
            ApiError::new(Code::RateLimited, "rate limit exceeded; retry after a second"),
        )
    }
}

/// Failed authentications: counted and logged once per interval, not once per request
/// (a flood of bad keys would otherwise be a flood of log lines), and the addresses
/// that spent their budget.
#[derive(Default)]
struct RefusalLog {
    /// A line every ten seconds at most.
    lines: Sampled,
    blocked_until: std::sync::Mutex<std::collections::HashMap<IpAddr, std::time::Instant>>,
}

impl RefusalLog {
    /// Addresses remembered at most; a flood from many addresses forgets the oldest.
    const MAX_BLOCKED: usize = 100_000;

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<IpAddr, std::time::Instant>> {
        self.blocked_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one refusal; true when this one wrote the log line.
    fn count(&self) -> bool {
        let Some(refused) = self.lines.count() else { return false };
        tracing::info!(refused, "requests with an unknown or malformed API key refused");
        true
    }

    fn block(&self, ip: IpAddr, for_: std::time::Duration) {
        let mut blocked_until = self.lock();
        let now = std::time::Instant::now();
        if blocked_until.len() >= Self::MAX_BLOCKED {
            blocked_until.retain(|_, until| *until > now);
        }
        if blocked_until.len() < Self::MAX_BLOCKED {
            blocked_until.insert(ip, now + for_);
        }
    }

    fn blocked(&self, ip: IpAddr) -> bool {
        self.lock().get(&ip).is_some_and(|until| *until > std::time::Instant::now())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "data": null,
            "errors": [{ "message": self.message, "extensions": { "code": self.code } }],
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// The peer's address, when the server gives it (`ConnectInfo`).
pub(crate) struct PeerIp(pub(crate) Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

/// Refuses a POST whose body is not `application/json` before the body is read: forms
/// and `text/plain` are what a cross-site page can send without a preflight.
struct JsonOnly;

impl<S: Send + Sync> FromRequestParts<S> for JsonOnly {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        let json = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if json {
            return Ok(Self);
        }
        let refusal = Refusal::of(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::bad_input("send the request as `Content-Type: application/json`"),
        );
        Err(refusal.into_response())
    }
}

/// 4xx answers made outside the handlers (the body limit, the GraphQL extractor) as
/// GraphQL JSON with a code, never as plain text or debug output.
async fn json_errors(response: Response) -> Response {
    let mut response = coded(response);
    if matches!(response.status(), StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) {
        // The body was left unread, so the server closes the connection after this answer;
        // saying so keeps the client from sending its next request down a closing socket.
        response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    }
    response
}

fn coded(response: Response) -> Response {
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (code, message) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => (Code::PayloadTooLarge, "the request body is too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (Code::BadInput, "send the request as `Content-Type: application/json`"),
        _ => (Code::ParseFailed, "the request is not a GraphQL request in JSON"),
    };
    Refusal::of(status, ApiError::new(code, message)).into_response()
}

async fn execute(
    State(state): State<Arc<GraphqlState>>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    _json: JsonOnly,
    request: GraphQLRequest,
) -> Response {
    let mut request = request.into_inner();
    let operation = operation_kind(&request.query);
    if let Err(refused) = state.admit_ip(ip) {
        count_request(operation, "refused");
        return refused.into_response();
    }
    let caller = match state.caller(&headers, ip) {
        Ok(caller) => caller,
        Err(refused) => {
            count_request(operation, "refused");
            return refused.into_response();
        }
    };
    if let Some(caller) = caller {
        request = request.data(caller);
    }
    let response = state.schema.execute(request).await;
    count_request(operation, if response.is_ok() { "ok" } else { "error" });
    bounded(response, state.api.limits.max_response_bytes)
}

/// The operation's kind from the document's first keyword. The label is the kind, not
/// the client's operation name: a client must not be able to grow the metric's series.
fn operation_kind(query: &str) -> &'static str {
    let mut rest = query.trim_start();
    while let Some(comment) = rest.strip_prefix('#') {
        rest = comment.split_once('\n').map_or("", |(_, r)| r).trim_start();
    }
    if rest.starts_with("mutation") {
        "mutation"
    } else if rest.starts_with("subscription") {
        "subscription"
    } else if rest.starts_with("query") || rest.starts_with('{') {
        "query"
    } else {
        "other"
    }
}

fn count_request(operation: &'static str, result: &'static str) {
    metrics::counter!("laras_graphql_requests_total", "operation" => operation, "result" => result).increment(1);
}

/// The answer as JSON, unless it is larger than `max` bytes: the cost bound counts
/// fields, not the length of the texts they hold.
fn bounded(response: async_graphql::Response, max: usize) -> Response {
    match bounded_body(&response, max) {
        Ok(body) => {
            let mut answer = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
            answer.headers_mut().extend(response.http_headers);
            answer
        }
        Err((status, error)) => Refusal::of(status, error).into_response(),
    }
}

fn bounded_body(response: &async_graphql::Response, max: usize) -> Result<Vec<u8>, (StatusCode, ApiError)> {
    let body = serde_json::to_vec(response).map_err(|e| {
        tracing::error!(error = %e, "a GraphQL answer did not serialise");
        (StatusCode::INTERNAL_SERVER_ERROR, ApiError::new(Code::Internal, "internal error"))
    })?;
    if body.len() > max {
        let message = format!("the answer is larger than {max} bytes; ask for fewer items or fields");
        return Err((StatusCode::OK, ApiError::new(Code::TooComplex, message)));
    }
    Ok(body)
}

/// One websocket result as JSON, bounded as an HTTP answer is.
pub(crate) fn bounded_json(response: &async_graphql::Response, max: usize) -> serde_json::Value {
    match bounded_body(response, max).and_then(|body| {
        serde_json::from_slice(&body).map_err(|_| (StatusCode::OK, ApiError::new(Code::Internal, "internal error")))
    }) {
        Ok(json) => json,
        Err((_, error)) => serde_json::json!({
            "data": null,
            "errors": [{ "message": error.message, "extensions": { "code": error.code.as_str() } }],
        }),
    }
}

/// GET: a websocket upgrade for subscriptions, otherwise GraphiQL.
async fn explore_or_subscribe(State(state): State<Arc<GraphqlState>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Err(refused) = state.admit_ip(ip) {
        return refused.into_response();
    }
    let wants_ws = parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !wants_ws {
        return crate::graphiql::page();
    }
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    // The key arrives in `connection_init`; a socket that never sends one is closed
    // (4408) by the session. A client that does not speak graphql-transport-ws gets 4406.
    let max = state.api.limits.max_body_bytes;
    upgrade
        .protocols([SUBPROTOCOL])
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| crate::ws::serve(socket, state, ip))
        .into_response()
}

/// POST `/graphql/upload`: a GraphQL multipart request (a reply with its file). Only with
/// an API key, and only with `Apollo-Require-Preflight` (or `X-Laras-Upload`), a header a
/// cross-site form cannot send; one file, within `max_upload_bytes`.
async fn upload(
    State(state): State<Arc<GraphqlState>>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    request: Request,
) -> Response {
    if let Err(refused) = state.admit_ip(ip) {
        count_request("upload", "refused");
        return refused.into_response();
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let multipart = content_type.as_deref().is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
    let preflighted = headers.contains_key("apollo-require-preflight") || headers.contains_key("x-laras-upload");
    if !multipart || !preflighted {
        count_request("upload", "refused");
        let message =
            "post a GraphQL multipart request (`multipart/form-data`) with the header `Apollo-Require-Preflight: true`";
        return Refusal::of(StatusCode::UNSUPPORTED_MEDIA_TYPE, ApiError::bad_input(message)).into_response();
    }
    let caller = match state.caller(&headers, ip) {
        Ok(Some(caller)) => caller,
        Ok(None) => {
            count_request("upload", "refused");
            return Refusal::of(StatusCode::UNAUTHORIZED, ApiError::unauthenticated()).into_response();
        }
        Err(refused) => {
            count_request("upload", "refused");
            return refused.into_response();
        }
    };
    let limits = state.api.limits;
    let options = MultipartOptions::default().max_file_size(limits.max_upload_bytes).max_num_files(1);
    let body = request.into_body().into_data_stream().map_err(|e| std::io::Error::other(e.to_string()));
    let parsed = async_graphql::http::receive_body(content_type, body.into_async_read(), options).await;
    let request = match parsed {
        Ok(request) => request.data(caller),
        Err(e) => {
            count_request("upload", "refused");
            let status = match e {
                async_graphql::ParseRequestError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                _ => StatusCode::BAD_REQUEST,
            };
            let message = format!("the multipart request does not parse: {e}");
            return Refusal::of(status, ApiError::new(Code::ParseFailed, message)).into_response();
        }
    };
    let response = state.schema.execute(request).await;
    count_request("upload", if response.is_ok() { "ok" } else { "error" });
    bounded(response, limits.max_response_bytes)
}

/// The `/graphql` routes, with the request body limits.
pub fn routes(state: Arc<GraphqlState>) -> Router {
    let limit = state.api.limits.max_body_bytes;
    let uploads = Router::new()
        .route("/graphql/upload", axum::routing::post(upload))
        .layer(RequestBodyLimitLayer::new(state.api.limits.max_upload_bytes.saturating_add(limit)))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state.clone());
    Router::new()
        .route("/graphql", get(explore_or_subscribe).post(execute))
        // The GraphQL extractor streams the body, so the limit is enforced on the body itself.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(json_errors))
        .with_state(state)
        .merge(uploads)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_operation_kind_is_read_from_the_first_keyword() {
        assert_eq!(operation_kind("{ inbox { id } }"), "query");
        assert_eq!(operation_kind("  query Q { me }"), "query");
        assert_eq!(operation_kind("# hi\nmutation M { x }"), "mutation");
        assert_eq!(operation_kind("subscription { inboxChanges { id } }"), "subscription");
        assert_eq!(operation_kind("fragment F on X { a }"), "other");
    }

    async fn body_of(response: Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        serde_json::from_slice(&bytes).expect("json")
    }

    #[tokio::test]
    async fn an_answer_past_the_response_bound_becomes_an_error() {
        let big = async_graphql::Value::from("x".repeat(2_000));
        let answer = || async_graphql::Response::new(async_graphql::Value::List(vec![big.clone(); 10]));
        let refused = body_of(bounded(answer(), 10_000)).await;
        assert_eq!(refused["errors"][0]["extensions"]["code"], "QUERY_TOO_COMPLEX");
        assert_eq!(refused["data"], serde_json::Value::Null);
        let passed = body_of(bounded(answer(), 100_000)).await;
        assert_eq!(passed["data"].as_array().map(Vec::len), Some(10));
    }

    #[tokio::test]
    async fn answers_given_before_the_body_was_read_close_the_connection_and_say_so() {
        for status in [StatusCode::PAYLOAD_TOO_LARGE, StatusCode::UNSUPPORTED_MEDIA_TYPE] {
            let answer = json_errors((status, "plain").into_response()).await;
            assert_eq!(answer.headers().get(header::CONNECTION).map(|v| v.as_bytes()), Some(&b"close"[..]));
            assert!(body_of(answer).await["errors"][0]["extensions"]["code"].is_string());
        }
        let ok = json_errors((StatusCode::OK, "{}").into_response()).await;
        assert!(ok.headers().get(header::CONNECTION).is_none());
    }
}
