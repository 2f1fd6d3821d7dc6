//! A draft generator on any OpenAI-compatible chat-completions endpoint (OpenAI, a
//! local llama.cpp or vLLM server). The model is told to answer only from the
//! Partner's passages and to say `NO_ANSWER` otherwise; confidence comes from how
//! well the retrieved passages cover the question, as for the embedded generator, so
//! a fluent model cannot talk its way past the threshold.
//!
//! Each call has a timeout; timeouts, 429 and 5xx are retried a bounded number of
//! times with exponential backoff. A malformed answer is an error (a person takes over).

use super::embedded::{content_words, coverage};
use async_trait::async_trait;
use laras_commands::worker::{DraftGenerator, DraftRequest, GeneratedDraft, WorkerError};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const NO_ANSWER: &str = "NO_ANSWER";

#[derive(Clone, Debug)]
pub struct ChatSettings {
    /// The API base, e.g. `https://api.openai.com/v1`; `/chat/completions` is appended.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub retries: u32,
    pub backoff: Duration,
}

impl ChatSettings {
    pub fn new(base_url: &str, model: &str, api_key: Option<String>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            timeout: Duration::from_secs(20),
            retries: 2,
            backoff: Duration::from_millis(250),
        }
    }
}

pub struct ChatCompletionsGenerator {
    http: reqwest::Client,
    settings: ChatSettings,
}

fn failed(e: impl std::fmt::Display) -> WorkerError {
    WorkerError::Generator(e.to_string())
}

const SYSTEM: &str = "You answer customers of one business, in the customer's language, briefly and politely. \
Use only the business's passages below. If they do not answer the question, reply exactly NO_ANSWER. \
Never help with anything outside this business's products, services, orders and policies.";

impl ChatCompletionsGenerator {
    pub const NAME: &'static str = "openai-compatible";

    pub fn new(settings: ChatSettings) -> Result<Self, WorkerError> {
        let http = reqwest::Client::builder().timeout(settings.timeout).build().map_err(failed)?;
        Ok(Self { http, settings })
    }

    /// The chat messages: instructions with the passages, the recent turns, the question.
    pub fn messages(request: &DraftRequest) -> Value {
        let mut system = SYSTEM.to_owned();
        for (i, p) in request.passages.iter().enumerate() {
            system.push_str(&format!("\n\n[{}] {}\n{}", i + 1, p.article.title, p.article.body));
        }
        let mut messages = vec![json!({ "role": "system", "content": system })];
        for turn in &request.history {
            let role = if turn.from_customer { "user" } else { "assistant" };
            messages.push(json!({ "role": role, "content": turn.text }));
        }
        messages.push(json!({ "role": "user", "content": request.question }));
        Value::Array(messages)
    }

    async fn call(&self, body: &Value) -> Result<String, WorkerError> {
        let url = format!("{}/chat/completions", self.settings.base_url);
        let mut attempt = 0;
        loop {
            let mut req = self.http.post(&url).json(body);
            if let Some(key) = &self.settings.api_key {
                req = req.bearer_auth(key);
            }
            let retryable = match req.send().await {
                Ok(resp) if resp.status().is_success() => {
                    let value: Value = resp.json().await.map_err(|e| failed(format!("malformed answer: {e}")))?;
                    return value["choices"][0]["message"]["content"]
                        .as_str()
                        .map(|s| s.trim().to_owned())
                        .ok_or_else(|| failed("the answer has no choices[0].message.content"));
                }
                Ok(resp) if resp.status().as_u16() == 429 || resp.status().is_server_error() => {
                    format!("HTTP {}", resp.status().as_u16())
                }
                Ok(resp) => return Err(failed(format!("HTTP {}", resp.status().as_u16()))),
                Err(e) if e.is_timeout() || e.is_connect() => e.to_string(),
                Err(e) => return Err(failed(e)),
            };
            if attempt >= self.settings.retries {
                return Err(failed(format!("gave up after {} attempts: {retryable}", attempt + 1)));
            }
            tokio::time::sleep(self.settings.backoff * 2u32.pow(attempt)).await;
            attempt += 1;
        }
    }
}

#[async_trait]
impl DraftGenerator for ChatCompletionsGenerator {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn generate(&self, request: &DraftRequest) -> Result<Option<GeneratedDraft>, WorkerError> {
        let question = content_words(&request.question);
        let confidence = request.passages.iter().map(|p| coverage(&question, p)).fold(0.0, f64::max);
        if request.passages.is_empty() {
            return Ok(None);
        }
        let body = json!({ "model": self.settings.model, "temperature": 0.2, "messages": Self::messages(request) });
        let prompt_hash = hex::encode(Sha256::digest(body.to_string().as_bytes()));
        let text = self.call(&body).await?;
        if text.is_empty() || text.contains(NO_ANSWER) {
            return Ok(None);
        }
        Ok(Some(GeneratedDraft {
            text,
            model: self.settings.model.clone(),
            prompt_hash,
            article_ids: request.passages.iter().map(|p| p.article.id).collect(),
            confidence,
        }))
    }
}
