//! Events into read-model rows: one function per event family, all inside the
//! caller's transaction so rows and checkpoint commit together.

use crate::changes::ReadModelChange;
use laras_commands::store::StoredEnvelope;
use laras_domain::actor::Actor;
use laras_domain::event::{ConversationStatus, DeliveryStatus, DomainEvent, MessageContent, OptScope, OptSignal};
use laras_domain::sealed::Sealed;
use rusqlite::{params, OptionalExtension, Transaction};
use std::collections::BTreeSet;

/// Runs a statement through the connection's statement cache: the same few statements
/// run for every event, so parsing them each time would dominate a rebuild.
fn exec(tx: &Transaction<'_>, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

/// Opens a sealed field; None when its key is gone (the contact was erased).
pub type Open<'a> = dyn FnMut(&Sealed) -> Option<String> + 'a;

/// What applying a batch means beyond its rows.
#[derive(Default)]
pub struct Effects {
    pub changes: Vec<ReadModelChange>,
    /// Partners with a deal won or lost: their segments are recomputed in the same transaction.
    pub deals_closed: BTreeSet<String>,
}

pub const WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
const SENTIMENT_KEPT: usize = 5;

/// The id part of a `kind-uuid` stream id.
pub fn stream_subject(stored: &StoredEnvelope) -> &str {
    stored.envelope.header.stream_id.as_str().split_once('-').map_or("", |(_, id)| id)
}

/// A message's text as shown in an inbox: its words, or what kind of thing it is.
pub fn content_text(content: &MessageContent, open: &mut Open<'_>) -> Option<String> {
    let label = match content {
        MessageContent::Text { body } => return open(body),
        MessageContent::Image { caption, .. } => ("[image]", caption.as_ref()),
        MessageContent::VoiceNote { .. } => ("[voice note]", None),
        MessageContent::Attachment { attachment, caption, .. } => {
            let label = match serde_json::to_value(attachment).ok().and_then(|v| v.as_str().map(str::to_owned)) {
                Some(kind) => format!("[{kind}]"),
                None => "[attachment]".to_owned(),
            };
            return Some(match caption.as_ref().and_then(&mut *open) {
                Some(c) => format!("{label} {c}"),
                None => label,
            });
        }
        MessageContent::Location { .. } => ("[location]", None),
        MessageContent::SharedContacts { .. } => ("[contact card]", None),
        MessageContent::InteractiveReply { title, .. } => return open(title),
        MessageContent::ButtonReply { text, payload } => {
            // A postback without a title says what its payload says.
            return open(text).filter(|t| !t.is_empty()).or_else(|| Some(payload.clone()));
        }
        MessageContent::FlowReply { response, .. } => {
            return Some(match open(response) {
                Some(json) => format!("[form] {}", laras_domain::event::flow_answers(&json).join(", ")),
                None => "[form]".to_owned(),
            })
        }
        MessageContent::Order { catalog_id, note, items } => {
            let lines: Vec<String> = items
                .iter()
                .map(|i| format!("{} × {} at {} {}", i.quantity, i.product_retailer_id, i.item_price, i.currency))
                .collect();
            let mut summary = format!("[order] {} from catalog {catalog_id}", lines.join(", "));
            if let Some(note) = note.as_ref().and_then(&mut *open) {
                summary.push_str(&format!(": {note}"));
            }
            return Some(summary);
        }
        MessageContent::Shared { share, title, url } => {
            let parts: Vec<String> = [title.as_ref().and_then(&mut *open), url.as_ref().and_then(&mut *open)]
                .into_iter()
                .flatten()
                .collect();
            return Some(format!("[{share}] {}", parts.join(" ")).trim_end().to_owned());
        }
        MessageContent::Reaction { emoji, .. } => {
            return Some(format!("[reaction] {}", emoji.as_ref().and_then(&mut *open).unwrap_or_default()))
        }
        MessageContent::Unsupported { original_kind } => return Some(format!("[{original_kind}]")),
    };
    Some(match label.1.and_then(open) {
        Some(caption) => format!("{} {caption}", label.0),
        None => label.0.to_owned(),
    })
}

/// A message's text with what it was about: the story it answers, the ad it came from.
fn inbound_text(
    content: &MessageContent,
    context: &laras_domain::event::InboundContext,
    open: &mut Open<'_>,
) -> Option<String> {
    let text = content_text(content, open);
    let prefix = match &context.story {
        Some(s) if s.mention => Some("[story mention]"),
        Some(_) => Some("[story reply]"),
        None => None,
    };
    match (prefix, text) {
        (Some(p), Some(t)) if !t.is_empty() => Some(format!("{p} {t}")),
        (Some(p), _) => Some(p.to_owned()),
        (None, t) => t,
    }
}

/// The ad or link a customer came from, for the timeline (the ad's texts are the Partner's).
fn referral_summary(r: &laras_domain::event::Referral) -> String {
    let mut parts = vec![format!("from {}", if r.source_type.is_empty() { "a referral" } else { &r.source_type })];
    parts.extend(r.source_id.iter().map(|id| format!("id {id}")));
    parts.extend(r.headline.iter().map(|h| format!("\"{h}\"")));
    parts.extend(r.body.iter().cloned());
    parts.extend(r.source_url.iter().cloned());
    parts.join(" · ")
}

/// A Page-sent message: its text, then what it shared (`[ig_reel] title url`).
pub fn echo_text(
    body: Option<&Sealed>,
    attachments: Option<&[laras_domain::event::EchoAttachment]>,
    open: &mut Open<'_>,
) -> Option<String> {
    let mut parts: Vec<String> = body.and_then(&mut *open).into_iter().collect();
    for a in attachments.unwrap_or_default() {
        let mut shown = format!("[{}]", a.kind);
        if let Some(title) = &a.title {
            shown.push_str(&format!(" {title}"));
        }
        if let Some(url) = a.url.as_ref().and_then(&mut *open) {
            shown.push_str(&format!(" {url}"));
        }
        parts.push(shown);
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn actor_label(actor: &Actor) -> String {
    match actor {
        Actor::Customer { .. } => "customer".into(),
        Actor::AiWorker { generator } => format!("ai_worker:{generator}"),
        Actor::PartnerUser { user } => format!("partner_user:{user}"),
        Actor::System { component } => format!("system:{component}"),
    }
}

fn signal_text(signal: &OptSignal) -> String {
    match signal {
        OptSignal::Keyword { keyword } => format!("keyword {keyword}"),
        OptSignal::Manual => "manual".into(),
        OptSignal::PlatformError { code } => format!("platform error {code}"),
    }
}

struct Ctx<'t, 'o, 'p> {
    tx: &'t Transaction<'t>,
    stored: &'p StoredEnvelope,
    partner: String,
    position: i64,
    at: i64,
    open: &'o mut Open<'o>,
}

impl Ctx<'_, '_, '_> {
    fn timeline(
        &self,
        contact: &str,
        at: i64,
        kind: &str,
        summary: Option<&str>,
        reference: Option<&str>,
    ) -> rusqlite::Result<()> {
        exec(self.tx,
            "INSERT OR REPLACE INTO timeline (position, partner_id, contact_id, at, kind, summary, ref) VALUES (?1,?2,?3,?4,?5,?6,?7)",
            params![self.position, self.partner, contact, at, kind, summary, reference],
        )?;
        Ok(())
    }

    fn item(
        &self,
        (conversation, contact): (&str, &str),
        kind: &str,
        reference: &str,
        text: Option<&str>,
        at: i64,
        state: Option<&str>,
    ) -> rusqlite::Result<()> {
        exec(self.tx,
            "INSERT OR REPLACE INTO items (position, partner_id, conversation_id, contact_id, kind, ref, text, at, actor, state)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
            params![self.position, self.partner, conversation, contact, kind, reference, text, at, actor_label(&self.stored.envelope.header.actor), state],
        )?;
        Ok(())
    }

    fn conversation_contact(&self, conversation: &str) -> rusqlite::Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT contact_id FROM conversations WHERE conversation_id = ?1")?
            .query_row([conversation], |r| r.get(0))
            .optional()
    }

    fn opportunity_contact(&self, opportunity: &str) -> rusqlite::Result<Option<String>> {
        self.tx
            .prepare_cached("SELECT contact_id FROM opportunities WHERE opportunity_id = ?1")?
            .query_row([opportunity], |r| r.get(0))
            .optional()
    }

    fn touch_contact(&self, contact: &str, at: i64) -> rusqlite::Result<()> {
        exec(
            self.tx,
            "UPDATE contacts SET last_interaction = MAX(COALESCE(last_interaction, 0), ?2) WHERE contact_id = ?1",
            params![contact, at],
        )?;
        Ok(())
    }

    /// A message in or out: the conversation's last message moves, unread counts follow.
    fn last_message(&self, conversation: &str, text: Option<&str>, at: i64, inbound: bool) -> rusqlite::Result<()> {
        if inbound {
            exec(self.tx,
                // The platform's time orders the inbox; a conversation's first message replaces
                // the time it was opened (when Laras received it, possibly days later).
                "UPDATE conversations SET last_text = ?2,
                 last_at = CASE WHEN last_direction IS NULL THEN ?3 ELSE MAX(last_at, ?3) END, last_direction = 'in',
                 unread = unread + 1, last_inbound_at = MAX(COALESCE(last_inbound_at, 0), ?3) WHERE conversation_id = ?1",
                params![conversation, text, at],
            )?;
        } else {
            exec(self.tx,
                "UPDATE conversations SET last_text = ?2, last_at = MAX(last_at, ?3), last_direction = 'out', unread = 0
                 WHERE conversation_id = ?1",
                params![conversation, text, at],
            )?;
        }
        Ok(())
    }
}

/// Applies one event to the read-model tables.
pub fn apply(
    tx: &Transaction<'_>,
    stored: &StoredEnvelope,
    event: &DomainEvent,
    open: &mut Open<'_>,
    effects: &mut Effects,
) -> rusqlite::Result<()> {
    let h = &stored.envelope.header;
    let mut ctx = Ctx {
        tx,
        stored,
        partner: h.partner_id.to_string(),
        position: stored.position as i64,
        at: h.recorded_at.0,
        open,
    };
    let subject = stream_subject(stored).to_owned();
    match h.stream_id.kind() {
        "partner" => partner_event(&ctx, event),
        "contact" => contact_event(&mut ctx, &subject, event),
        "conversation" => {
            conversation_event(&mut ctx, &subject, event)?;
            effects.changes.push(ReadModelChange::inbox(&ctx.partner, &subject));
            if let DomainEvent::DraftProposed { draft_id, .. } = event {
                effects.changes.push(ReadModelChange::draft_awaiting(&ctx.partner, &subject, &draft_id.to_string()));
            }
            Ok(())
        }
        "opportunity" => {
            if matches!(event, DomainEvent::OpportunityWon { .. } | DomainEvent::OpportunityLost { .. }) {
                effects.deals_closed.insert(ctx.partner.clone());
            }
            opportunity_event(&ctx, &subject, event)
        }
        "article" => crate::articles::apply(tx, &ctx.partner, &subject, ctx.at, event),
        _ => Ok(()),
    }
}

fn partner_event(ctx: &Ctx<'_, '_, '_>, event: &DomainEvent) -> rusqlite::Result<()> {
    if let DomainEvent::InDoubtPolicySet { channel, policy } = event {
        exec(
            ctx.tx,
            "INSERT OR REPLACE INTO in_doubt_policies (partner_id, channel, policy) VALUES (?1,?2,?3)",
            params![ctx.partner, channel.as_str(), policy.as_str()],
        )?;
    }
    if let DomainEvent::PartnerOnboarded { pipeline, .. } = event {
        for (ord, stage) in pipeline.iter().enumerate() {
            exec(
                ctx.tx,
                "INSERT OR REPLACE INTO pipeline_stages (partner_id, ord, name, probability_pct) VALUES (?1,?2,?3,?4)",
                params![ctx.partner, ord as i64, stage.name, stage.probability_pct],
            )?;
        }
    }
    Ok(())
}

fn contact_event(ctx: &mut Ctx<'_, '_, '_>, contact: &str, event: &DomainEvent) -> rusqlite::Result<()> {
    let at = ctx.at;
    match event {
        DomainEvent::ContactIdentified { channel, name, .. } => {
            let name = name.as_ref().and_then(&mut *ctx.open);
            exec(ctx.tx,
                "INSERT INTO contacts (contact_id, partner_id, display_name, channels, first_seen) VALUES (?1,?2,?3,?4,?5)
                 ON CONFLICT (contact_id) DO UPDATE SET display_name = COALESCE(excluded.display_name, display_name),
                 channels = CASE WHEN instr(channels, excluded.channels) > 0 THEN channels
                                 WHEN channels = '' THEN excluded.channels ELSE channels || ',' || excluded.channels END",
                params![contact, ctx.partner, name, channel.as_str(), at],
            )?;
            ctx.timeline(contact, at, "identified", Some(channel.as_str()), None)
        }
        DomainEvent::IdentitiesMerged { survivor, absorbed } => {
            let summary = format!("{absorbed} merged into {survivor}");
            ctx.timeline(contact, at, "merged", Some(&summary), None)
        }
        DomainEvent::OptedOut { channel, scope, signal, at } => {
            let scope = match scope {
                OptScope::All => "all",
                OptScope::Marketing => "marketing",
            };
            let what = format!("{scope} on {}", channel.map_or("every channel", |c| c.as_str()));
            exec(ctx.tx, "UPDATE contacts SET opted_out = ?2 WHERE contact_id = ?1", params![contact, what])?;
            ctx.timeline(contact, at.0, "opted_out", Some(&format!("{what} ({})", signal_text(signal))), None)
        }
        DomainEvent::OptedIn { channel, signal, at } => {
            exec(ctx.tx, "UPDATE contacts SET opted_out = NULL WHERE contact_id = ?1", [contact])?;
            let what = format!("{} ({})", channel.map_or("every channel", |c| c.as_str()), signal_text(signal));
            ctx.timeline(contact, at.0, "opted_in", Some(&what), None)
        }
        DomainEvent::NoteAdded { note_id, body } => {
            let text = (ctx.open)(body);
            ctx.timeline(contact, at, "note", text.as_deref(), Some(&note_id.to_string()))
        }
        DomainEvent::ContactErased { .. } => {
            // Plaintext leaves every read model; the facts (that something happened, when) stay.
            exec(ctx.tx, "UPDATE contacts SET display_name = NULL, erased = 1 WHERE contact_id = ?1", [contact])?;
            exec(ctx.tx, "UPDATE items SET text = NULL WHERE contact_id = ?1", [contact])?;
            exec(ctx.tx, "UPDATE attachments SET state = 'erased', object = NULL WHERE contact_id = ?1", [contact])?;
            exec(ctx.tx, "UPDATE timeline SET summary = NULL WHERE contact_id = ?1", [contact])?;
            exec(ctx.tx, "UPDATE conversations SET last_text = NULL WHERE contact_id = ?1", [contact])?;
            exec(
                ctx.tx,
                "UPDATE reactions SET emoji = NULL WHERE conversation_id IN (SELECT conversation_id FROM conversations WHERE contact_id = ?1)",
                [contact],
            )?;
            ctx.timeline(contact, at, "erased", None, None)
        }
        _ => Ok(()),
    }
}

fn conversation_event(ctx: &mut Ctx<'_, '_, '_>, conversation: &str, event: &DomainEvent) -> rusqlite::Result<()> {
    if let DomainEvent::ConversationOpened { contact_id, channel, thread, .. } = event {
        let thread = serde_json::to_string(thread).unwrap_or_default();
        exec(
            ctx.tx,
            "INSERT OR IGNORE INTO conversations (conversation_id, partner_id, contact_id, channel, thread, last_at)
             VALUES (?1,?2,?3,?4,?5,?6)",
            params![conversation, ctx.partner, contact_id.to_string(), channel.as_str(), thread, ctx.at],
        )?;
        return Ok(());
    }
    let Some(contact) = ctx.conversation_contact(conversation)? else { return Ok(()) };
    let at = ctx.at;
    match event {
        DomainEvent::InboundMessageReceived { channel_message_id, content, sent_at, context, .. } => {
            let text = inbound_text(content, context, ctx.open);
            let state = context.is_standby().then_some("standby");
            ctx.item((conversation, &contact), "inbound", channel_message_id, text.as_deref(), sent_at.0, state)?;
            if let Some(media) = content.media() {
                exec(
                    ctx.tx,
                    "INSERT OR IGNORE INTO attachments (conversation_id, message_ref, attachment, partner_id, contact_id, kind, mime, state)
                     VALUES (?1,?2,0,?3,?4,?5,?6,'pending')",
                    params![conversation, channel_message_id, ctx.partner, contact, media.kind.as_str(), media.mime],
                )?;
            }
            ctx.last_message(conversation, text.as_deref(), sent_at.0, true)?;
            ctx.touch_contact(&contact, sent_at.0)?;
            ctx.timeline(&contact, sent_at.0, "message_in", text.as_deref(), Some(conversation))?;
            if let Some(referral) = &context.referral {
                ctx.timeline(&contact, sent_at.0, "referral", Some(&referral_summary(referral)), Some(conversation))?;
            }
            Ok(())
        }
        DomainEvent::MessageReacted { to_message, emoji, sent_at, .. } => {
            let emoji = emoji.as_ref().and_then(&mut *ctx.open);
            match &emoji {
                Some(e) => exec(
                    ctx.tx,
                    "INSERT INTO reactions (conversation_id, message_ref, emoji, at) VALUES (?1,?2,?3,?4)
                     ON CONFLICT (conversation_id, message_ref) DO UPDATE SET emoji = excluded.emoji, at = excluded.at
                     WHERE excluded.at >= reactions.at",
                    params![conversation, to_message, e, sent_at.0],
                )?,
                None => exec(
                    ctx.tx,
                    "DELETE FROM reactions WHERE conversation_id = ?1 AND message_ref = ?2 AND at <= ?3",
                    params![conversation, to_message, sent_at.0],
                )?,
            };
            let summary = emoji.unwrap_or_else(|| "removed".to_owned());
            ctx.timeline(&contact, sent_at.0, "reaction", Some(&summary), Some(conversation))
        }
        DomainEvent::CustomerIdentityChanged { identity, value, sent_at, .. } => {
            let summary = match (ctx.open)(value) {
                Some(v) => format!("{} changed to {v}", identity.as_str()),
                None => format!("{} changed", identity.as_str()),
            };
            ctx.timeline(&contact, sent_at.0, "identity_changed", Some(&summary), Some(conversation))
        }
        DomainEvent::ThreadControlChanged { held_by_laras, app_id, at } => {
            let summary = match (held_by_laras, app_id) {
                (true, _) => "thread passed to Laras".to_owned(),
                (false, Some(app)) => format!("thread held by app {app}"),
                (false, None) => "thread held by another app".to_owned(),
            };
            ctx.timeline(&contact, at.0, "thread_control", Some(&summary), Some(conversation))
        }
        DomainEvent::PublicCommentReceived { comment_id, text, sent_at, .. } => {
            let text = (ctx.open)(text);
            ctx.item((conversation, &contact), "comment", comment_id, text.as_deref(), sent_at.0, None)?;
            ctx.last_message(conversation, text.as_deref(), sent_at.0, true)?;
            ctx.touch_contact(&contact, sent_at.0)?;
            ctx.timeline(&contact, sent_at.0, "comment", text.as_deref(), Some(conversation))
        }
        DomainEvent::EchoRecorded { channel_message_id, body, sent_at, attachments } => {
            let text = echo_text(body.as_ref(), attachments.as_deref(), ctx.open);
            ctx.item((conversation, &contact), "echo", channel_message_id, text.as_deref(), sent_at.0, Some("sent"))?;
            ctx.last_message(conversation, text.as_deref(), sent_at.0, false)?;
            ctx.timeline(&contact, sent_at.0, "message_out", text.as_deref(), Some(conversation))
        }
        DomainEvent::MediaStored {
            channel_message_id,
            attachment,
            object,
            size,
            mime,
            width,
            height,
            duration_ms,
            ..
        } => {
            exec(
                ctx.tx,
                "UPDATE attachments SET state = 'stored', reason = NULL, object = ?4, size = ?5, mime = ?6, width = ?7,
                        height = ?8, duration_ms = ?9
                 WHERE conversation_id = ?1 AND message_ref = ?2 AND attachment = ?3",
                params![
                    conversation,
                    channel_message_id,
                    attachment,
                    object,
                    *size as i64,
                    mime,
                    width,
                    height,
                    duration_ms.map(|d| d as i64)
                ],
            )?;
            Ok(())
        }
        DomainEvent::MediaUnavailable { channel_message_id, attachment, reason } => {
            exec(
                ctx.tx,
                "UPDATE attachments SET state = 'unavailable', reason = ?4, object = NULL
                 WHERE conversation_id = ?1 AND message_ref = ?2 AND attachment = ?3",
                params![conversation, channel_message_id, attachment, reason.as_str()],
            )?;
            Ok(())
        }
        DomainEvent::SentimentScored { score, .. } => {
            let current: String = ctx.tx.query_row(
                "SELECT sentiment FROM conversations WHERE conversation_id = ?1",
                [conversation],
                |r| r.get(0),
            )?;
            let mut scores: Vec<f64> = serde_json::from_str(&current).unwrap_or_default();
            scores.push(*score);
            let keep = scores.len().saturating_sub(SENTIMENT_KEPT);
            let scores = serde_json::to_string(&scores[keep..]).unwrap_or_else(|_| "[]".into());
            exec(
                ctx.tx,
                "UPDATE conversations SET sentiment = ?2 WHERE conversation_id = ?1",
                params![conversation, scores],
            )?;
            ctx.timeline(&contact, at, "sentiment", Some(&format!("{score:.2}")), Some(conversation))
        }
        DomainEvent::DraftProposed { draft_id, body, author, .. } => {
            let text = (ctx.open)(body);
            ctx.item((conversation, &contact), "draft", &draft_id.to_string(), text.as_deref(), at, Some("proposed"))?;
            // Who proposed it holds no customer data (ids, a model name, a score), so it is
            // kept in the clear and survives erasure like the draft's row does.
            let author = serde_json::to_string(author).unwrap_or_default();
            exec(
                ctx.tx,
                "INSERT OR REPLACE INTO drafts (conversation_id, draft_id, partner_id, author) VALUES (?1,?2,?3,?4)",
                params![conversation, draft_id.to_string(), ctx.partner, author],
            )?;
            exec(
                ctx.tx,
                "UPDATE conversations SET drafts_waiting = drafts_waiting + 1 WHERE conversation_id = ?1",
                [conversation],
            )?;
            Ok(())
        }
        DomainEvent::DraftDeclined { reason, generator, .. } => {
            let why = format!("{generator}: {}", serde_json::to_string(reason).unwrap_or_default());
            ctx.item((conversation, &contact), "draft_declined", "", Some(&why), at, Some("declined"))
        }
        DomainEvent::DraftEdited { draft_id, body } => {
            let text = (ctx.open)(body);
            exec(
                ctx.tx,
                "UPDATE items SET text = ?3 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'draft'",
                params![conversation, draft_id.to_string(), text],
            )?;
            Ok(())
        }
        DomainEvent::DraftApproved { draft_id } => settle_draft(ctx, conversation, &draft_id.to_string(), "approved"),
        DomainEvent::DraftRejected { draft_id, .. } => {
            settle_draft(ctx, conversation, &draft_id.to_string(), "rejected")
        }
        DomainEvent::ReplySendRequested { send_id, draft_id, body, media, .. } => {
            if let Some(draft) = draft_id {
                // Autopilot sends a proposed draft without an approval event.
                settle_draft(ctx, conversation, &draft.to_string(), "sent")?;
            }
            let mut text = (ctx.open)(body);
            if let Some(file) = media {
                exec(
                    ctx.tx,
                    "INSERT OR IGNORE INTO attachments (conversation_id, message_ref, attachment, partner_id, contact_id, kind,
                        mime, size, state, object)
                     VALUES (?1,?2,0,?3,?4,?5,?6,?7,'stored',?8)",
                    params![conversation, send_id.to_string(), ctx.partner, contact, file.kind.as_str(), file.mime, file.size as i64, file.object],
                )?;
                // A file sent alone reads as what it is.
                if text.as_deref() == Some("") {
                    text = Some(format!("[{}]", file.kind.as_str()));
                }
            }
            ctx.item((conversation, &contact), "reply", &send_id.to_string(), text.as_deref(), at, Some("requested"))?;
            exec(
                ctx.tx,
                "INSERT OR IGNORE INTO sends (send_id, partner_id, conversation_id, updated_at) VALUES (?1,?2,?3,?4)",
                params![send_id.to_string(), ctx.partner, conversation, at],
            )?;
            if let Some(draft) = draft_id {
                exec(
                    ctx.tx,
                    "UPDATE items SET draft_ref = ?2 WHERE position = ?1",
                    params![ctx.position, draft.to_string()],
                )?;
            }
            ctx.last_message(conversation, text.as_deref(), at, false)?;
            ctx.timeline(&contact, at, "message_out", text.as_deref(), Some(conversation))
        }
        DomainEvent::ReplySent { send_id, platform_message_id, evidence, .. } => {
            exec(ctx.tx,
                "UPDATE items SET state = 'sent', platform_message_id = ?3 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'reply'",
                params![conversation, send_id.to_string(), platform_message_id],
            )?;
            // Evidence other than the Graph API's answer means the answer was lost: in doubt.
            exec(
                ctx.tx,
                "UPDATE sends SET evidence = ?2, updated_at = ?3,
                     in_doubt = CASE WHEN ?2 != 'graph_api_answer' AND (in_doubt IS NULL OR in_doubt = 'held')
                                     THEN 'resolved' ELSE in_doubt END
                 WHERE send_id = ?1",
                params![send_id.to_string(), evidence.as_str(), at],
            )?;
            Ok(())
        }
        DomainEvent::SendAttemptStarted { send_id, attempt, resends_in_doubt, .. } => {
            exec(
                ctx.tx,
                "UPDATE sends SET attempts = ?2, updated_at = ?4,
                     in_doubt = CASE WHEN ?3 = 0 THEN in_doubt WHEN in_doubt = 'resend_approved' THEN 'resent_by_person'
                                     ELSE 'resent' END
                 WHERE send_id = ?1",
                params![send_id.to_string(), attempt, resends_in_doubt.is_some(), at],
            )?;
            Ok(())
        }
        DomainEvent::SendAttemptFailed { send_id, code, title, .. } => {
            exec(ctx.tx,
                "UPDATE items SET error_code = ?3, error_title = ?4 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'reply'",
                params![conversation, send_id.to_string(), code, title],
            )?;
            Ok(())
        }
        DomainEvent::SendHeldInDoubt { send_id, .. } | DomainEvent::InDoubtResendApproved { send_id, .. } => {
            let (in_doubt, state) = match event {
                DomainEvent::SendHeldInDoubt { .. } => ("held", "held"),
                _ => ("resend_approved", "requested"),
            };
            exec(
                ctx.tx,
                "UPDATE items SET state = ?3 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'reply'",
                params![conversation, send_id.to_string(), state],
            )?;
            exec(
                ctx.tx,
                "UPDATE sends SET in_doubt = ?2, updated_at = ?3 WHERE send_id = ?1",
                params![send_id.to_string(), in_doubt, at],
            )?;
            Ok(())
        }
        DomainEvent::ReplySendFailed { send_id, code, title } => {
            exec(
                ctx.tx,
                "UPDATE items SET state = 'failed', error_code = ?3, error_title = ?4
                 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'reply'",
                params![conversation, send_id.to_string(), code, title],
            )?;
            Ok(())
        }
        DomainEvent::DeliveryStatusChanged { platform_message_id, status, .. } => {
            let (state, code, title) = match status {
                DeliveryStatus::Sent => ("sent", None, None),
                DeliveryStatus::Delivered => ("delivered", None, None),
                DeliveryStatus::Read => ("read", None, None),
                DeliveryStatus::Failed { code, title } => ("failed", Some(*code), Some(title.as_str())),
            };
            exec(ctx.tx,
                "UPDATE items SET state = ?3, error_code = COALESCE(?4, error_code), error_title = COALESCE(?5, error_title)
                 WHERE conversation_id = ?1 AND platform_message_id = ?2",
                params![conversation, platform_message_id, state, code, title],
            )?;
            Ok(())
        }
        DomainEvent::SendRefused { send_id, draft_id, reason } => {
            let why = reason.to_string();
            if let Some(send) = send_id {
                exec(ctx.tx,
                    "UPDATE items SET state = 'refused', error_title = ?3 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'reply'",
                    params![conversation, send.to_string(), why],
                )?;
            }
            let reference = draft_id.map(|d| d.to_string()).unwrap_or_default();
            ctx.item((conversation, &contact), "refused", &reference, Some(&why), at, Some("refused"))
        }
        DomainEvent::WindowClosedByPlatform { at, .. } => {
            exec(
                ctx.tx,
                "UPDATE conversations SET closed_by_platform_at = ?2 WHERE conversation_id = ?1",
                params![conversation, at.0],
            )?;
            Ok(())
        }
        DomainEvent::ConversationStatusChanged { status } => {
            let (name, until) = match status {
                ConversationStatus::Open => ("open", None),
                ConversationStatus::Pending => ("pending", None),
                ConversationStatus::Snoozed { until } => ("snoozed", Some(until.0)),
                ConversationStatus::Resolved => ("resolved", None),
            };
            exec(
                ctx.tx,
                "UPDATE conversations SET status = ?2, snoozed_until = ?3 WHERE conversation_id = ?1",
                params![conversation, name, until],
            )?;
            Ok(())
        }
        DomainEvent::ConversationAssigned { assignee } => {
            exec(
                ctx.tx,
                "UPDATE conversations SET assignee = ?2 WHERE conversation_id = ?1",
                params![conversation, assignee.map(|u| u.to_string())],
            )?;
            Ok(())
        }
        _ => Ok(()),
    }
}

fn settle_draft(ctx: &Ctx<'_, '_, '_>, conversation: &str, draft: &str, state: &str) -> rusqlite::Result<()> {
    let was: Option<Option<String>> = ctx
        .tx
        .query_row(
            "SELECT state FROM items WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'draft'",
            params![conversation, draft],
            |r| r.get(0),
        )
        .optional()?;
    if was.flatten().as_deref() == Some("proposed") {
        exec(
            ctx.tx,
            "UPDATE conversations SET drafts_waiting = MAX(drafts_waiting - 1, 0) WHERE conversation_id = ?1",
            [conversation],
        )?;
    }
    exec(
        ctx.tx,
        "UPDATE items SET state = ?3 WHERE conversation_id = ?1 AND ref = ?2 AND kind = 'draft'",
        params![conversation, draft, state],
    )?;
    Ok(())
}

fn opportunity_event(ctx: &Ctx<'_, '_, '_>, opportunity: &str, event: &DomainEvent) -> rusqlite::Result<()> {
    let at = ctx.at;
    if let DomainEvent::OpportunityOpened { contact_id, title, stage, value, .. } = event {
        let contact = contact_id.to_string();
        exec(ctx.tx,
            "INSERT OR IGNORE INTO opportunities (opportunity_id, partner_id, contact_id, title, stage, value_minor, currency, opened_at, stage_since)
             VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?8)",
            params![opportunity, ctx.partner, contact, title, stage, value.minor_units, value.currency, at],
        )?;
        exec(
            ctx.tx,
            "INSERT INTO stage_history (opportunity_id, partner_id, stage, entered_at) VALUES (?1,?2,?3,?4)",
            params![opportunity, ctx.partner, stage, at],
        )?;
        return ctx.timeline(
            &contact,
            at,
            "opportunity_opened",
            Some(&format!("{title} ({stage})")),
            Some(opportunity),
        );
    }
    let Some(contact) = ctx.opportunity_contact(opportunity)? else { return Ok(()) };
    let close_stint = || {
        exec(
            ctx.tx,
            "UPDATE stage_history SET left_at = ?2 WHERE opportunity_id = ?1 AND left_at IS NULL",
            params![opportunity, at],
        )
    };
    match event {
        DomainEvent::OpportunityStageChanged { from, to } => {
            close_stint()?;
            exec(
                ctx.tx,
                "UPDATE opportunities SET stage = ?2, stage_since = ?3 WHERE opportunity_id = ?1",
                params![opportunity, to, at],
            )?;
            exec(
                ctx.tx,
                "INSERT INTO stage_history (opportunity_id, partner_id, stage, entered_at) VALUES (?1,?2,?3,?4)",
                params![opportunity, ctx.partner, to, at],
            )?;
            ctx.timeline(&contact, at, "opportunity_stage", Some(&format!("{from} → {to}")), Some(opportunity))
        }
        DomainEvent::OpportunityValueChanged { value } => {
            exec(
                ctx.tx,
                "UPDATE opportunities SET value_minor = ?2, currency = ?3 WHERE opportunity_id = ?1",
                params![opportunity, value.minor_units, value.currency],
            )?;
            let summary = format!("{} {}", value.minor_units, value.currency);
            ctx.timeline(&contact, at, "opportunity_value", Some(&summary), Some(opportunity))
        }
        DomainEvent::OpportunityWon { value } => {
            close_stint()?;
            exec(ctx.tx,
                "UPDATE opportunities SET outcome = 'won', value_minor = ?2, currency = ?3, closed_at = ?4 WHERE opportunity_id = ?1",
                params![opportunity, value.minor_units, value.currency, at],
            )?;
            let summary = format!("{} {}", value.minor_units, value.currency);
            ctx.timeline(&contact, at, "opportunity_won", Some(&summary), Some(opportunity))
        }
        DomainEvent::OpportunityLost { reason } => {
            close_stint()?;
            exec(
                ctx.tx,
                "UPDATE opportunities SET outcome = 'lost', closed_at = ?2 WHERE opportunity_id = ?1",
                params![opportunity, at],
            )?;
            ctx.timeline(&contact, at, "opportunity_lost", Some(reason), Some(opportunity))
        }
        _ => Ok(()),
    }
}

/// When the customer-service window closes: 24 h after the customer's last message,
/// or earlier when the platform said so.
pub fn window_closes_at(last_inbound_at: Option<i64>, closed_by_platform_at: Option<i64>) -> Option<i64> {
    let last = last_inbound_at?;
    let by_clock = last + WINDOW_MS;
    Some(match closed_by_platform_at {
        Some(closed) if closed >= last && closed < by_clock => closed,
        _ => by_clock,
    })
}
