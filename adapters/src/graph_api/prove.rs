//! Proving that a token controls an account, by asking the Graph API about it with that
//! token (the [`AccountProver`] port):
//!
//! - WhatsApp: `GET /{phone-number-id}?fields=id,display_phone_number,verified_name`; only a
//!   token with access to the number's WhatsApp Business Account can read it.
//! - Messenger: `GET /me?fields=id,name` with the Page token answers the Page itself.
//! - Instagram: `GET /{ig-user-id}?fields=id,username` on graph.facebook.com, where the
//!   sender sends Instagram messages, with the token of the Page linked to the account.
//! - Threads: `GET /me?fields=id,username` on the Threads base URL answers the Threads user.
//!
//! The answer must name the account itself. Scopes are not recorded: `/me/permissions` is
//! documented for user tokens only, and these are Page, system-user and Threads tokens.

use super::{classify, error::Failure, GraphSettings};
use async_trait::async_trait;
use laras_commands::account_proof::{AccountProver, ProofError};
use laras_commands::credentials::AccessToken;
use laras_commands::outbox::DeliveryError;
use laras_domain::channel::ChannelKind;
use laras_domain::event::AccountProof;
use serde_json::Value;

pub struct GraphProver {
    http: reqwest::Client,
    settings: GraphSettings,
}

impl GraphProver {
    pub fn new(settings: GraphSettings) -> Result<Self, ProofError> {
        let http = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| ProofError::Unreachable(e.to_string()))?;
        Ok(Self { http, settings })
    }

    /// The URL that asks about `account_id`, and the fields of the answer that hold its
    /// name and phone number.
    fn lookup(&self, channel: ChannelKind, account_id: &str) -> (String, Option<&'static str>, Option<&'static str>) {
        let s = &self.settings;
        let graph = |path: &str| format!("{}/{}/{path}", s.base_url.trim_end_matches('/'), s.api_version);
        match channel {
            ChannelKind::WhatsApp => (
                graph(&format!("{account_id}?fields=id,display_phone_number,verified_name")),
                Some("verified_name"),
                Some("display_phone_number"),
            ),
            ChannelKind::Messenger => (graph("me?fields=id,name"), Some("name"), None),
            ChannelKind::Instagram => (graph(&format!("{account_id}?fields=id,username")), Some("username"), None),
            ChannelKind::Threads => (
                format!("{}/{}/me?fields=id,username", s.threads_base_url.trim_end_matches('/'), s.threads_api_version),
                Some("username"),
                None,
            ),
        }
    }
}

#[async_trait]
impl AccountProver for GraphProver {
    async fn prove(
        &self,
        channel: ChannelKind,
        account_id: &str,
        token: &AccessToken,
    ) -> Result<AccountProof, ProofError> {
        if account_id.is_empty() || !account_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            // Never put something that is not an id into a URL path.
            return Err(ProofError::NotControlled);
        }
        let (url, name_field, phone_field) = self.lookup(channel, account_id);
        let response = match self.http.get(&url).bearer_auth(token.expose()).send().await {
            Ok(r) => r,
            Err(e) => return Err(ProofError::Unreachable(e.without_url().to_string())),
        };
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(match classify(status.as_u16(), &body) {
                Failure::Final(DeliveryError::TokenExpired { code }) => ProofError::TokenInvalid { code },
                Failure::Retryable { detail, .. } => ProofError::Unreachable(detail),
                // "Unsupported get request", missing permission, no such object: Meta does
                // not tell them apart, and neither do we (so nothing is learnt about others).
                Failure::Final(_) => ProofError::NotControlled,
            });
        }
        let answered = body.get("id").and_then(Value::as_str).unwrap_or_default();
        if answered != account_id {
            return Err(ProofError::NotControlled);
        }
        let text = |field: Option<&str>| {
            field
                .and_then(|f| body.get(f))
                .and_then(Value::as_str)
                .map(|v| v.trim().chars().take(200).collect::<String>())
                .filter(|v| !v.is_empty())
        };
        Ok(AccountProof { account_id: account_id.to_owned(), name: text(name_field), phone_number: text(phone_field) })
    }
}
