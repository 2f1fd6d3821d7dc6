//! The websocket speaks graphql-transport-ws to the letter (its PROTOCOL.md): close
//! codes, `error` for operations refused before they run, the key's limits on every
//! operation, and revocation reaching open sockets.

mod common;

use common::{world, world_with, World};
use futures_util::{SinkExt, StreamExt};
use laras_commands::access::{ApiKeys, Role};
use laras_graphql::http::{routes, GraphqlState};
use laras_graphql::Limits;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

type Socket = WebSocketStream<TcpStream>;

async fn serve(world: &World) -> SocketAddr {
    let state = GraphqlState::new(world.schema.clone(), world.api.clone(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = routes(state).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn connect_with(addr: SocketAddr, subprotocol: Option<&str>) -> Socket {
    let mut request = format!("ws://{addr}/graphql").into_client_request().expect("request");
    if let Some(p) = subprotocol {
        request.headers_mut().insert("Sec-WebSocket-Protocol", p.parse().expect("header"));
    }
    let tcp = TcpStream::connect(addr).await.expect("tcp");
    tokio_tungstenite::client_async(request, tcp).await.expect("websocket").0
}

async fn connect(addr: SocketAddr) -> Socket {
    connect_with(addr, Some("graphql-transport-ws")).await
}

async fn send(socket: &mut Socket, message: Value) {
    socket.send(Message::text(message.to_string())).await.expect("send");
}

/// The next protocol message, or the close frame's code and reason.
async fn next(socket: &mut Socket) -> Result<Value, (u16, String)> {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer in time");
        match frame {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("json")),
            Some(Ok(Message::Close(frame))) => {
                return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new())))
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err((0, e.to_string())),
            None => return Err((1006, String::new())),
        }
    }
}

async fn closed_with(socket: &mut Socket) -> (u16, String) {
    loop {
        if let Err(close) = next(socket).await {
            return close;
        }
    }
}

async fn signed_in(addr: SocketAddr, token: &str) -> Socket {
    let mut socket = connect(addr).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next(&mut socket).await.expect("ack")["type"], "connection_ack");
    socket
}

fn subscribe(id: &str, query: &str) -> Value {
    json!({ "id": id, "type": "subscribe", "payload": { "query": query } })
}

const INBOX_CHANGES: &str = "subscription { inboxChanges { conversationId } }";

async fn owner_token(w: &World, n: u128) -> (laras_domain::ids::PartnerId, String, String) {
    let tenant = w.tenant(n).await;
    let (key, secret) = w.keys.create(tenant.partner, Role::Owner, "ws").expect("key");
    (tenant.partner, key.id, secret.expose().to_owned())
}

#[tokio::test]
async fn the_handshake_follows_the_protocol() {
    let w = world();
    let (_, _, token) = owner_token(&w, 1).await;
    let addr = serve(&w).await;

    let mut socket = connect_with(addr, None).await;
    assert_eq!(closed_with(&mut socket).await.0, 4406, "no graphql-transport-ws subprotocol");

    let mut socket = connect(addr).await;
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": "Bearer lrs_nope" } })).await;
    assert_eq!(closed_with(&mut socket).await.0, 4403, "an unknown key is forbidden");

    let mut socket = connect(addr).await;
    send(&mut socket, json!({ "type": "connection_init" })).await;
    assert_eq!(closed_with(&mut socket).await.0, 4403, "no key is forbidden");

    let mut socket = connect(addr).await;
    send(&mut socket, subscribe("1", INBOX_CHANGES)).await;
    assert_eq!(closed_with(&mut socket).await.0, 4401, "subscribe before the acknowledgement");

    let mut socket = connect(addr).await;
    send(&mut socket, json!({ "type": "start", "id": "1", "payload": {} })).await;
    assert_eq!(closed_with(&mut socket).await.0, 4400, "a message of the older protocol");

    // Pings are answered before and after the acknowledgement.
    let mut socket = connect(addr).await;
    send(&mut socket, json!({ "type": "ping" })).await;
    assert_eq!(next(&mut socket).await.expect("pong")["type"], "pong");
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } }))
        .await;
    assert_eq!(next(&mut socket).await.expect("ack")["type"], "connection_ack");
    send(&mut socket, json!({ "type": "connection_init", "payload": {} })).await;
    assert_eq!(closed_with(&mut socket).await.0, 4429, "a second connection_init");
}

#[tokio::test]
async fn a_socket_without_connection_init_is_closed_after_the_wait() {
    let w = world_with(Limits { ws_init_timeout_ms: 300, ..Limits::default() });
    let addr = serve(&w).await;
    let mut socket = connect(addr).await;
    let (code, reason) = closed_with(&mut socket).await;
    assert_eq!(code, 4408);
    assert_eq!(reason, "Connection initialisation timeout");
}

#[tokio::test]
async fn a_running_id_cannot_be_reused_and_a_long_reason_fits_a_close_frame() {
    let w = world();
    let (_, _, token) = owner_token(&w, 1).await;
    let addr = serve(&w).await;
    let mut socket = signed_in(addr, &token).await;
    let id = "x".repeat(300);
    send(&mut socket, subscribe(&id, INBOX_CHANGES)).await;
    send(&mut socket, subscribe(&id, INBOX_CHANGES)).await;
    let (code, reason) = closed_with(&mut socket).await;
    assert_eq!(code, 4409);
    assert!(reason.starts_with("Subscriber for x") && reason.len() <= 123, "{} bytes", reason.len());

    let mut socket = signed_in(addr, &token).await;
    socket.send(Message::text("{".repeat(500))).await.expect("send");
    let (code, reason) = closed_with(&mut socket).await;
    assert_eq!(code, 4400);
    assert!(reason.len() <= 123, "{} bytes", reason.len());
}

#[tokio::test]
async fn operations_refused_before_they_run_answer_error_and_queries_complete() {
    let w = world();
    let (_, _, token) = owner_token(&w, 1).await;
    let addr = serve(&w).await;
    let mut socket = signed_in(addr, &token).await;

    send(&mut socket, subscribe("bad", "subscription { noSuchField }")).await;
    let refused = next(&mut socket).await.expect("error");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["id"], "bad");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED", "{refused}");

    send(&mut socket, subscribe("parse", "subscription {")).await;
    let refused = next(&mut socket).await.expect("error");
    assert_eq!(refused["type"], "error", "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED", "{refused}");

    // The id of a refused operation is free again.
    send(&mut socket, subscribe("bad", "{ partner { name } }")).await;
    let answer = next(&mut socket).await.expect("next");
    assert_eq!(answer["type"], "next", "{answer}");
    assert!(answer["payload"]["data"]["partner"]["name"].is_string(), "{answer}");
    assert_eq!(next(&mut socket).await.expect("complete"), json!({ "type": "complete", "id": "bad" }));
}

#[tokio::test]
async fn a_revoked_key_closes_its_open_sockets_within_a_second() {
    let w = world();
    let (partner, key_id, token) = owner_token(&w, 1).await;
    let addr = serve(&w).await;
    let mut socket = signed_in(addr, &token).await;
    send(&mut socket, subscribe("1", INBOX_CHANGES)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let revoked_at = std::time::Instant::now();
    assert!(w.keys.revoke(partner, &key_id).expect("revoke"));
    let (code, _) = closed_with(&mut socket).await;
    assert_eq!(code, u16::from(CloseCode::Library(4403)));
    // The re-check runs every 500 ms; a loaded machine gets some slack.
    assert!(revoked_at.elapsed() < Duration::from_secs(3), "closed after {:?}", revoked_at.elapsed());
}

#[tokio::test]
async fn operations_meet_the_keys_limits() {
    let limits = Limits {
        max_operations_per_socket: 2,
        max_subscriptions_per_key: 3,
        per_key_per_second: 1,
        burst: 6,
        ..Limits::default()
    };
    let w = world_with(limits);
    let (_, _, token) = owner_token(&w, 1).await;
    let addr = serve(&w).await;

    let mut first = signed_in(addr, &token).await;
    send(&mut first, subscribe("1", INBOX_CHANGES)).await;
    send(&mut first, subscribe("2", INBOX_CHANGES)).await;
    send(&mut first, subscribe("3", INBOX_CHANGES)).await;
    let refused = next(&mut first).await.expect("error");
    assert_eq!((refused["type"].as_str(), refused["id"].as_str()), (Some("error"), Some("3")), "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED");

    let mut second = signed_in(addr, &token).await;
    send(&mut second, subscribe("a", INBOX_CHANGES)).await;
    send(&mut second, subscribe("b", INBOX_CHANGES)).await;
    let refused = next(&mut second).await.expect("error");
    assert_eq!((refused["type"].as_str(), refused["id"].as_str()), (Some("error"), Some("b")), "{refused}");
    assert!(refused["payload"][0]["message"].as_str().unwrap_or("").contains("per API key"), "{refused}");

    // Completing one frees its slot for the key.
    send(&mut first, json!({ "type": "complete", "id": "1" })).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    send(&mut second, subscribe("c", "{ partner { name } }")).await;
    let answer = next(&mut second).await.expect("next");
    assert_eq!(answer["type"], "next", "{answer}");

    // The key's request budget (a burst of 6 at 1 a second) is spent by now.
    let mut refused = None;
    for i in 0..10 {
        send(&mut second, subscribe(&format!("q{i}"), "{ partner { name } }")).await;
        loop {
            let m = next(&mut second).await.expect("message");
            if m["type"] == "error" {
                refused = Some(m);
                break;
            }
            if m["type"] == "complete" {
                break;
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let refused = refused.expect("the key's budget runs out");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "RATE_LIMITED", "{refused}");
}
