//! The read models as GraphQL types: inbox, conversation, contact with timeline,
//! pipeline, segments and search hits. Times are RFC 3339; money is minor units as text.

use super::types::time;
use async_graphql::{SimpleObject, ID};
use laras_domain::ids::{ConversationId, PartnerId};
use laras_domain::media::MediaLink;
use laras_domain::time::Timestamp;
use laras_projections as rm;

fn t(ms: i64) -> String {
    time(Timestamp(ms))
}

#[derive(SimpleObject)]
pub struct InboxItem {
    pub conversation_id: ID,
    pub contact_id: ID,
    pub contact_name: Option<String>,
    pub channel: String,
    /// open, awaiting_approval, pending, snoozed or resolved.
    pub status: String,
    pub snoozed_until: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: String,
    /// in or out.
    pub last_direction: Option<String>,
    pub unread: i64,
    /// When the customer-service window closes (24 h after the customer's last message).
    pub window_closes_at: Option<String>,
    /// Recent sentiment scores, oldest first (-1 negative … 1 positive).
    pub sentiment: Vec<f64>,
    /// Last minus first recent score: > 0 improving.
    pub sentiment_trend: Option<f64>,
    /// The customer's latest scored message is negative: no reply goes out to them
    /// without a person's approval.
    pub upset: bool,
    pub assignee: Option<String>,
    pub drafts_waiting: i64,
}

impl From<rm::InboxItem> for InboxItem {
    fn from(i: rm::InboxItem) -> Self {
        let trend = i.sentiment_trend();
        let upset = i.sentiment.last().is_some_and(|s| *s <= laras_commands::worker::NEGATIVE_AT_OR_BELOW);
        Self {
            conversation_id: ID(i.conversation_id),
            contact_id: ID(i.contact_id),
            contact_name: i.contact_name,
            channel: i.channel,
            status: i.status,
            snoozed_until: i.snoozed_until.map(t),
            last_message: i.last_text,
            last_message_at: t(i.last_at),
            last_direction: i.last_direction,
            unread: i.unread,
            window_closes_at: i.window_closes_at.map(t),
            sentiment: i.sentiment,
            sentiment_trend: trend,
            upset,
            assignee: i.assignee,
            drafts_waiting: i.drafts_waiting,
        }
    }
}

#[derive(SimpleObject)]
pub struct InboxEdge {
    pub cursor: String,
    pub node: InboxItem,
}

#[derive(SimpleObject)]
pub struct PageInfo {
    pub has_next_page: bool,
    pub end_cursor: Option<String>,
}

#[derive(SimpleObject)]
pub struct InboxConnection {
    pub edges: Vec<InboxEdge>,
    pub page_info: PageInfo,
}

impl InboxConnection {
    pub fn from_page(page: rm::Page<rm::InboxItem>) -> Self {
        // Every edge's cursor is the page's cursor scheme applied to that row.
        let edges = page
            .items
            .into_iter()
            .map(|i| InboxEdge { cursor: rm::inbox_cursor(i.last_at, &i.conversation_id), node: i.into() })
            .collect();
        Self { edges, page_info: PageInfo { has_next_page: page.has_next_page, end_cursor: page.end_cursor } }
    }
}

#[derive(SimpleObject)]
pub struct ConversationItem {
    pub position: u64,
    /// inbound, comment, echo, draft, draft_declined, reply or refused.
    pub kind: String,
    /// The channel message id, comment id, draft id or send id.
    pub reference: String,
    pub text: Option<String>,
    pub at: String,
    pub actor: String,
    /// Drafts: proposed, approved, rejected, sent. Replies: requested, sent, delivered, read, failed,
    /// refused. Inbound: standby when another app held the thread.
    pub state: Option<String>,
    pub platform_message_id: Option<String>,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub draft_id: Option<ID>,
    /// The customer's current reaction on this message (an emoji), if any.
    pub reaction: Option<String>,
    /// Replies: attempts made to send it.
    pub attempts: Option<i64>,
    /// Replies whose attempt was in doubt (the server stopped after the call, before the
    /// answer): held (waits for `approveResend` or `markSent`), resend_approved, resent (by
    /// the policy), resent_by_person or resolved (an echo, a status or a person showed it went out).
    pub in_doubt: Option<String>,
    /// Replies: what showed it went out: graph_api_answer, status_webhook, echo_webhook or
    /// person_confirmed.
    pub evidence: Option<String>,
    /// The files the message carries (a photo, a voice note, a document), in order.
    pub attachments: Vec<Attachment>,
}

/// One file of a message.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Attachment {
    /// image, audio, video, document or sticker.
    pub kind: String,
    /// The type the bytes were checked to be once stored; before, the type the platform declared.
    pub mime: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// pending (not fetched yet), stored, unavailable (see `reason`) or erased.
    pub state: String,
    /// Why the file is unavailable: expired, too_large, forbidden, not_found, hash_mismatch,
    /// type_mismatch, truncated, unreachable, contact_erased or no_reference.
    pub reason: Option<String>,
    #[graphql(skip)]
    pub link: Option<MediaLink>,
}

#[async_graphql::ComplexObject]
impl Attachment {
    /// Where the file can be read (stored files only): a link of this server, good for a
    /// few minutes and only for this file, that needs no API key (ADR 014). Ask again for
    /// a fresh one.
    async fn url(&self, ctx: &async_graphql::Context<'_>) -> Option<String> {
        let api = super::api(ctx);
        let mut link = self.link.clone()?;
        link.expires = Timestamp(api.ledger.clock.now().0.saturating_add(MEDIA_LINK_TTL_MS));
        Some(format!("/media/{}", link.seal(&api.media.link_key)))
    }
}

/// How long a media link handed out by GraphQL works.
pub const MEDIA_LINK_TTL_MS: i64 = 5 * 60 * 1000;

#[derive(SimpleObject)]
pub struct Conversation {
    pub summary: InboxItem,
    /// The thread as JSON: direct messages, comments on a media, or a Threads post.
    pub thread: String,
    pub items: Vec<ConversationItem>,
    /// What happens to this conversation's replies left in doubt: resend_after_bound (the
    /// channel echoes sends back) or hold_for_person (Threads, or the Partner's choice).
    pub in_doubt_policy: String,
}

/// A reply held in doubt for a person: check the customer's thread, then `approveResend`
/// or `markSent`.
#[derive(SimpleObject)]
pub struct HeldSend {
    pub conversation_id: ID,
    pub send_id: ID,
    pub channel: String,
    pub attempts: i64,
    pub text: Option<String>,
    pub held_since: String,
}

impl From<rm::HeldSend> for HeldSend {
    fn from(h: rm::HeldSend) -> Self {
        Self {
            conversation_id: ID(h.conversation_id),
            send_id: ID(h.send_id),
            channel: h.channel,
            attempts: h.attempts,
            text: h.text,
            held_since: t(h.held_since),
        }
    }
}

impl Conversation {
    /// The view of `partner`'s conversation.
    pub fn of(partner: PartnerId, v: rm::ConversationView) -> Self {
        let conversation = v.summary.conversation_id.parse().ok().map(ConversationId);
        let attachments = |message: &str, files: Vec<rm::Attachment>| -> Vec<Attachment> {
            files
                .into_iter()
                .map(|a| Attachment {
                    link: conversation.filter(|_| a.state == "stored").map(|conversation| MediaLink {
                        partner,
                        conversation,
                        message: message.to_owned(),
                        attachment: a.index,
                        expires: Timestamp(0),
                    }),
                    kind: a.kind,
                    mime: a.mime,
                    size: a.size,
                    width: a.width,
                    height: a.height,
                    duration_ms: a.duration_ms,
                    state: a.state,
                    reason: a.reason,
                })
                .collect()
        };
        Self {
            summary: v.summary.into(),
            thread: v.thread,
            items: v
                .items
                .into_iter()
                .map(|i| ConversationItem {
                    position: i.position,
                    kind: i.kind,
                    text: i.text,
                    at: t(i.at),
                    actor: i.actor,
                    state: i.state,
                    platform_message_id: i.platform_message_id,
                    error_code: i.error_code,
                    error_title: i.error_title,
                    draft_id: i.draft_id.map(ID),
                    reaction: i.reaction,
                    attempts: i.attempts,
                    in_doubt: i.in_doubt,
                    evidence: i.evidence,
                    attachments: attachments(&i.reference, i.attachments),
                    reference: i.reference,
                })
                .collect(),
            in_doubt_policy: v.in_doubt_policy,
        }
    }
}

#[derive(SimpleObject)]
pub struct TimelineEntry {
    pub position: u64,
    pub at: String,
    /// identified, message_in, message_out, comment, note, sentiment, opted_out, opted_in,
    /// opportunity_opened, opportunity_stage, opportunity_value, opportunity_won, opportunity_lost, merged, erased,
    /// reaction, referral (the ad or link the customer came from), identity_changed, thread_control.
    pub kind: String,
    pub summary: Option<String>,
    pub reference: Option<String>,
}

#[derive(SimpleObject)]
pub struct Opportunity {
    pub id: ID,
    pub contact_id: ID,
    pub title: String,
    pub stage: String,
    pub value_minor: String,
    pub currency: String,
    /// open, won or lost.
    pub outcome: String,
    pub opened_at: String,
    pub stage_since: String,
    pub closed_at: Option<String>,
}

impl From<rm::OpportunityView> for Opportunity {
    fn from(o: rm::OpportunityView) -> Self {
        Self {
            id: ID(o.opportunity_id),
            contact_id: ID(o.contact_id),
            title: o.title,
            stage: o.stage,
            value_minor: o.value_minor.to_string(),
            currency: o.currency,
            outcome: o.outcome,
            opened_at: t(o.opened_at),
            stage_since: t(o.stage_since),
            closed_at: o.closed_at.map(t),
        }
    }
}

#[derive(SimpleObject)]
pub struct ContactSegment {
    pub contact_id: ID,
    pub display_name: Option<String>,
    /// Historical CLV: won deal value over the contact's lifetime, minor units.
    pub clv_minor: String,
    pub currency: Option<String>,
    pub won_deals: i64,
    pub recency_days: i64,
    pub recency_score: u8,
    pub frequency_score: u8,
    pub monetary_score: u8,
    pub segment: String,
    pub computed_at: String,
}

impl From<rm::ContactSegment> for ContactSegment {
    fn from(s: rm::ContactSegment) -> Self {
        Self {
            contact_id: ID(s.contact_id),
            display_name: s.display_name,
            clv_minor: s.clv_minor.to_string(),
            currency: s.currency,
            won_deals: s.won_deals,
            recency_days: s.recency_days,
            recency_score: s.r,
            frequency_score: s.f,
            monetary_score: s.m,
            segment: s.segment,
            computed_at: t(s.computed_at),
        }
    }
}

#[derive(SimpleObject)]
pub struct Contact {
    pub id: ID,
    pub display_name: Option<String>,
    pub channels: Vec<String>,
    pub opted_out: Option<String>,
    pub erased: bool,
    pub first_seen: String,
    pub last_interaction: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    pub conversation_ids: Vec<ID>,
    pub opportunities: Vec<Opportunity>,
    pub segment: Option<ContactSegment>,
}

impl From<rm::ContactView> for Contact {
    fn from(c: rm::ContactView) -> Self {
        Self {
            id: ID(c.contact_id),
            display_name: c.display_name,
            channels: c.channels,
            opted_out: c.opted_out,
            erased: c.erased,
            first_seen: t(c.first_seen),
            last_interaction: c.last_interaction.map(t),
            timeline: c
                .timeline
                .into_iter()
                .map(|e| TimelineEntry {
                    position: e.position,
                    at: t(e.at),
                    kind: e.kind,
                    summary: e.summary,
                    reference: e.reference,
                })
                .collect(),
            conversation_ids: c.conversations.into_iter().map(ID).collect(),
            opportunities: c.opportunities.into_iter().map(Into::into).collect(),
            segment: c.segment.map(Into::into),
        }
    }
}

#[derive(SimpleObject, Clone)]
pub struct MoneyTotal {
    pub currency: String,
    pub value_minor: String,
    pub weighted_minor: String,
}

fn totals(list: Vec<rm::MoneyTotal>) -> Vec<MoneyTotal> {
    list.into_iter()
        .map(|m| MoneyTotal {
            currency: m.currency,
            value_minor: m.value_minor.to_string(),
            weighted_minor: m.weighted_minor.to_string(),
        })
        .collect()
}

#[derive(SimpleObject)]
pub struct PipelineStage {
    pub name: String,
    pub probability_pct: u8,
    pub open_count: i64,
    pub totals: Vec<MoneyTotal>,
    /// Mean time spent in this stage by opportunities that moved on, in ms.
    pub avg_duration_ms: Option<i64>,
}

#[derive(SimpleObject)]
pub struct Pipeline {
    pub stages: Vec<PipelineStage>,
    /// Weighted forecast of every open deal, per currency.
    pub forecast: Vec<MoneyTotal>,
    pub won: Vec<MoneyTotal>,
    pub won_count: i64,
    pub lost_count: i64,
    pub opportunities: Vec<Opportunity>,
}

impl Pipeline {
    pub fn of(view: rm::PipelineView, opportunities: Vec<rm::OpportunityView>) -> Self {
        Self {
            stages: view
                .stages
                .into_iter()
                .map(|s| PipelineStage {
                    name: s.name,
                    probability_pct: s.probability_pct,
                    open_count: s.open_count,
                    totals: totals(s.totals),
                    avg_duration_ms: s.avg_duration_ms,
                })
                .collect(),
            forecast: totals(view.forecast),
            won: totals(view.won),
            won_count: view.won_count,
            lost_count: view.lost_count,
            opportunities: opportunities.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(SimpleObject)]
pub struct SearchHit {
    pub position: u64,
    pub score: f32,
    /// inbound, comment, echo, reply or note.
    pub kind: String,
    pub channel: String,
    pub contact_id: ID,
    pub conversation_id: Option<ID>,
    pub at: String,
    /// The matching passage, HTML-escaped, with `<b>` around matched words.
    pub snippet_html: String,
}

impl From<rm::SearchHit> for SearchHit {
    fn from(h: rm::SearchHit) -> Self {
        Self {
            position: h.position,
            score: h.score,
            kind: h.kind,
            channel: h.channel,
            contact_id: ID(h.contact),
            conversation_id: h.conversation.map(ID),
            at: t(h.at),
            snippet_html: h.snippet_html,
        }
    }
}
