//! What the API asks of the read models. Every query takes the Partner and filters by
//! it, so another Partner's ids find nothing.

use crate::error::ProjectionError;
use crate::models::ReadModels;
use crate::project::window_closes_at;
use crate::search::{SearchHit, SearchQuery};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use laras_domain::event::{DraftAuthor, InDoubtPolicy};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::collections::HashMap;

#[derive(Clone, Debug, Default)]
pub struct InboxFilter {
    /// open, awaiting_approval, pending, snoozed or resolved.
    pub status: Option<String>,
    pub channel: Option<String>,
    pub assignee: Option<String>,
    pub contact: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PageRequest {
    pub first: usize,
    /// An `end_cursor` from the previous page.
    pub after: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub end_cursor: Option<String>,
    pub has_next_page: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InboxItem {
    pub conversation_id: String,
    pub contact_id: String,
    pub contact_name: Option<String>,
    pub channel: String,
    /// open, awaiting_approval (a draft waits), pending, snoozed or resolved.
    pub status: String,
    pub snoozed_until: Option<i64>,
    pub last_text: Option<String>,
    pub last_at: i64,
    /// in or out.
    pub last_direction: Option<String>,
    pub unread: i64,
    pub window_closes_at: Option<i64>,
    /// The last few sentiment scores, oldest first.
    pub sentiment: Vec<f64>,
    pub assignee: Option<String>,
    pub drafts_waiting: i64,
}

impl InboxItem {
    /// Last score minus first of the recent ones: > 0 improving, < 0 worsening.
    pub fn sentiment_trend(&self) -> Option<f64> {
        match (self.sentiment.first(), self.sentiment.last()) {
            (Some(first), Some(last)) if self.sentiment.len() > 1 => Some(last - first),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ConversationItem {
    pub position: u64,
    /// inbound, comment, echo, draft, draft_declined, reply or refused.
    pub kind: String,
    /// The channel message id, comment id, draft id or send id.
    pub reference: String,
    pub text: Option<String>,
    pub at: i64,
    pub actor: String,
    /// Drafts: proposed, approved, rejected, sent. Replies: requested, sent, delivered, read, failed, refused.
    pub state: Option<String>,
    pub platform_message_id: Option<String>,
    pub error_code: Option<i64>,
    pub error_title: Option<String>,
    pub draft_id: Option<String>,
    /// The customer's current reaction on this message, if any.
    pub reaction: Option<String>,
    /// Replies: attempts made to send it.
    pub attempts: Option<i64>,
    /// Replies whose attempt was in doubt: held, resend_approved, resent, resent_by_person
    /// or resolved (ADR 010).
    pub in_doubt: Option<String>,
    /// Replies: what showed it went out (graph_api_answer, status_webhook, echo_webhook,
    /// person_confirmed).
    pub evidence: Option<String>,
    /// The files the message carries, in order.
    pub attachments: Vec<Attachment>,
    /// Drafts: who proposed it.
    pub author: Option<DraftAuthor>,
}

/// One file of a message, as far as the media fetcher got with it.
#[derive(Clone, Debug, PartialEq)]
pub struct Attachment {
    pub index: u32,
    /// image, audio, video, document or sticker.
    pub kind: String,
    /// The checked type once stored; before, the type the platform declared.
    pub mime: Option<String>,
    pub size: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// pending, stored, unavailable or erased.
    pub state: String,
    /// Why it is unavailable (expired, too_large, hash_mismatch, …).
    pub reason: Option<String>,
}

/// A stored file the media route may serve: where it is and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredAttachment {
    pub contact_id: String,
    pub object: String,
    pub kind: String,
    pub mime: String,
}

/// A reply held in doubt for a person (`approveResend` or `markSent`).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldSend {
    pub conversation_id: String,
    pub send_id: String,
    pub channel: String,
    pub attempts: i64,
    pub text: Option<String>,
    pub held_since: i64,
}

#[derive(Clone, Debug)]
pub struct ConversationView {
    pub summary: InboxItem,
    /// JSON of the thread: direct, comments on a media, or a Threads post.
    pub thread: String,
    pub items: Vec<ConversationItem>,
    /// What happens to this conversation's sends left in doubt: resend_after_bound or
    /// hold_for_person (the Partner's choice for the channel, or the channel's default).
    pub in_doubt_policy: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    pub position: u64,
    pub at: i64,
    pub kind: String,
    pub summary: Option<String>,
    pub reference: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OpportunityView {
    pub opportunity_id: String,
    pub contact_id: String,
    pub title: String,
    pub stage: String,
    pub value_minor: i64,
    pub currency: String,
    /// open, won or lost.
    pub outcome: String,
    pub opened_at: i64,
    pub stage_since: i64,
    pub closed_at: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ContactSegment {
    pub contact_id: String,
    pub display_name: Option<String>,
    pub clv_minor: i64,
    pub currency: Option<String>,
    pub won_deals: i64,
    pub recency_days: i64,
    pub r: u8,
    pub f: u8,
    pub m: u8,
    pub segment: String,
    pub computed_at: i64,
}

#[derive(Clone, Debug)]
pub struct ContactView {
    pub contact_id: String,
    pub display_name: Option<String>,
    pub channels: Vec<String>,
    /// What the contact opted out of, if anything.
    pub opted_out: Option<String>,
    pub erased: bool,
    pub first_seen: i64,
    pub last_interaction: Option<i64>,
    pub timeline: Vec<TimelineEntry>,
    pub conversations: Vec<String>,
    pub opportunities: Vec<OpportunityView>,
    pub segment: Option<ContactSegment>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct MoneyTotal {
    pub currency: String,
    pub value_minor: i64,
    /// Value × the stage's probability.
    pub weighted_minor: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct StageSummary {
    pub name: String,
    pub probability_pct: u8,
    pub open_count: i64,
    pub totals: Vec<MoneyTotal>,
    /// Mean time opportunities spent in this stage before moving on (finished stints).
    pub avg_duration_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PipelineView {
    pub stages: Vec<StageSummary>,
    pub won: Vec<MoneyTotal>,
    pub won_count: i64,
    pub lost_count: i64,
    /// Sum of every open stage's weighted value, per currency.
    pub forecast: Vec<MoneyTotal>,
}

const INBOX_COLUMNS: &str = "c.conversation_id, c.contact_id, k.display_name, c.channel, c.status, c.snoozed_until,
    c.last_text, c.last_at, c.last_direction, c.unread, c.last_inbound_at, c.closed_by_platform_at, c.sentiment,
    c.assignee, c.drafts_waiting";

fn inbox_row(r: &Row<'_>) -> rusqlite::Result<InboxItem> {
    let drafts_waiting: i64 = r.get(14)?;
    let status: String = r.get(4)?;
    let sentiment: String = r.get(12)?;
    Ok(InboxItem {
        conversation_id: r.get(0)?,
        contact_id: r.get(1)?,
        contact_name: r.get(2)?,
        channel: r.get(3)?,
        status: if drafts_waiting > 0 && status != "resolved" { "awaiting_approval".into() } else { status },
        snoozed_until: r.get(5)?,
        last_text: r.get(6)?,
        last_at: r.get(7)?,
        last_direction: r.get(8)?,
        unread: r.get(9)?,
        window_closes_at: window_closes_at(r.get(10)?, r.get(11)?),
        sentiment: serde_json::from_str(&sentiment).unwrap_or_default(),
        assignee: r.get(13)?,
        drafts_waiting,
    })
}

/// The opaque cursor of an inbox row.
pub fn inbox_cursor(last_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{last_at}|{id}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, String), ProjectionError> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| ProjectionError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| ProjectionError::BadCursor)?;
    let (at, id) = text.split_once('|').ok_or(ProjectionError::BadCursor)?;
    let at = at.parse().map_err(|_| ProjectionError::BadCursor)?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ProjectionError::BadCursor);
    }
    Ok((at, id.to_owned()))
}

impl ReadModels {
    /// A Partner's conversations, most recent first.
    pub fn inbox(
        &self,
        partner: &str,
        filter: &InboxFilter,
        page: &PageRequest,
    ) -> Result<Page<InboxItem>, ProjectionError> {
        let first = page.first.clamp(1, 500);
        let after = page.after.as_deref().map(decode_cursor).transpose()?;
        let mut sql = format!(
            "SELECT {INBOX_COLUMNS} FROM conversations c LEFT JOIN contacts k ON k.contact_id = c.contact_id WHERE c.partner_id = ?1"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![partner.to_owned().into()];
        let mut arg = |sql: &mut String, clause: &str, value: rusqlite::types::Value| {
            args.push(value);
            sql.push_str(&clause.replace('?', &format!("?{}", args.len())));
        };
        match filter.status.as_deref() {
            None => {}
            Some("awaiting_approval") => sql.push_str(" AND c.drafts_waiting > 0 AND c.status != 'resolved'"),
            Some(status) => {
                arg(&mut sql, " AND c.status = ?", status.to_owned().into());
                if status != "resolved" {
                    sql.push_str(" AND c.drafts_waiting = 0");
                }
            }
        }
        if let Some(channel) = &filter.channel {
            arg(&mut sql, " AND c.channel = ?", channel.clone().into());
        }
        if let Some(assignee) = &filter.assignee {
            arg(&mut sql, " AND c.assignee = ?", assignee.clone().into());
        }
        if let Some(contact) = &filter.contact {
            arg(&mut sql, " AND c.contact_id = ?", contact.clone().into());
        }
        if let Some((at, id)) = after {
            args.push(at.into());
            let n = args.len();
            args.push(id.into());
            sql.push_str(&format!(" AND (c.last_at < ?{n} OR (c.last_at = ?{n} AND c.conversation_id < ?{}))", n + 1));
        }
        sql.push_str(&format!(" ORDER BY c.last_at DESC, c.conversation_id DESC LIMIT {}", first + 1));
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut items = stmt.query_map(rusqlite::params_from_iter(args), inbox_row)?.collect::<Result<Vec<_>, _>>()?;
        let has_next_page = items.len() > first;
        items.truncate(first);
        let end_cursor = items.last().map(|i| inbox_cursor(i.last_at, &i.conversation_id));
        Ok(Page { items, end_cursor, has_next_page })
    }

    pub fn conversation(&self, partner: &str, conversation: &str) -> Result<Option<ConversationView>, ProjectionError> {
        let conn = self.reader();
        let sql = format!(
            "SELECT {INBOX_COLUMNS}, c.thread FROM conversations c LEFT JOIN contacts k ON k.contact_id = c.contact_id
             WHERE c.partner_id = ?1 AND c.conversation_id = ?2"
        );
        let found = conn
            .query_row(&sql, params![partner, conversation], |r| Ok((inbox_row(r)?, r.get::<_, String>(15)?)))
            .optional()?;
        let Some((summary, thread)) = found else { return Ok(None) };
        let mut stmt = conn.prepare_cached(
            "SELECT i.position, i.kind, i.ref, i.text, i.at, i.actor, i.state, i.platform_message_id, i.error_code,
                    i.error_title, i.draft_ref,
                    (SELECT r.emoji FROM reactions r WHERE r.conversation_id = i.conversation_id
                       AND r.message_ref IN (i.ref, COALESCE(i.platform_message_id, i.ref))),
                    s.attempts, s.in_doubt, s.evidence
             FROM items i LEFT JOIN sends s ON i.kind = 'reply' AND s.send_id = i.ref
             WHERE i.conversation_id = ?1 AND i.partner_id = ?2 ORDER BY i.position",
        )?;
        let items = stmt
            .query_map(params![conversation, partner], |r| {
                Ok(ConversationItem {
                    position: r.get::<_, i64>(0)? as u64,
                    kind: r.get(1)?,
                    reference: r.get(2)?,
                    text: r.get(3)?,
                    at: r.get(4)?,
                    actor: r.get(5)?,
                    state: r.get(6)?,
                    platform_message_id: r.get(7)?,
                    error_code: r.get(8)?,
                    error_title: r.get(9)?,
                    draft_id: r.get(10)?,
                    reaction: r.get(11)?,
                    attempts: r.get(12)?,
                    in_doubt: r.get(13)?,
                    evidence: r.get(14)?,
                    attachments: Vec::new(),
                    author: None,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut items = items;
        attach_files(&conn, partner, conversation, &mut items)?;
        attach_authors(&conn, partner, conversation, &mut items)?;
        let chosen: Option<String> = conn
            .query_row(
                "SELECT policy FROM in_doubt_policies WHERE partner_id = ?1 AND channel = ?2",
                params![partner, summary.channel],
                |r| r.get(0),
            )
            .optional()?;
        let in_doubt_policy = chosen.unwrap_or_else(|| match summary.channel.parse() {
            Ok(channel) => InDoubtPolicy::default_for(channel).as_str().to_owned(),
            Err(_) => InDoubtPolicy::HoldForPerson.as_str().to_owned(),
        });
        Ok(Some(ConversationView { summary, thread, items, in_doubt_policy }))
    }

    /// A stored file of the Partner's conversation; None when it is not (or no longer) kept.
    pub fn stored_attachment(
        &self,
        partner: &str,
        conversation: &str,
        message: &str,
        attachment: u32,
    ) -> Result<Option<StoredAttachment>, ProjectionError> {
        let conn = self.reader();
        let found = conn
            .prepare_cached(
                "SELECT contact_id, object, kind, mime FROM attachments
                 WHERE conversation_id = ?1 AND message_ref = ?2 AND attachment = ?3 AND partner_id = ?4
                   AND state = 'stored' AND object IS NOT NULL AND mime IS NOT NULL",
            )?
            .query_row(params![conversation, message, attachment, partner], |r| {
                Ok(StoredAttachment { contact_id: r.get(0)?, object: r.get(1)?, kind: r.get(2)?, mime: r.get(3)? })
            })
            .optional()?;
        Ok(found)
    }

    /// The Partner's replies held in doubt for a person, oldest first.
    pub fn held_sends(&self, partner: &str) -> Result<Vec<HeldSend>, ProjectionError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT s.conversation_id, s.send_id, c.channel, s.attempts, i.text, s.updated_at
             FROM sends s JOIN conversations c ON c.conversation_id = s.conversation_id
             LEFT JOIN items i ON i.conversation_id = s.conversation_id AND i.kind = 'reply' AND i.ref = s.send_id
             WHERE s.partner_id = ?1 AND s.in_doubt = 'held' ORDER BY s.updated_at, s.send_id",
        )?;
        let held = stmt
            .query_map([partner], |r| {
                Ok(HeldSend {
                    conversation_id: r.get(0)?,
                    send_id: r.get(1)?,
                    channel: r.get(2)?,
                    attempts: r.get(3)?,
                    text: r.get(4)?,
                    held_since: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(held)
    }

    pub fn contact(&self, partner: &str, contact: &str) -> Result<Option<ContactView>, ProjectionError> {
        let conn = self.reader();
        let head = conn
            .query_row(
                "SELECT display_name, channels, opted_out, erased, first_seen, last_interaction FROM contacts
                 WHERE partner_id = ?1 AND contact_id = ?2",
                params![partner, contact],
                |r| {
                    Ok((
                        r.get::<_, Option<String>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, Option<i64>>(5)?,
                    ))
                },
            )
            .optional()?;
        let Some((display_name, channels, opted_out, erased, first_seen, last_interaction)) = head else {
            return Ok(None);
        };
        let timeline = conn
            .prepare_cached(
                "SELECT position, at, kind, summary, ref FROM timeline WHERE contact_id = ?1 AND partner_id = ?2 ORDER BY position",
            )?
            .query_map(params![contact, partner], |r| {
                Ok(TimelineEntry {
                    position: r.get::<_, i64>(0)? as u64,
                    at: r.get(1)?,
                    kind: r.get(2)?,
                    summary: r.get(3)?,
                    reference: r.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let conversations = conn
            .prepare_cached("SELECT conversation_id FROM conversations WHERE contact_id = ?1 AND partner_id = ?2 ORDER BY last_at DESC")?
            .query_map(params![contact, partner], |r| r.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        let opportunities = opportunities(&conn, "contact_id = ?1 AND partner_id = ?2", params![contact, partner])?;
        drop(conn);
        let segment = self.segments(partner, None)?.into_iter().find(|s| s.contact_id == contact);
        Ok(Some(ContactView {
            contact_id: contact.to_owned(),
            display_name,
            channels: channels.split(',').filter(|c| !c.is_empty()).map(str::to_owned).collect(),
            opted_out,
            erased,
            first_seen,
            last_interaction,
            timeline,
            conversations,
            opportunities,
            segment,
        }))
    }

    /// One of the Partner's opportunities.
    pub fn opportunity(&self, partner: &str, opportunity: &str) -> Result<Option<OpportunityView>, ProjectionError> {
        let found =
            opportunities(&self.reader(), "opportunity_id = ?1 AND partner_id = ?2", params![opportunity, partner])?;
        Ok(found.into_iter().next())
    }

    pub fn opportunities(&self, partner: &str) -> Result<Vec<OpportunityView>, ProjectionError> {
        opportunities(&self.reader(), "partner_id = ?1", params![partner])
    }

    pub fn pipeline(&self, partner: &str) -> Result<PipelineView, ProjectionError> {
        let conn = self.reader();
        let stages: Vec<(String, u8)> = conn
            .prepare_cached("SELECT name, probability_pct FROM pipeline_stages WHERE partner_id = ?1 ORDER BY ord")?
            .query_map([partner], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut summaries = Vec::new();
        let mut forecast: Vec<MoneyTotal> = Vec::new();
        for (name, probability_pct) in stages {
            let totals: Vec<(String, i64, i64)> = conn
                .prepare_cached(
                    "SELECT currency, SUM(value_minor), COUNT(*) FROM opportunities
                     WHERE partner_id = ?1 AND stage = ?2 AND outcome = 'open' GROUP BY currency ORDER BY currency",
                )?
                .query_map(params![partner, name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            let open_count = totals.iter().map(|t| t.2).sum();
            let totals: Vec<MoneyTotal> = totals
                .into_iter()
                .map(|(currency, value_minor, _)| MoneyTotal {
                    currency,
                    value_minor,
                    weighted_minor: value_minor.saturating_mul(i64::from(probability_pct)) / 100,
                })
                .collect();
            for t in &totals {
                match forecast.iter_mut().find(|f| f.currency == t.currency) {
                    Some(f) => {
                        f.value_minor += t.value_minor;
                        f.weighted_minor += t.weighted_minor;
                    }
                    None => forecast.push(t.clone()),
                }
            }
            let avg_duration_ms: Option<f64> = conn.query_row(
                "SELECT AVG(left_at - entered_at) FROM stage_history WHERE partner_id = ?1 AND stage = ?2 AND left_at IS NOT NULL",
                params![partner, name],
                |r| r.get(0),
            )?;
            summaries.push(StageSummary {
                name,
                probability_pct,
                open_count,
                totals,
                avg_duration_ms: avg_duration_ms.map(|d| d as i64),
            });
        }
        let won: Vec<(String, i64, i64)> = conn
            .prepare_cached(
                "SELECT currency, SUM(value_minor), COUNT(*) FROM opportunities WHERE partner_id = ?1 AND outcome = 'won'
                 GROUP BY currency ORDER BY currency",
            )?
            .query_map([partner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<_, _>>()?;
        let lost_count = conn.query_row(
            "SELECT COUNT(*) FROM opportunities WHERE partner_id = ?1 AND outcome = 'lost'",
            [partner],
            |r| r.get(0),
        )?;
        Ok(PipelineView {
            stages: summaries,
            won_count: won.iter().map(|w| w.2).sum(),
            won: won
                .into_iter()
                .map(|(currency, value_minor, _)| MoneyTotal { currency, value_minor, weighted_minor: value_minor })
                .collect(),
            lost_count,
            forecast,
        })
    }

    /// Contacts with their CLV and RFM segment, most valuable first; optionally one segment only.
    pub fn segments(&self, partner: &str, segment: Option<&str>) -> Result<Vec<ContactSegment>, ProjectionError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT s.contact_id, k.display_name, s.clv_minor, s.currency, s.won_deals, s.recency_days, s.r, s.f, s.m,
                    s.segment, s.computed_at
             FROM segments s LEFT JOIN contacts k ON k.contact_id = s.contact_id
             WHERE s.partner_id = ?1 AND (?2 IS NULL OR s.segment = ?2) ORDER BY s.clv_minor DESC, s.contact_id",
        )?;
        let rows = stmt
            .query_map(params![partner, segment], |r| {
                Ok(ContactSegment {
                    contact_id: r.get(0)?,
                    display_name: r.get(1)?,
                    clv_minor: r.get(2)?,
                    currency: r.get(3)?,
                    won_deals: r.get(4)?,
                    recency_days: r.get(5)?,
                    r: r.get(6)?,
                    f: r.get(7)?,
                    m: r.get(8)?,
                    segment: r.get(9)?,
                    computed_at: r.get(10)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn search(&self, partner: &str, query: &SearchQuery) -> Result<Vec<SearchHit>, ProjectionError> {
        self.search_index().search(partner, query)
    }
}

fn opportunities(
    conn: &rusqlite::Connection,
    filter: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<OpportunityView>, ProjectionError> {
    let sql = format!(
        "SELECT opportunity_id, contact_id, title, stage, value_minor, currency, outcome, opened_at, stage_since, closed_at
         FROM opportunities WHERE {filter} ORDER BY opened_at DESC, opportunity_id"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(args, |r| {
            Ok(OpportunityView {
                opportunity_id: r.get(0)?,
                contact_id: r.get(1)?,
                title: r.get(2)?,
                stage: r.get(3)?,
                value_minor: r.get(4)?,
                currency: r.get(5)?,
                outcome: r.get(6)?,
                opened_at: r.get(7)?,
                stage_since: r.get(8)?,
                closed_at: r.get(9)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

/// Puts who proposed each draft on its item.
fn attach_authors(
    conn: &Connection,
    partner: &str,
    conversation: &str,
    items: &mut [ConversationItem],
) -> Result<(), ProjectionError> {
    let mut stmt =
        conn.prepare_cached("SELECT draft_id, author FROM drafts WHERE conversation_id = ?1 AND partner_id = ?2")?;
    let mut by_draft: HashMap<String, DraftAuthor> = HashMap::new();
    for row in
        stmt.query_map(params![conversation, partner], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?
    {
        let (draft, author) = row?;
        // Written by this crate from the event's own value: a row that does not read
        // back is left without an author rather than failing the whole conversation.
        if let Ok(author) = serde_json::from_str(&author) {
            by_draft.insert(draft, author);
        }
    }
    for item in items.iter_mut().filter(|i| i.kind == "draft") {
        item.author = by_draft.remove(&item.reference);
    }
    Ok(())
}

/// Puts each of the conversation's files on the item of its message.
fn attach_files(
    conn: &Connection,
    partner: &str,
    conversation: &str,
    items: &mut [ConversationItem],
) -> Result<(), ProjectionError> {
    let mut stmt = conn.prepare_cached(
        "SELECT message_ref, attachment, kind, mime, size, width, height, duration_ms, state, reason
         FROM attachments WHERE conversation_id = ?1 AND partner_id = ?2 ORDER BY message_ref, attachment",
    )?;
    let rows = stmt.query_map(params![conversation, partner], |r| {
        Ok((
            r.get::<_, String>(0)?,
            Attachment {
                index: r.get(1)?,
                kind: r.get(2)?,
                mime: r.get(3)?,
                size: r.get::<_, Option<i64>>(4)?.map(|n| n as u64),
                width: r.get(5)?,
                height: r.get(6)?,
                duration_ms: r.get::<_, Option<i64>>(7)?.map(|n| n as u64),
                state: r.get(8)?,
                reason: r.get(9)?,
            },
        ))
    })?;
    let mut by_message: HashMap<String, Vec<Attachment>> = HashMap::new();
    for row in rows {
        let (message, attachment) = row?;
        by_message.entry(message).or_default().push(attachment);
    }
    for item in items.iter_mut().filter(|i| i.kind == "inbound" || i.kind == "reply") {
        if let Some(files) = by_message.remove(&item.reference) {
            item.attachments = files;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_forged_ones_are_refused() {
        let id = "0190a000-0000-7000-8000-000000000001";
        assert_eq!(decode_cursor(&inbox_cursor(42, id)).ok(), Some((42, id.to_owned())));
        for bad in ["", "!!!", &URL_SAFE_NO_PAD.encode("42|x' OR 1=1"), &URL_SAFE_NO_PAD.encode("nope")] {
            assert!(matches!(decode_cursor(bad), Err(ProjectionError::BadCursor)), "{bad}");
        }
    }
}
