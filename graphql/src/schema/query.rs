//! Queries. Every resolver takes the Partner from the caller's key, never from an argument.

use super::api;
use super::audit::AuditEntry;
use super::types::{parse_id, ApprovalMode, Channel, Role};
use crate::auth::{partner_in, user_of, AUDIT, OWNERS, READERS, WORKERS};
use crate::error::{ApiError, OrApi};
use async_graphql::{Context, Object, OneofObject, SimpleObject, ID};
use laras_domain::ids::{ContactId, ConversationId, OpportunityId};
use laras_domain::stream::StreamId;

#[derive(Default)]
pub struct PartnerQueries;

#[derive(SimpleObject)]
pub struct Me {
    pub partner_id: ID,
    pub role: Role,
    pub key_id: String,
    /// The partner user this key acts as: what `assignConversation` records and the
    /// inbox's `assignee` (and its filter) hold.
    pub user_id: ID,
}

#[derive(SimpleObject)]
pub struct ConnectedChannel {
    pub channel: Channel,
    pub account_id: String,
    pub status: super::enums::ChannelStatus,
    /// How the AI worker's drafts on this channel go out: its own mode, or the
    /// Partner's default when none was set for it.
    pub approval_mode: ApprovalMode,
    /// Whether `approvalMode` was set for this channel (false: the default applies).
    pub own_approval_mode: bool,
}

/// When and how open deals are followed up (`setFollowUpPolicy`).
#[derive(SimpleObject)]
pub struct FollowUpPolicy {
    /// Hours of the customer's silence before a follow-up; null when none was set.
    pub delay_hours: Option<u32>,
    /// The approved WhatsApp template used outside the 24-hour window.
    pub whatsapp_template: Option<String>,
    pub template_language: Option<String>,
}

#[derive(SimpleObject)]
pub struct Stage {
    pub name: String,
    pub probability_pct: u8,
}

#[derive(SimpleObject)]
pub struct PartnerProfile {
    pub id: ID,
    pub name: String,
    pub approval_mode: ApprovalMode,
    pub channels: Vec<ConnectedChannel>,
    pub pipeline: Vec<Stage>,
    pub follow_up: FollowUpPolicy,
}

/// Whether a reply would go out now, asked before sending.
#[derive(SimpleObject)]
pub struct ReplyCheck {
    pub allowed: bool,
    /// Why not, when refused.
    pub reason: Option<super::enums::ReplyRefusal>,
    /// The refusal in English words, with the time a window closed.
    pub explanation: Option<String>,
}

#[derive(SimpleObject)]
pub struct ApiKeyInfo {
    pub id: String,
    pub role: Role,
    pub label: String,
}

/// Whose history to show.
#[derive(OneofObject)]
pub enum AuditSubject {
    Conversation(ID),
    Contact(ID),
    Opportunity(ID),
}

#[derive(SimpleObject)]
pub struct AuditTrail {
    pub entries: Vec<AuditEntry>,
    /// Pass as `afterVersion` for the next page; null at the end.
    pub next_after_version: Option<u64>,
}

#[Object]
impl PartnerQueries {
    /// The calling key.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Me> {
        let (partner, key) = partner_in(ctx, READERS)?;
        Ok(Me {
            partner_id: ID(partner.to_string()),
            role: key.role.into(),
            key_id: key.id.clone(),
            user_id: ID(user_of(key).to_string()),
        })
    }

    /// The caller's Partner: name, approval mode, channels and pipeline.
    async fn partner(&self, ctx: &Context<'_>) -> async_graphql::Result<PartnerProfile> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let state = api(ctx).ledger.partner(partner).await.api()?;
        let channels = state
            .channels
            .iter()
            .map(|(kind, c)| ConnectedChannel {
                channel: (*kind).into(),
                account_id: c.account_id.clone(),
                status: c.status.into(),
                approval_mode: state.approval_mode(*kind).into(),
                own_approval_mode: state.channel_modes.contains_key(kind),
            })
            .collect();
        let pipeline =
            state.pipeline.iter().map(|s| Stage { name: s.name.clone(), probability_pct: s.probability_pct }).collect();
        Ok(PartnerProfile {
            id: ID(partner.to_string()),
            name: state.name,
            approval_mode: state.default_mode.into(),
            channels,
            pipeline,
            follow_up: FollowUpPolicy {
                delay_hours: state.follow_up_delay_hours,
                whatsapp_template: state.follow_up_template.as_ref().map(|(name, _)| name.clone()),
                template_language: state.follow_up_template.map(|(_, language)| language),
            },
        })
    }

    /// Whether `text`, sent now by the caller as a reply, would go out, and if not why:
    /// the send policy of the `reply` mutation, asked without writing anything.
    async fn reply_check(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        text: String,
        to: Option<super::mutation::ReplyTo>,
    ) -> async_graphql::Result<ReplyCheck> {
        let (partner, _) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        if let Err(e) = laras_domain::error::require_text("reply", &text, 4096) {
            let explanation = Some(e.to_string());
            let reason = Some(super::enums::ReplyRefusal::InvalidText);
            return Ok(ReplyCheck { allowed: false, reason, explanation });
        }
        let target = super::mutation::reply_target(to);
        Ok(match api(ctx).ledger.check_reply(partner, conversation, &target).await.api()? {
            Ok(_) => ReplyCheck { allowed: true, reason: None, explanation: None },
            Err(reason) => {
                ReplyCheck { allowed: false, reason: Some((&reason).into()), explanation: Some(reason.to_string()) }
            }
        })
    }

    /// The Partner's live API keys (owner only); secrets are never shown again.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKeyInfo>> {
        let (partner, _) = partner_in(ctx, OWNERS)?;
        let keys = api(ctx).keys.list(partner).api()?;
        Ok(keys.into_iter().map(|k| ApiKeyInfo { id: k.id, role: k.role.into(), label: k.label }).collect())
    }

    /// Every event of one conversation, contact or opportunity, in order: who did what,
    /// when, under which key, with the hashes that chain them.
    async fn audit_trail(
        &self,
        ctx: &Context<'_>,
        subject: AuditSubject,
        after_version: Option<u64>,
        #[graphql(default = 100)] first: i64,
    ) -> async_graphql::Result<AuditTrail> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let first = super::types::page_size(first, api(ctx).limits.max_page).api()?;
        let stream = match &subject {
            AuditSubject::Conversation(id) => {
                StreamId::conversation(parse_id::<ConversationId>("conversationId", id).api()?)
            }
            AuditSubject::Contact(id) => StreamId::contact(parse_id::<ContactId>("contactId", id).api()?),
            AuditSubject::Opportunity(id) => {
                StreamId::opportunity(parse_id::<OpportunityId>("opportunityId", id).api()?)
            }
        };
        let from = after_version.map_or(0, |v| v + 1);
        let stored =
            api(ctx).ledger.store.read_stream(&stream, from).await.map_err(laras_commands::CommandError::from).api()?;
        // Another Partner's stream reads exactly like one that does not exist.
        if stored.first().is_some_and(|s| s.envelope.header.partner_id != partner) || (stored.is_empty() && from == 0) {
            return Err(ApiError::not_found().into_graphql());
        }
        let more = stored.len() > first;
        let entries: Vec<AuditEntry> = stored.iter().take(first).map(AuditEntry::of).collect();
        let next_after_version = if more { entries.last().map(|e| e.stream_version) } else { None };
        Ok(AuditTrail { entries, next_after_version })
    }
}
