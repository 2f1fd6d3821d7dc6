//! One graphql-transport-ws connection: authentication at `connection_init`, each
//! operation re-checked against its key and the key's limits, the key re-checked while
//! the socket is open (a revoked or rotated key closes it with 4403), and the
//! protocol's close codes for everything else.

use super::protocol::{self, ClientMessage, Close, SubscribePayload};
use super::slots::Slot;
use crate::auth::{authenticate, presented, Caller, Presented};
use crate::error::{ApiError, Code};
use crate::http::{bounded_json, GraphqlState};
use async_graphql::Variables;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::stream::SplitStream;
use futures_util::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// How often an open socket's key is checked again.
const RECHECK_EVERY: Duration = Duration::from_millis(500);
/// Frames waiting for a slow client, per connection; past this, operations wait.
const OUTGOING_FRAMES: usize = 64;

enum Outgoing {
    Text(String),
    Close(Close),
}

/// Operations in flight by id. An operation's task removes its own entry before it
/// sends `complete`, so a client may reuse an id as soon as it sees the `complete`.
type Operations = Arc<Mutex<HashMap<String, (u64, AbortHandle)>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves one upgraded socket until either side closes it.
pub(crate) async fn serve(socket: WebSocket, state: Arc<GraphqlState>, ip: Option<IpAddr>) {
    let subprotocol_ok = socket.protocol().is_some_and(|p| p.as_bytes() == protocol::SUBPROTOCOL.as_bytes());
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Outgoing>(OUTGOING_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            match out {
                Outgoing::Text(text) => {
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Outgoing::Close(close) => {
                    let frame = CloseFrame { code: close.code(), reason: close.reason().into() };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return;
                }
            }
        }
        let _ = sink.close().await;
    });
    let mut session =
        Session { state, ip, tx: tx.clone(), operations: Operations::default(), generation: 0, signed_in: None };
    let close = if subprotocol_ok { session.run(&mut stream).await } else { Some(Close::SubprotocolNotAcceptable) };
    session.abort_all();
    if let Some(close) = close {
        let _ = tx.send(Outgoing::Close(close)).await;
    }
    drop(tx);
    drop(session);
    let _ = writer.await;
}

/// The key a connection signed in with.
struct SignedIn {
    token: String,
    caller: Caller,
    /// The rate-limit and subscription bucket: the key's id, or "admin".
    bucket: String,
}

struct Session {
    state: Arc<GraphqlState>,
    ip: Option<IpAddr>,
    tx: mpsc::Sender<Outgoing>,
    operations: Operations,
    generation: u64,
    signed_in: Option<SignedIn>,
}

impl Session {
    async fn run(&mut self, stream: &mut SplitStream<WebSocket>) -> Option<Close> {
        let limits = self.state.api.limits;
        let init_deadline = tokio::time::sleep(Duration::from_millis(limits.ws_init_timeout_ms));
        tokio::pin!(init_deadline);
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut init_deadline, if self.signed_in.is_none() => return Some(Close::InitTimeout),
                _ = recheck.tick(), if self.signed_in.is_some() => {
                    if !self.key_still_valid() {
                        return Some(Close::Forbidden);
                    }
                }
                frame = stream.next() => {
                    let text = match frame {
                        None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return None,
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Binary(_))) => {
                            return Some(Close::BadRequest("Binary frames are not part of the protocol".into()))
                        }
                        Some(Ok(Message::Text(text))) => text,
                    };
                    let message = match ClientMessage::parse(text.as_str()) {
                        Ok(message) => message,
                        Err(why) => return Some(Close::BadRequest(why)),
                    };
                    if let Some(close) = self.handle(message).await {
                        return Some(close);
                    }
                }
            }
        }
    }

    async fn send(&self, text: String) {
        let _ = self.tx.send(Outgoing::Text(text)).await;
    }

    async fn handle(&mut self, message: ClientMessage) -> Option<Close> {
        match message {
            ClientMessage::ConnectionInit { payload } => {
                if self.signed_in.is_some() {
                    return Some(Close::TooManyInits);
                }
                match self.sign_in(payload.as_ref()) {
                    Some(signed_in) => {
                        self.signed_in = Some(signed_in);
                        self.send(protocol::connection_ack()).await;
                        None
                    }
                    None => Some(Close::Forbidden),
                }
            }
            ClientMessage::Ping { .. } => {
                self.send(protocol::pong()).await;
                None
            }
            ClientMessage::Pong { .. } => None,
            ClientMessage::Complete { id } => {
                if let Some((_, task)) = lock(&self.operations).remove(&id) {
                    task.abort();
                }
                None
            }
            ClientMessage::Subscribe { id, payload } => self.subscribe(id, payload).await,
        }
    }

    /// The key in `connection_init`'s payload (`Authorization: Bearer …`), if it is live.
    fn sign_in(&self, payload: Option<&serde_json::Value>) -> Option<SignedIn> {
        let header =
            payload.and_then(|p| p.get("Authorization").or_else(|| p.get("authorization"))).and_then(|v| v.as_str());
        let token = match presented(header) {
            Presented::Bearer(token) => token.to_owned(),
            Presented::None | Presented::Malformed => {
                self.state.failed(self.ip);
                return None;
            }
        };
        match authenticate(&token, self.state.admin_token.as_deref(), self.state.api.keys.as_ref()) {
            Ok(Some(caller)) => {
                let bucket = match &caller {
                    Caller::Admin => "admin".to_owned(),
                    Caller::Key(key) => key.id.clone(),
                };
                Some(SignedIn { token, caller, bucket })
            }
            Ok(None) => {
                self.state.failed(self.ip);
                None
            }
            Err(e) => {
                tracing::warn!(error = %e.message, "a websocket's key could not be checked");
                None
            }
        }
    }

    /// Whether the connection's key still authenticates. A key store that cannot answer
    /// keeps the socket: closing every socket on a transient failure would be worse.
    fn key_still_valid(&self) -> bool {
        let Some(signed_in) = &self.signed_in else { return false };
        let state = &self.state;
        match authenticate(&signed_in.token, state.admin_token.as_deref(), state.api.keys.as_ref()) {
            Ok(found) => found.is_some(),
            Err(e) => {
                tracing::warn!(error = %e.message, "a websocket's key could not be re-checked");
                true
            }
        }
    }

    async fn subscribe(&mut self, id: String, payload: SubscribePayload) -> Option<Close> {
        let Some(signed_in) = &self.signed_in else { return Some(Close::Unauthorized) };
        if lock(&self.operations).contains_key(&id) {
            return Some(Close::SubscriberExists(id));
        }
        // Every operation meets its key's checks, as an HTTP request does.
        if !self.key_still_valid() {
            return Some(Close::Forbidden);
        }
        let limits = self.state.api.limits;
        if self.state.over_key_rate(&signed_in.bucket) {
            let refused = ApiError::new(Code::RateLimited, "rate limit exceeded; retry after a second");
            self.send(protocol::error(&id, refusal(&refused))).await;
            return None;
        }
        if lock(&self.operations).len() >= limits.max_operations_per_socket {
            let refused = ApiError::new(
                Code::RateLimited,
                format!("at most {} operations at once on one connection", limits.max_operations_per_socket),
            );
            self.send(protocol::error(&id, refusal(&refused))).await;
            return None;
        }
        let Some(slot) = self.state.subscriptions.take(&signed_in.bucket, limits.max_subscriptions_per_key) else {
            let refused = ApiError::new(
                Code::RateLimited,
                format!("at most {} operations at once per API key", limits.max_subscriptions_per_key),
            );
            self.send(protocol::error(&id, refusal(&refused))).await;
            return None;
        };
        let mut request = async_graphql::Request::new(payload.query);
        if let Some(name) = payload.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = payload.variables {
            request = request.variables(Variables::from_json(variables));
        }
        let request = request.data(signed_in.caller.clone());
        self.generation += 1;
        let generation = self.generation;
        let operation = Operation {
            id: id.clone(),
            generation,
            tx: self.tx.clone(),
            operations: self.operations.clone(),
            max_bytes: limits.max_response_bytes,
            _slot: slot,
        };
        let responses = self.state.schema.execute_stream(request);
        // The map stays locked until the task's handle is in it, so a task that ends at
        // once cannot miss its own entry.
        let mut operations = lock(&self.operations);
        let task = tokio::spawn(operation.run(responses));
        operations.insert(id, (generation, task.abort_handle()));
        None
    }

    fn abort_all(&self) {
        for (_, (_, task)) in lock(&self.operations).drain() {
            task.abort();
        }
    }
}

/// One operation's task: `next` for each result, then `complete`; or `error` when the
/// request failed before it ran.
struct Operation {
    id: String,
    generation: u64,
    tx: mpsc::Sender<Outgoing>,
    operations: Operations,
    max_bytes: usize,
    _slot: Slot,
}

impl Operation {
    async fn run(self, mut responses: futures_util::stream::BoxStream<'static, async_graphql::Response>) {
        let mut first = true;
        while let Some(response) = responses.next().await {
            if first && failed_before_running(&response) {
                self.finish(protocol::error(&self.id, errors_of(&response))).await;
                return;
            }
            first = false;
            let payload = bounded_json(&response, self.max_bytes);
            if self.tx.send(Outgoing::Text(protocol::next(&self.id, payload))).await.is_err() {
                return;
            }
        }
        self.finish(protocol::complete(&self.id)).await;
    }

    async fn finish(&self, last: String) {
        {
            let mut operations = lock(&self.operations);
            if operations.get(&self.id).is_some_and(|(g, _)| *g == self.generation) {
                operations.remove(&self.id);
            }
        }
        let _ = self.tx.send(Outgoing::Text(last)).await;
    }
}

/// Parse, validation and cost errors come before execution: no data and no path.
fn failed_before_running(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

fn errors_of(response: &async_graphql::Response) -> serde_json::Value {
    serde_json::to_value(&response.errors).unwrap_or_else(|_| serde_json::json!([]))
}

fn refusal(error: &ApiError) -> serde_json::Value {
    serde_json::json!([{ "message": error.message, "extensions": { "code": error.code.as_str() } }])
}
