//! Meta's error bodies, sorted into what to do about them.

use laras_commands::outbox::DeliveryError;
use serde_json::Value;

pub enum Failure {
    Retryable { status: Option<u16>, detail: String },
    Final(DeliveryError),
}

/// Codes Meta uses for throttling (besides HTTP 429).
const RATE_LIMIT_CODES: [i64; 7] = [4, 17, 32, 613, 80007, 130429, 131056];

/// Sorts a non-2xx answer: `{"error": {"code", "message", "error_subcode", "error_data"}}`.
pub fn classify(status: u16, body: &Value) -> Failure {
    let error = body.get("error");
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_i64);
    let title = error
        .and_then(|e| e.get("error_data").and_then(|d| d.get("details")).or_else(|| e.get("message")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    match code {
        Some(190) => Failure::Final(DeliveryError::TokenExpired { code: 190 }),
        Some(c) if RATE_LIMIT_CODES.contains(&c) => {
            Failure::Retryable { status: Some(status), detail: format!("rate limited (code {c})") }
        }
        _ if status == 429 => Failure::Retryable { status: Some(status), detail: "rate limited".into() },
        _ if status >= 500 => Failure::Retryable { status: Some(status), detail: format!("server error {status}") },
        Some(c) => Failure::Final(DeliveryError::Rejected { code: c, title }),
        None => Failure::Final(DeliveryError::Rejected { code: i64::from(status), title: format!("HTTP {status}") }),
    }
}
