//! The OpenAI-compatible generator against a fake chat-completions server on loopback:
//! normal answers, NO_ANSWER, slow answers (timeout), errors (bounded retries) and
//! malformed JSON.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use laras_adapters::ai::openai::{ChatCompletionsGenerator, ChatSettings};
use laras_commands::worker::{Article, DraftGenerator, DraftRequest, Passage, Turn};
use laras_domain::event::ArticleKind;
use laras_domain::ids::ArticleId;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

#[derive(Clone, Copy)]
enum Behaviour {
    Answer(&'static str),
    Slow,
    FailTwiceThenAnswer,
    AlwaysFail,
    Malformed,
}

#[derive(Clone)]
struct Fake {
    behaviour: Behaviour,
    calls: Arc<Mutex<Vec<Value>>>,
}

async fn completions(State(fake): State<Fake>, Json(body): Json<Value>) -> Response {
    let n = {
        let mut calls = fake.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.push(body);
        calls.len()
    };
    let answer = |text: &str| Json(json!({ "choices": [{ "message": { "role": "assistant", "content": text } }] }));
    match fake.behaviour {
        Behaviour::Answer(text) => answer(text).into_response(),
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            answer("too late").into_response()
        }
        Behaviour::FailTwiceThenAnswer if n <= 2 => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        Behaviour::FailTwiceThenAnswer => answer("Rp 450.000, kak.").into_response(),
        Behaviour::AlwaysFail => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Behaviour::Malformed => (StatusCode::OK, "{\"choices\": [").into_response(),
    }
}

async fn start(behaviour: Behaviour) -> (String, Arc<Mutex<Vec<Value>>>) {
    let fake = Fake { behaviour, calls: Arc::default() };
    let calls = fake.calls.clone();
    let app = Router::new().route("/v1/chat/completions", post(completions)).with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/v1"), calls)
}

fn generator(base: &str) -> ChatCompletionsGenerator {
    let mut settings = ChatSettings::new(base, "test-model", Some("sk-test".into()));
    settings.timeout = Duration::from_millis(300);
    settings.backoff = Duration::from_millis(10);
    ChatCompletionsGenerator::new(settings).expect("client")
}

fn request() -> DraftRequest {
    let article = Article {
        id: ArticleId(Uuid::from_u128(0xba)),
        kind: ArticleKind::Product,
        title: "Batik tulis".into(),
        body: "Harga batik tulis Rp 450.000.".into(),
        tags: vec![],
    };
    DraftRequest {
        question: "Berapa harga batik tulis?".into(),
        passages: vec![Passage { article, score: 3.0 }],
        history: vec![
            Turn { from_customer: true, text: "Halo kak".into() },
            Turn { from_customer: false, text: "Halo!".into() },
        ],
    }
}

#[tokio::test]
async fn an_answer_is_grounded_in_the_passages_and_the_conversation() {
    let (base, calls) = start(Behaviour::Answer("Harganya Rp 450.000, kak.")).await;
    let draft = generator(&base).generate(&request()).await.expect("call").expect("an answer");
    assert_eq!(draft.text, "Harganya Rp 450.000, kak.");
    assert_eq!((draft.model.as_str(), draft.article_ids.len()), ("test-model", 1));
    assert!((draft.confidence - 1.0).abs() < f64::EPSILON, "the passage covers the question");
    assert_eq!(draft.prompt_hash.len(), 64);
    let sent = calls.lock().unwrap_or_else(|p| p.into_inner())[0].clone();
    assert_eq!(sent["model"], "test-model");
    let messages = sent["messages"].as_array().expect("messages");
    assert!(messages[0]["content"].as_str().is_some_and(|s| s.contains("Harga batik tulis Rp 450.000.")));
    let roles: Vec<&str> = messages.iter().filter_map(|m| m["role"].as_str()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
}

#[tokio::test]
async fn no_answer_from_the_model_is_no_draft() {
    let (base, _) = start(Behaviour::Answer("NO_ANSWER")).await;
    assert_eq!(generator(&base).generate(&request()).await.expect("call"), None);
}

#[tokio::test]
async fn errors_are_retried_a_bounded_number_of_times() {
    let (base, calls) = start(Behaviour::FailTwiceThenAnswer).await;
    let draft = generator(&base).generate(&request()).await.expect("third time lucky");
    assert!(draft.is_some());
    assert_eq!(calls.lock().unwrap_or_else(|p| p.into_inner()).len(), 3);

    let (base, calls) = start(Behaviour::AlwaysFail).await;
    assert!(generator(&base).generate(&request()).await.is_err());
    assert_eq!(calls.lock().unwrap_or_else(|p| p.into_inner()).len(), 3, "one try and two retries, no more");
}

#[tokio::test]
async fn a_slow_answer_times_out_and_malformed_json_is_an_error() {
    let (base, _) = start(Behaviour::Slow).await;
    let started = std::time::Instant::now();
    assert!(generator(&base).generate(&request()).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(3), "bounded by the timeouts, not the server");
    let (base, _) = start(Behaviour::Malformed).await;
    assert!(generator(&base).generate(&request()).await.is_err());
}
