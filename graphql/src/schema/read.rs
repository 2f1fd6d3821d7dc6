//! The read models as GraphQL types: inbox, conversation, contact with timeline,
//! pipeline, segments and search hits. Times are RFC 3339; money is minor units as text.

use super::enums::*;
use super::node::{global_id, NodeType};
use super::types::{time, Channel};
use crate::error::ApiError;
use async_graphql::{SimpleObject, ID};
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
    pub channel: Channel,
    pub status: ConversationStatus,
    pub snoozed_until: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: String,
    pub last_direction: Option<Direction>,
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

impl TryFrom<rm::InboxItem> for InboxItem {
    type Error = ApiError;
    fn try_from(i: rm::InboxItem) -> Result<Self, ApiError> {
        let trend = i.sentiment_trend();
        let upset = i.sentiment.last().is_some_and(|s| *s <= laras_commands::worker::NEGATIVE_AT_OR_BELOW);
        Ok(Self {
            conversation_id: ID(i.conversation_id),
            contact_id: ID(i.contact_id),
            contact_name: i.contact_name,
            channel: stored_channel(&i.channel)?,
            status: ConversationStatus::from_stored(&i.status)?,
            snoozed_until: i.snoozed_until.map(t),
            last_message: i.last_text,
            last_message_at: t(i.last_at),
            last_direction: i.last_direction.as_deref().map(Direction::from_stored).transpose()?,
            unread: i.unread,
            window_closes_at: i.window_closes_at.map(t),
            sentiment: i.sentiment,
            sentiment_trend: trend,
            upset,
            assignee: i.assignee,
            drafts_waiting: i.drafts_waiting,
        })
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
    pub fn from_page(page: rm::Page<rm::InboxItem>) -> Result<Self, ApiError> {
        // Every edge's cursor is the page's cursor scheme applied to that row.
        let edges = page
            .items
            .into_iter()
            .map(|i| Ok(InboxEdge { cursor: rm::inbox_cursor(i.last_at, &i.conversation_id), node: i.try_into()? }))
            .collect::<Result<_, ApiError>>()?;
        Ok(Self { edges, page_info: PageInfo { has_next_page: page.has_next_page, end_cursor: page.end_cursor } })
    }
}

/// One file of a message.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct Attachment {
    pub kind: AttachmentKind,
    /// The type the bytes were checked to be once stored; before, the type the platform declared.
    pub mime: Option<String>,
    /// Bytes.
    pub size: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    pub state: AttachmentState,
    /// Why the file is unavailable.
    pub reason: Option<AttachmentUnavailable>,
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

/// A reply held in doubt for a person: check the customer's thread, then `approveResend`
/// or `markSent`.
#[derive(SimpleObject)]
pub struct HeldSend {
    pub conversation_id: ID,
    pub send_id: ID,
    pub channel: Channel,
    pub attempts: i64,
    pub text: Option<String>,
    pub held_since: String,
}

impl TryFrom<rm::HeldSend> for HeldSend {
    type Error = ApiError;
    fn try_from(h: rm::HeldSend) -> Result<Self, ApiError> {
        Ok(Self {
            conversation_id: ID(h.conversation_id),
            send_id: ID(h.send_id),
            channel: stored_channel(&h.channel)?,
            attempts: h.attempts,
            text: h.text,
            held_since: t(h.held_since),
        })
    }
}

#[derive(SimpleObject)]
pub struct TimelineEntry {
    pub position: u64,
    pub at: String,
    pub kind: TimelineKind,
    pub summary: Option<String>,
    pub reference: Option<String>,
}

#[derive(SimpleObject)]
pub struct Opportunity {
    /// The global id (`node(id:)`).
    pub id: ID,
    /// The id the opportunity mutations take.
    pub opportunity_id: ID,
    pub contact_id: ID,
    pub title: String,
    pub stage: String,
    pub value_minor: String,
    pub currency: String,
    pub outcome: OpportunityOutcome,
    pub opened_at: String,
    pub stage_since: String,
    pub closed_at: Option<String>,
}

impl TryFrom<rm::OpportunityView> for Opportunity {
    type Error = ApiError;
    fn try_from(o: rm::OpportunityView) -> Result<Self, ApiError> {
        Ok(Self {
            id: global_id(NodeType::Opportunity, &o.opportunity_id),
            opportunity_id: ID(o.opportunity_id),
            contact_id: ID(o.contact_id),
            title: o.title,
            stage: o.stage,
            value_minor: o.value_minor.to_string(),
            currency: o.currency,
            outcome: OpportunityOutcome::from_stored(&o.outcome)?,
            opened_at: t(o.opened_at),
            stage_since: t(o.stage_since),
            closed_at: o.closed_at.map(t),
        })
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
    pub segment: RfmSegment,
    pub computed_at: String,
}

impl TryFrom<rm::ContactSegment> for ContactSegment {
    type Error = ApiError;
    fn try_from(s: rm::ContactSegment) -> Result<Self, ApiError> {
        Ok(Self {
            contact_id: ID(s.contact_id),
            display_name: s.display_name,
            clv_minor: s.clv_minor.to_string(),
            currency: s.currency,
            won_deals: s.won_deals,
            recency_days: s.recency_days,
            recency_score: s.r,
            frequency_score: s.f,
            monetary_score: s.m,
            segment: RfmSegment::from_stored(&s.segment)?,
            computed_at: t(s.computed_at),
        })
    }
}

#[derive(SimpleObject)]
pub struct Contact {
    /// The global id (`node(id:)`).
    pub id: ID,
    /// The id `contact`, `addNote`, `optOut` and the other contact fields take.
    pub contact_id: ID,
    pub display_name: Option<String>,
    /// The channels the contact wrote on, first one first.
    pub channels: Vec<Channel>,
    /// What the contact opted out of, in words ("marketing on whatsapp").
    #[graphql(deprecation = "use `optOut`, which has the scope and channel as values")]
    pub opted_out: Option<String>,
    /// What the contact opted out of; null when nothing.
    pub opt_out: Option<OptOut>,
    pub erased: bool,
    pub first_seen: String,
    pub last_interaction: Option<String>,
    pub timeline: Vec<TimelineEntry>,
    pub conversation_ids: Vec<ID>,
    pub opportunities: Vec<Opportunity>,
    pub segment: Option<ContactSegment>,
}

/// A contact's opt-out.
#[derive(SimpleObject)]
pub struct OptOut {
    pub scope: OptOutScope,
    /// The one channel opted out of; null: every channel.
    pub channel: Option<Channel>,
}

impl OptOut {
    /// The read models' words: `<scope> on <channel>` or `<scope> on every channel`.
    fn from_stored(words: &str) -> Result<Self, ApiError> {
        let (scope, channel) = words.split_once(" on ").unwrap_or((words, "every channel"));
        Ok(Self {
            scope: OptOutScope::from_stored(scope)?,
            channel: match channel {
                "every channel" => None,
                one => Some(stored_channel(one)?),
            },
        })
    }
}

impl TryFrom<rm::ContactView> for Contact {
    type Error = ApiError;
    fn try_from(c: rm::ContactView) -> Result<Self, ApiError> {
        Ok(Self {
            id: global_id(NodeType::Contact, &c.contact_id),
            contact_id: ID(c.contact_id.clone()),
            display_name: c.display_name,
            channels: c.channels.iter().map(|w| stored_channel(w)).collect::<Result<_, _>>()?,
            opt_out: c.opted_out.as_deref().map(OptOut::from_stored).transpose()?,
            opted_out: c.opted_out,
            erased: c.erased,
            first_seen: t(c.first_seen),
            last_interaction: c.last_interaction.map(t),
            timeline: c
                .timeline
                .into_iter()
                .map(|e| {
                    Ok(TimelineEntry {
                        position: e.position,
                        at: t(e.at),
                        kind: TimelineKind::from_stored(&e.kind)?,
                        summary: e.summary,
                        reference: e.reference,
                    })
                })
                .collect::<Result<_, ApiError>>()?,
            conversation_ids: c.conversations.into_iter().map(ID).collect(),
            opportunities: c.opportunities.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
            segment: c.segment.map(TryInto::try_into).transpose()?,
        })
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
    pub fn of(view: rm::PipelineView, opportunities: Vec<rm::OpportunityView>) -> Result<Self, ApiError> {
        Ok(Self {
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
            opportunities: opportunities.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?,
        })
    }
}

#[derive(SimpleObject)]
pub struct SearchHit {
    pub position: u64,
    pub score: f32,
    pub kind: SearchHitKind,
    /// The channel of the message; null for a note.
    pub channel: Option<Channel>,
    pub contact_id: ID,
    pub conversation_id: Option<ID>,
    pub at: String,
    /// The matching passage, HTML-escaped, with `<b>` around matched words.
    pub snippet_html: String,
}

impl TryFrom<rm::SearchHit> for SearchHit {
    type Error = ApiError;
    fn try_from(h: rm::SearchHit) -> Result<Self, ApiError> {
        Ok(Self {
            position: h.position,
            score: h.score,
            kind: SearchHitKind::from_stored(&h.kind)?,
            channel: Some(h.channel.as_str()).filter(|c| !c.is_empty()).map(stored_channel).transpose()?,
            contact_id: ID(h.contact),
            conversation_id: h.conversation.map(ID),
            at: t(h.at),
            snippet_html: h.snippet_html,
        })
    }
}
