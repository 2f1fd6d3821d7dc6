//! The Partner API over HTTP on the real binary: keys from the CLI and the admin
//! token, 401 for unknown keys, 413 for huge bodies, 429 past the rate limit, GraphiQL.

mod common;

use common::*;
use serde_json::{json, Value};

fn post(base: &str, key: Option<&str>, body: &Value) -> (u16, Value) {
    let client = reqwest::blocking::Client::new();
    let mut req = client.post(format!("{base}/graphql")).json(body);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let resp = req.send().expect("post /graphql");
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

fn created(data_dir: &std::path::Path, name: &str) -> Value {
    let out = run(data_dir, &["partner", "create", "--name", name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("partner create prints JSON")
}

#[test]
fn keys_from_the_cli_and_the_admin_token_work_and_bad_requests_are_refused_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let partner = created(dir.path(), "Toko Satu");
    let owner_key = partner["owner_key"].as_str().expect("owner key").to_owned();
    // The per-IP limit would refuse this test's 400 requests before the per-key one does.
    let server = Server::start(
        dir.path(),
        &[("LARAS_ADMIN_TOKEN", "admin-s3cret-token"), ("LARAS_REQUESTS_PER_IP_PER_SECOND", "0")],
    );

    let (status, me) = post(&server.base, Some(&owner_key), &json!({ "query": "{ me { partnerId role } }" }));
    assert_eq!(status, 200);
    assert_eq!(me["data"]["me"]["partnerId"], partner["partner_id"]);
    assert_eq!(me["data"]["me"]["role"], "OWNER");

    let (status, body) = post(&server.base, Some("lrs_0000000000000000_nope"), &json!({ "query": "{ me { role } }" }));
    assert_eq!(status, 401);
    assert_eq!(body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED");

    let create = json!({ "query": "mutation { createPartner(name: \"Toko Dua\") { partnerId ownerKey } }" });
    let (status, body) = post(&server.base, Some("admin-s3cret-token"), &create);
    assert_eq!(status, 200, "{body}");
    let second_key = body["data"]["createPartner"]["ownerKey"].as_str().expect("key").to_owned();
    let (_, me2) = post(&server.base, Some(&second_key), &json!({ "query": "{ partner { name } }" }));
    assert_eq!(me2["data"]["partner"]["name"], "Toko Dua");
    let (_, refused) = post(&server.base, Some(&owner_key), &create);
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");

    let huge = json!({ "query": format!("{{ me {{ role }} }} #{}", "x".repeat(300 * 1024)) });
    let (status, body) = post(&server.base, Some(&owner_key), &huge);
    assert_eq!(status, 413);
    assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");

    // Not JSON: refused before the body is read, with a JSON answer.
    let client = reqwest::blocking::Client::new();
    let form = client
        .post(format!("{}/graphql", server.base))
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ me { role } }"}"#)
        .send()
        .expect("post");
    assert_eq!(form.status().as_u16(), 415);
    let body: Value = form.json().expect("a JSON body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_INPUT");
    // Broken JSON: a coded JSON answer, no debug text.
    let broken = client
        .post(format!("{}/graphql", server.base))
        .header("content-type", "application/json")
        .body(r#"{"query": "#)
        .send()
        .expect("post");
    assert_eq!(broken.status().as_u16(), 400);
    let text = broken.text().expect("text");
    assert!(!text.contains("InvalidRequest"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("a JSON body");
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    // The scheme is case-insensitive.
    let lower = client
        .post(format!("{}/graphql", server.base))
        .header("authorization", format!("bearer {owner_key}"))
        .json(&json!({ "query": "{ me { role } }" }))
        .send()
        .expect("post");
    assert_eq!(lower.status().as_u16(), 200);

    let explorer = reqwest::blocking::get(format!("{}/graphql", server.base)).expect("get");
    let csp = explorer.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let page = explorer.text().expect("text");
    assert!(page.contains("graphiql@4.1.2/graphiql.min.js"), "GET /graphql serves GraphiQL at a pinned version");
    assert_eq!(page.matches("integrity=\"sha384-").count(), 4, "every asset is checked by its hash: {page}");
    let csp = csp.expect("GraphiQL has its own Content-Security-Policy");
    assert!(csp.contains("script-src https://unpkg.com 'sha256-") && csp.contains("default-src 'none'"), "{csp}");

    let statuses: Vec<u16> =
        (0..400).map(|_| post(&server.base, Some(&second_key), &json!({ "query": "{ me { role } }" })).0).collect();
    assert!(statuses.contains(&429), "a key past its rate limit gets 429");
    // Another key has its own budget.
    assert_eq!(post(&server.base, Some(&owner_key), &json!({ "query": "{ me { role } }" })).0, 200);
    server.stop();
}

#[test]
fn serve_demo_prints_a_working_owner_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, base, key) = demo_server(dir.path());
    let key = key.as_str();
    let (status, body) = post(&base, Some(key), &json!({ "query": "{ partner { name channels { channel } } }" }));
    assert_eq!(status, 200);
    assert_eq!(body["data"]["partner"]["channels"].as_array().map(Vec::len), Some(4), "{body}");
    // The inbox fills as the read models catch up.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let inbox = json!({ "query": "{ inbox(first: 10) { edges { node { channel status lastMessage } } } }" });
    let edges = loop {
        let (_, body) = post(&base, Some(key), &inbox);
        let edges = body["data"]["inbox"]["edges"].as_array().cloned().unwrap_or_default();
        if edges.len() >= 5 || std::time::Instant::now() > deadline {
            break edges;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let channels: std::collections::BTreeSet<_> =
        edges.iter().filter_map(|e| e["node"]["channel"].as_str().map(str::to_owned)).collect();
    assert_eq!(channels.len(), 4, "conversations on all four channels: {edges:?}");
    assert!(edges.iter().any(|e| e["node"]["status"] == "AWAITING_APPROVAL"), "a draft waits for approval");
    terminate(&child);
    let _ = child.wait();

    // The read models rebuild from the log with the server stopped.
    let out = run(dir.path(), &["projections", "rebuild"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("rebuild prints JSON");
    assert!(report["events"].as_u64().is_some_and(|n| n > 20), "{report}");
    assert_eq!(report["rebuilt_to_position"], report["events"]);
}

/// Starts `serve --demo` and returns the child, its base URL and the owner key.
fn demo_server(dir: &std::path::Path) -> (std::process::Child, String, String) {
    let port = free_port();
    let mut child = laras(dir)
        .args(["serve", "--demo", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let lines = lines_of(&mut child);
    let first = lines.recv_timeout(std::time::Duration::from_secs(30)).expect("the demo prints its key");
    let demo: Value = serde_json::from_str(&first).expect("json line");
    (child, format!("http://127.0.0.1:{port}"), demo["owner_key"].as_str().expect("key").to_owned())
}

#[test]
fn inbox_changes_arrive_over_a_graphql_transport_ws_subscription() {
    use tungstenite::client::IntoClientRequest;
    use tungstenite::Message;
    let dir = tempfile::tempdir().expect("tempdir");
    let (child, base, key) = demo_server(dir.path());
    let conversation = loop {
        let (_, body) = post(&base, Some(&key), &json!({ "query": "{ inbox { edges { node { conversationId } } } }" }));
        if let Some(id) = body["data"]["inbox"]["edges"][0]["node"]["conversationId"].as_str() {
            break id.to_owned();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut request = format!("{}/graphql", base.replace("http", "ws")).into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tungstenite::connect(request).expect("websocket");
    // A missing message fails the test instead of hanging it.
    if let tungstenite::stream::MaybeTlsStream::Plain(stream) = socket.get_ref() {
        stream.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("read timeout");
    }
    let send =
        |socket: &mut tungstenite::WebSocket<_>, v: Value| socket.send(Message::text(v.to_string())).expect("send");
    let next = |socket: &mut tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>| loop {
        if let Message::Text(text) = socket.read().expect("read") {
            break serde_json::from_str::<Value>(&text).expect("json");
        }
    };
    send(&mut socket, json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {key}") } }));
    assert_eq!(next(&mut socket)["type"], "connection_ack");
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { inboxChanges { conversationId } }" } });
    send(&mut socket, subscribe);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let resolve = json!({
        "query": "mutation($c: ID!) { setConversationStatus(conversationId: $c, status: RESOLVED) { position } }",
        "variables": { "c": conversation },
    });
    let (status, body) = post(&base, Some(&key), &resolve);
    assert_eq!(status, 200, "{body}");
    // Other conversations change too (the AI worker drafts replies to the demo's
    // messages): ours must be among the next changes.
    let ours = (0..100).any(|_| {
        let event = next(&mut socket);
        assert_eq!(event["type"], "next", "{event}");
        event["payload"]["data"]["inboxChanges"]["conversationId"] == conversation
    });
    assert!(ours, "the resolved conversation's change arrives");
    terminate(&child);
    let mut child = child;
    let _ = child.wait();

    // Without a key the connection is refused.
    let (child2, base2, _) = demo_server(dir.path());
    let mut request = format!("{}/graphql", base2.replace("http", "ws")).into_client_request().expect("request");
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().expect("header"));
    let (mut socket, _) = tungstenite::connect(request).expect("websocket");
    send(&mut socket, json!({ "type": "connection_init", "payload": {} }));
    let refused = loop {
        match socket.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| f.code.into()).unwrap_or(0u16),
            Ok(_) => continue,
            Err(_) => break 0,
        }
    };
    assert_ne!(refused, 1000, "an unauthenticated connection is not accepted");
    terminate(&child2);
    let mut child2 = child2;
    let _ = child2.wait();
}
