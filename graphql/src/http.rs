//! `/graphql` over HTTP: POST runs queries and mutations, GET serves GraphiQL or
//! upgrades to a graphql-transport-ws websocket for subscriptions.
//!
//! Authentication and the per-key rate limit happen here, before anything executes.

use crate::auth::{authenticate, presented, Caller, Presented};
use crate::error::{ApiError, Code};
use crate::schema::{Api, LarasSchema};
use async_graphql::http::{GraphiQLSource, ALL_WEBSOCKET_PROTOCOLS};
use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLWebSocket};
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::num::NonZeroU32;
use std::sync::Arc;
use tower_http::limit::RequestBodyLimitLayer;

/// What the `/graphql` routes share.
pub struct GraphqlState {
    pub schema: LarasSchema,
    pub api: Api,
    pub admin_token: Option<String>,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl GraphqlState {
    pub fn new(schema: LarasSchema, api: Api, admin_token: Option<String>) -> Arc<Self> {
        let per_second = NonZeroU32::new(api.limits.per_key_per_second.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(api.limits.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        let limiter = DefaultKeyedRateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst));
        Arc::new(Self { schema, api, admin_token, limiter })
    }

    /// The caller named by `Authorization`, or the response that refuses the request.
    fn caller(&self, headers: &HeaderMap) -> Result<Option<Caller>, Refusal> {
        let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        let token = match presented(header) {
            // No key: only introspection works (every resolver asks for a caller).
            Presented::None => return Ok(None),
            Presented::Malformed => return Err(Refusal::of(StatusCode::UNAUTHORIZED, ApiError::unauthenticated())),
            Presented::Bearer(token) => token,
        };
        match authenticate(token, self.admin_token.as_deref(), self.api.keys.as_ref()) {
            Ok(Some(caller)) => {
                let bucket = match &caller {
                    Caller::Admin => "admin".to_owned(),
                    Caller::Key(k) => k.id.clone(),
                };
                if self.limiter.check_key(&bucket).is_err() {
                    return Err(Refusal {
                        status: StatusCode::TOO_MANY_REQUESTS,
                        code: "RATE_LIMITED",
                        message: "rate limit exceeded; retry after a second".into(),
                    });
                }
                Ok(Some(caller))
            }
            Ok(None) => {
                tracing::info!("request with an unknown API key refused");
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
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn of(status: StatusCode, error: ApiError) -> Self {
        Self { status, code: error.code.as_str(), message: error.message }
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

async fn execute(State(state): State<Arc<GraphqlState>>, headers: HeaderMap, request: GraphQLRequest) -> Response {
    let caller = match state.caller(&headers) {
        Ok(caller) => caller,
        Err(refused) => return refused.into_response(),
    };
    let mut request = request.into_inner();
    if let Some(caller) = caller {
        request = request.data(caller);
    }
    let response = state.schema.execute(request).await;
    bounded(response, state.api.limits.max_response_bytes)
}

/// The answer as JSON, unless it is larger than `max` bytes: the cost bound counts
/// fields, not the length of the texts they hold.
fn bounded(response: async_graphql::Response, max: usize) -> Response {
    let body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(e) => {
            tracing::error!(error = %e, "a GraphQL answer did not serialise");
            return Refusal::of(StatusCode::INTERNAL_SERVER_ERROR, ApiError::new(Code::Internal, "internal error"))
                .into_response();
        }
    };
    if body.len() > max {
        let message = format!("the answer is larger than {max} bytes; ask for fewer items or fields");
        return Refusal::of(StatusCode::OK, ApiError::new(Code::TooComplex, message)).into_response();
    }
    let mut answer = ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    answer.headers_mut().extend(response.http_headers);
    answer
}

/// GET: a websocket upgrade for subscriptions, otherwise GraphiQL.
async fn explore_or_subscribe(State(state): State<Arc<GraphqlState>>, request: Request) -> Response {
    let (mut parts, _body) = request.into_parts();
    let wants_ws = parts.headers.get(header::UPGRADE).is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !wants_ws {
        return Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish())
            .into_response();
    }
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(p) => p,
        Err(status) => return status.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = state.schema.clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    // graphql-transport-ws clients send the key in the connection_init payload.
                    let token = payload
                        .get("Authorization")
                        .or_else(|| payload.get("authorization"))
                        .and_then(|v| v.as_str())
                        .map(str::to_owned);
                    let mut headers = HeaderMap::new();
                    if let Some(value) = token.and_then(|t| header::HeaderValue::from_str(&t).ok()) {
                        headers.insert(header::AUTHORIZATION, value);
                    }
                    match state.caller(&headers) {
                        Ok(Some(caller)) => {
                            let mut data = Data::default();
                            data.insert(caller);
                            Ok(data)
                        }
                        _ => Err(ApiError::unauthenticated().into_graphql()),
                    }
                })
                .serve()
        })
        .into_response()
}

/// The `/graphql` routes, with the request body limit.
pub fn routes(state: Arc<GraphqlState>) -> Router {
    let limit = state.api.limits.max_body_bytes;
    Router::new()
        .route("/graphql", get(explore_or_subscribe).post(execute))
        // The GraphQL extractor streams the body, so the limit is enforced on the body itself.
        .layer(RequestBodyLimitLayer::new(limit))
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
