//! What Meta tells us: inbound messages, comments, echoes. Plaintext comes in, sealed events go out.
//!
//! Contact and conversation ids are derived (keyed by the Partner's blind-index key),
//! and event ids are derived from the channel's own message id, so a redelivery or
//! two concurrent copies of one webhook land on the same events: the store keeps one.

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use laras_domain::actor::Actor;
use laras_domain::aggregate::contact::{Contact, IdentifyContact, MergeIdentities, OptIn, OptOut};
use laras_domain::aggregate::conversation::*;
use laras_domain::aggregate::{Aggregate, Decide};
use laras_domain::blind::{blind_index, IdentityKind};
use laras_domain::channel::ChannelKind;
use laras_domain::error::DomainError;
use laras_domain::event::{
    AttachmentKind, DomainEvent, EchoAttachment, InboundContext, MessageContent, OptScope, OptSignal, OrderLine,
    Referral, StoryRef, ThreadRef,
};
use laras_domain::ids::{derived_uuid, ContactId, ConversationId, PartnerId};
use laras_domain::policy::keywords::{self, KeywordSignal};
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;

/// The customer behind an inbound signal, as the channel identifies them.
#[derive(Clone, Debug)]
pub struct SenderIdentity {
    pub kind: IdentityKind,
    pub value: String,
    pub name: Option<String>,
}

/// A message's content in plaintext, before sealing.
#[derive(Clone, Debug, PartialEq)]
pub enum PlainContent {
    Text(String),
    /// `media`: a WhatsApp media id, or an attachment URL; `sha256`: the file's, as
    /// WhatsApp's webhook gives it (base64).
    Image {
        media: String,
        mime: Option<String>,
        caption: Option<String>,
        sha256: Option<String>,
    },
    VoiceNote {
        media: String,
        mime: Option<String>,
        sha256: Option<String>,
    },
    Attachment {
        attachment: AttachmentKind,
        media: String,
        mime: Option<String>,
        caption: Option<String>,
        sha256: Option<String>,
    },
    Location {
        place_json: String,
    },
    SharedContacts {
        cards_json: String,
    },
    InteractiveReply {
        reply_id: String,
        title: String,
    },
    ButtonReply {
        payload: String,
        text: String,
    },
    /// A WhatsApp Flow's answer (`interactive.nfm_reply.response_json`).
    FlowReply {
        name: Option<String>,
        response_json: String,
    },
    Order {
        catalog_id: String,
        note: Option<String>,
        items: Vec<OrderLine>,
    },
    /// A shared reel, post or link card.
    Shared {
        share: String,
        title: Option<String>,
        url: Option<String>,
    },
    Unsupported {
        kind: String,
    },
}

impl PlainContent {
    fn text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(t),
            Self::ButtonReply { text, .. } => Some(text),
            _ => None,
        }
    }
}

/// What a message carried besides its content, in plaintext.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlainContext {
    pub group_id: Option<String>,
    pub referral: Option<PlainReferral>,
    pub story: Option<PlainStory>,
    /// Delivered on Messenger's standby channel: another app holds the thread.
    pub standby: bool,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlainReferral {
    pub source_type: String,
    pub source_id: Option<String>,
    pub source_url: Option<String>,
    pub headline: Option<String>,
    pub body: Option<String>,
    pub ctwa_clid: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlainStory {
    pub mention: bool,
    pub id: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct PlainEchoAttachment {
    pub kind: String,
    pub title: Option<String>,
    pub url: Option<String>,
}

#[derive(Clone, Debug)]
pub struct IncomingMessage {
    pub channel: ChannelKind,
    pub account_id: String,
    pub sender: SenderIdentity,
    pub channel_message_id: String,
    pub sent_at: Timestamp,
    pub content: PlainContent,
    pub reply_to: Option<String>,
    pub context: PlainContext,
    /// Other identifiers the platform gave for the same sender (WhatsApp business-scoped
    /// user ids and usernames): linked to the sender's contact.
    pub also: Vec<SenderIdentity>,
}

/// A customer reacted to a message, or took the reaction back (`emoji` None).
#[derive(Clone, Debug)]
pub struct IncomingReaction {
    pub channel: ChannelKind,
    pub account_id: String,
    pub sender: SenderIdentity,
    pub also: Vec<SenderIdentity>,
    /// The reaction's own id (WhatsApp), or one derived from its target, author and time.
    pub reaction_id: String,
    pub to_message: String,
    pub emoji: Option<String>,
    pub sent_at: Timestamp,
}

/// The platform's notice that the sender now has another identifier (WhatsApp
/// `system.user_changed_number` / `user_changed_user_id`).
#[derive(Clone, Debug)]
pub struct IncomingIdentityChange {
    pub channel: ChannelKind,
    pub account_id: String,
    pub sender: SenderIdentity,
    pub channel_message_id: String,
    pub new_identity: SenderIdentity,
    pub sent_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct IncomingComment {
    pub channel: ChannelKind,
    pub account_id: String,
    pub sender: SenderIdentity,
    /// The post: Instagram/Facebook media id, or the Threads root post id.
    pub post_id: String,
    pub comment_id: String,
    pub parent_id: Option<String>,
    pub text: String,
    pub sent_at: Timestamp,
}

#[derive(Clone, Debug)]
pub struct IncomingEcho {
    pub channel: ChannelKind,
    pub account_id: String,
    /// The customer the Page wrote to.
    pub recipient: SenderIdentity,
    pub channel_message_id: String,
    pub text: Option<String>,
    pub sent_at: Timestamp,
    pub attachments: Vec<PlainEchoAttachment>,
    /// The send's reference, when the echo carries one of Laras's (`metadata`).
    pub send_ref: Option<crate::outbox::SendRef>,
}

/// A sender as Laras files it: the contact, and every identifier to record on it (the sender's own first).
#[derive(Clone, Debug)]
pub(crate) struct Who {
    pub contact: ContactId,
    pub identities: Vec<SenderIdentity>,
}

/// Where an inbound signal was recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recorded {
    pub contact_id: ContactId,
    pub conversation_id: ConversationId,
    pub committed: Committed,
}

impl Ledger {
    /// The contact id for an identifier: the same identifier always maps to the same contact.
    pub fn contact_id_for(&self, partner: PartnerId, kind: IdentityKind, value: &str) -> ContactId {
        let blind = blind_index(&self.keys.blind_index_key(partner), kind, value);
        ContactId(derived_uuid("laras.contact", &[partner.0.as_bytes(), blind.0.as_bytes()]))
    }

    pub fn conversation_id_for(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        account: &str,
        contact: ContactId,
        thread: &ThreadRef,
    ) -> ConversationId {
        let topic = match thread {
            ThreadRef::Direct => String::new(),
            ThreadRef::Comments { media_id } => format!("comments:{media_id}"),
            ThreadRef::ThreadsPost { root_post_id } => format!("threads:{root_post_id}"),
        };
        ConversationId(derived_uuid(
            "laras.conversation",
            &[
                partner.0.as_bytes(),
                channel.as_str().as_bytes(),
                account.as_bytes(),
                contact.0.as_bytes(),
                topic.as_bytes(),
            ],
        ))
    }

    fn identify(
        &self,
        partner: PartnerId,
        contact: ContactId,
        channel: ChannelKind,
        sender: &SenderIdentity,
    ) -> Result<IdentifyContact, CommandError> {
        if sender.value.trim().is_empty() || sender.value.len() > 256 {
            return Err(DomainError::bad_input("sender", "must be a channel user id of 1 to 256 bytes").into());
        }
        let name = match &sender.name {
            Some(n) if !n.trim().is_empty() => Some(self.seal(partner, contact, n)?),
            _ => None,
        };
        Ok(IdentifyContact {
            contact_id: contact,
            channel,
            identity: sender.kind,
            blind_index: blind_index(&self.keys.blind_index_key(partner), sender.kind, &sender.value),
            value: self.seal(partner, contact, &sender.value)?,
            name,
        })
    }

    fn seal_content(
        &self,
        partner: PartnerId,
        contact: ContactId,
        content: &PlainContent,
    ) -> Result<MessageContent, CommandError> {
        let seal = |text: &str| self.seal(partner, contact, text);
        let seal_opt = |text: &Option<String>| text.as_deref().map(seal).transpose();
        Ok(match content {
            PlainContent::Text(body) => MessageContent::Text { body: seal(body)? },
            PlainContent::Image { media, mime, caption, sha256 } => MessageContent::Image {
                media: seal(media)?,
                mime: mime.clone(),
                caption: seal_opt(caption)?,
                sha256: seal_opt(sha256)?,
            },
            PlainContent::VoiceNote { media, mime, sha256 } => {
                MessageContent::VoiceNote { media: seal(media)?, mime: mime.clone(), sha256: seal_opt(sha256)? }
            }
            PlainContent::Attachment { attachment, media, mime, caption, sha256 } => MessageContent::Attachment {
                attachment: *attachment,
                media: seal(media)?,
                mime: mime.clone(),
                caption: seal_opt(caption)?,
                sha256: seal_opt(sha256)?,
            },
            PlainContent::Location { place_json } => MessageContent::Location { place: seal(place_json)? },
            PlainContent::SharedContacts { cards_json } => MessageContent::SharedContacts { cards: seal(cards_json)? },
            PlainContent::InteractiveReply { reply_id, title } => {
                MessageContent::InteractiveReply { reply_id: reply_id.clone(), title: seal(title)? }
            }
            PlainContent::ButtonReply { payload, text } => {
                MessageContent::ButtonReply { payload: payload.clone(), text: seal(text)? }
            }
            PlainContent::FlowReply { name, response_json } => {
                MessageContent::FlowReply { name: name.clone(), response: seal(response_json)? }
            }
            PlainContent::Order { catalog_id, note, items } => {
                MessageContent::Order { catalog_id: catalog_id.clone(), note: seal_opt(note)?, items: items.clone() }
            }
            PlainContent::Shared { share, title, url } => {
                MessageContent::Shared { share: share.clone(), title: seal_opt(title)?, url: seal_opt(url)? }
            }
            PlainContent::Unsupported { kind } => MessageContent::Unsupported { original_kind: kind.clone() },
        })
    }

    fn seal_context(
        &self,
        partner: PartnerId,
        contact: ContactId,
        context: &PlainContext,
    ) -> Result<InboundContext, CommandError> {
        let seal_opt = |text: &Option<String>| text.as_deref().map(|t| self.seal(partner, contact, t)).transpose();
        let referral = match &context.referral {
            Some(r) => Some(Referral {
                source_type: r.source_type.clone(),
                source_id: r.source_id.clone(),
                source_url: r.source_url.clone(),
                headline: r.headline.clone(),
                body: r.body.clone(),
                ctwa_clid: seal_opt(&r.ctwa_clid)?,
            }),
            None => None,
        };
        let story = match &context.story {
            Some(s) => Some(StoryRef { mention: s.mention, id: s.id.clone(), url: seal_opt(&s.url)? }),
            None => None,
        };
        Ok(InboundContext {
            group_id: context.group_id.clone(),
            referral,
            story,
            standby: context.standby.then_some(true),
        })
    }

    /// Records a customer's message: identifies the contact, opens the conversation if new,
    /// records the message, and turns an opt keyword (STOP, BERHENTI, START, MULAI…) into
    /// an opt-out or opt-in. Recorded once per channel message id.
    pub async fn record_inbound_message(
        &self,
        partner: PartnerId,
        msg: IncomingMessage,
        meta: &CommandMeta,
    ) -> Result<Recorded, CommandError> {
        self.require_connected_account(partner, msg.channel, &msg.account_id).await?;
        let who = self.who(partner, &msg.sender, &msg.also).await?;
        let contact = who.contact;
        let origin = self.direct_origin(partner, msg.channel, &msg.account_id, contact);
        let meta = meta.with_actor(Actor::Customer { contact });
        let record = RecordInboundMessage {
            origin: origin.clone(),
            channel_message_id: msg.channel_message_id.clone(),
            sent_at: msg.sent_at,
            content: self.seal_content(partner, contact, &msg.content)?,
            reply_to: msg.reply_to.clone(),
            context: self.seal_context(partner, contact, &msg.context)?,
        };
        // A message written while another app holds the thread is that app's to act on.
        let keyword = msg.content.text().and_then(keywords::detect).filter(|_| !msg.context.standby);
        let ids = EventIds::DerivedFrom(format!("{}:{}:{}", msg.channel, msg.account_id, msg.channel_message_id));
        let committed = self.record_signal(partner, &origin, &who, &record, keyword, &ids, &meta).await?;
        Ok(Recorded { contact_id: contact, conversation_id: origin.conversation_id, committed })
    }

    /// Records a public comment (Instagram, Facebook) or a Threads reply, in a conversation
    /// about that post with that commenter. Recorded once per comment id.
    pub async fn record_public_comment(
        &self,
        partner: PartnerId,
        comment: IncomingComment,
        meta: &CommandMeta,
    ) -> Result<Recorded, CommandError> {
        self.require_connected_account(partner, comment.channel, &comment.account_id).await?;
        let who = self.who(partner, &comment.sender, &[]).await?;
        let contact = who.contact;
        let thread = match comment.channel {
            ChannelKind::Threads => ThreadRef::ThreadsPost { root_post_id: comment.post_id.clone() },
            _ => ThreadRef::Comments { media_id: comment.post_id.clone() },
        };
        let origin = ConversationOrigin {
            conversation_id: self.conversation_id_for(partner, comment.channel, &comment.account_id, contact, &thread),
            contact_id: contact,
            channel: comment.channel,
            account_id: comment.account_id.clone(),
            thread,
        };
        let meta = meta.with_actor(Actor::Customer { contact });
        let record = RecordPublicComment {
            origin: origin.clone(),
            comment_id: comment.comment_id.clone(),
            parent_id: comment.parent_id.clone(),
            text: self.seal(partner, contact, &comment.text)?,
            sent_at: comment.sent_at,
        };
        let ids =
            EventIds::DerivedFrom(format!("{}:{}:comment:{}", comment.channel, comment.account_id, comment.comment_id));
        let committed = self.record_signal(partner, &origin, &who, &record, None, &ids, &meta).await?;
        Ok(Recorded { contact_id: contact, conversation_id: origin.conversation_id, committed })
    }

    /// Records a reaction on the message it reacts to. It is not a message: nothing is
    /// unread and nothing answers it. Recorded once per reaction id.
    pub async fn record_reaction(
        &self,
        partner: PartnerId,
        reaction: IncomingReaction,
        meta: &CommandMeta,
    ) -> Result<Recorded, CommandError> {
        self.require_connected_account(partner, reaction.channel, &reaction.account_id).await?;
        let who = self.who(partner, &reaction.sender, &reaction.also).await?;
        let contact = who.contact;
        let origin = self.direct_origin(partner, reaction.channel, &reaction.account_id, contact);
        let meta = meta.with_actor(Actor::Customer { contact });
        let emoji = reaction.emoji.as_deref().filter(|e| !e.trim().is_empty());
        let record = RecordReaction {
            origin: origin.clone(),
            reaction_id: reaction.reaction_id.clone(),
            to_message: reaction.to_message.clone(),
            emoji: emoji.map(|e| self.seal(partner, contact, e)).transpose()?,
            sent_at: reaction.sent_at,
        };
        let ids = EventIds::DerivedFrom(format!(
            "{}:{}:reaction:{}",
            reaction.channel, reaction.account_id, reaction.reaction_id
        ));
        let committed = self.record_signal(partner, &origin, &who, &record, None, &ids, &meta).await?;
        Ok(Recorded { contact_id: contact, conversation_id: origin.conversation_id, committed })
    }

    /// Records that the sender now has another identifier and links it to the same contact
    /// (a contact already known by it is merged in). Shown in the timeline; never answered.
    pub async fn record_identity_change(
        &self,
        partner: PartnerId,
        change: IncomingIdentityChange,
        meta: &CommandMeta,
    ) -> Result<Recorded, CommandError> {
        self.require_connected_account(partner, change.channel, &change.account_id).await?;
        let who = self.who(partner, &change.sender, &[]).await?;
        let contact = who.contact;
        let who = Who { contact, identities: vec![change.sender.clone(), change.new_identity.clone()] };
        let origin = self.direct_origin(partner, change.channel, &change.account_id, contact);
        let meta = meta.with_actor(Actor::Customer { contact });
        let record = RecordIdentityChange {
            origin: origin.clone(),
            channel_message_id: change.channel_message_id.clone(),
            identity: change.new_identity.kind,
            value: self.seal(partner, contact, &change.new_identity.value)?,
            sent_at: change.sent_at,
        };
        let ids = EventIds::DerivedFrom(format!(
            "{}:{}:notice:{}",
            change.channel, change.account_id, change.channel_message_id
        ));
        let committed = self.record_signal(partner, &origin, &who, &record, None, &ids, &meta).await?;
        Ok(Recorded { contact_id: contact, conversation_id: origin.conversation_id, committed })
    }

    /// Records a message the Page sent outside Laras (a Messenger echo); it is never answered.
    pub async fn record_echo(
        &self,
        partner: PartnerId,
        echo: IncomingEcho,
        meta: &CommandMeta,
    ) -> Result<Recorded, CommandError> {
        self.require_connected_account(partner, echo.channel, &echo.account_id).await?;
        if let Some(send_ref) = echo.send_ref {
            // Our own send came back: it settles the send (in doubt or not), and the echo
            // below is then recognised as ours and not recorded as the Page's own message.
            let evidence = laras_domain::event::SendEvidence::EchoWebhook;
            self.confirm_sent(partner, send_ref, &echo.channel_message_id, echo.sent_at, evidence, meta).await?;
        }
        let who = self.who(partner, &echo.recipient, &[]).await?;
        let contact = who.contact;
        let origin = self.direct_origin(partner, echo.channel, &echo.account_id, contact);
        let body = echo.text.as_deref().map(|t| self.seal(partner, contact, t)).transpose()?;
        let mut attachments = Vec::with_capacity(echo.attachments.len());
        for a in &echo.attachments {
            let url = a.url.as_deref().map(|u| self.seal(partner, contact, u)).transpose()?;
            attachments.push(EchoAttachment { kind: a.kind.clone(), title: a.title.clone(), url });
        }
        let record = RecordEcho {
            origin: origin.clone(),
            channel_message_id: echo.channel_message_id.clone(),
            body,
            sent_at: echo.sent_at,
            attachments: (!attachments.is_empty()).then_some(attachments),
        };
        let ids =
            EventIds::DerivedFrom(format!("{}:{}:echo:{}", echo.channel, echo.account_id, echo.channel_message_id));
        let committed = self.record_signal(partner, &origin, &who, &record, None, &ids, meta).await?;
        Ok(Recorded { contact_id: contact, conversation_id: origin.conversation_id, committed })
    }

    /// The customer's direct-message conversation on one account.
    pub(crate) fn direct_origin(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        account: &str,
        contact: ContactId,
    ) -> ConversationOrigin {
        ConversationOrigin {
            conversation_id: self.conversation_id_for(partner, channel, account, contact, &ThreadRef::Direct),
            contact_id: contact,
            channel,
            account_id: account.to_owned(),
            thread: ThreadRef::Direct,
        }
    }

    /// Which contact a sender is: the first of its identifiers (the sender's own first)
    /// that Laras already knows, so a customer's history stays on one contact whichever
    /// identifier a message carries; a sender never seen is the contact of its own identifier.
    pub(crate) async fn who(
        &self,
        partner: PartnerId,
        sender: &SenderIdentity,
        also: &[SenderIdentity],
    ) -> Result<Who, CommandError> {
        let mut identities = vec![sender.clone()];
        identities.extend(also.iter().filter(|a| !a.value.trim().is_empty() && a.value.len() <= 256).cloned());
        let mut seen = std::collections::BTreeSet::new();
        identities.retain(|i| seen.insert((i.kind, i.kind.normalise(&i.value))));
        for identity in &identities {
            let derived = self.contact_id_for(partner, identity.kind, &identity.value);
            let loaded = self.load::<Contact>(&StreamId::contact(derived)).await?;
            if loaded.state.exists() {
                return Ok(Who { contact: loaded.state.merged_into.unwrap_or(derived), identities });
            }
        }
        let contact = self.contact_id_for(partner, sender.kind, &sender.value);
        Ok(Who { contact, identities })
    }

    /// Identifies the sender and records the signal on its conversation, in one atomic append.
    /// Every identifier of the sender is recorded on its contact; one whose own derived
    /// contact is another is linked by merging that contact in (created first if new), so
    /// a later message carrying only that identifier lands on the same contact.
    /// A signal the conversation already has records nothing (a redelivery).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn record_signal<C: Decide<State = Conversation> + Sync>(
        &self,
        partner: PartnerId,
        origin: &ConversationOrigin,
        who: &Who,
        record: &C,
        keyword: Option<(KeywordSignal, String)>,
        ids: &EventIds,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.with_retry(|| async {
            let now = self.clock.now();
            let contact_stream = StreamId::contact(origin.contact_id);
            let conversation_stream = StreamId::conversation(origin.conversation_id);
            let contact = self.load::<Contact>(&contact_stream).await?;
            let conversation = self.load::<Conversation>(&conversation_stream).await?;
            let signal_events = record.decide(&conversation.state, now)?;
            if signal_events.is_empty() {
                return Ok(Committed { positions: vec![], duplicate: true });
            }
            let mut after = contact.state.clone();
            let mut contact_events = Vec::new();
            let mut linked = Vec::new();
            for identity in &who.identities {
                let identify = self.identify(partner, origin.contact_id, origin.channel, identity)?;
                let events = identify.decide(&after, now)?;
                events.iter().for_each(|e| after.apply(e));
                contact_events.extend(events);
                let derived = self.contact_id_for(partner, identity.kind, &identity.value);
                if derived == origin.contact_id {
                    continue;
                }
                let other_stream = StreamId::contact(derived);
                let other = self.load::<Contact>(&other_stream).await?;
                let mut other_events = Vec::new();
                if !other.state.exists() {
                    let identify = self.identify(partner, derived, origin.channel, identity)?;
                    other_events = identify.decide(&other.state, now)?;
                } else if other.state.merged_into.is_some() || other.state.erased {
                    continue;
                }
                let mut other_after = other.state.clone();
                other_events.iter().for_each(|e| other_after.apply(e));
                let merge = MergeIdentities { survivor: origin.contact_id, absorbed: derived };
                other_events.extend(merge.decide(&other_after, now)?);
                let on_survivor = merge.decide(&after, now)?;
                on_survivor.iter().for_each(|e| after.apply(e));
                contact_events.extend(on_survivor);
                linked.push(Decided::new(other_stream, &other, other_events));
            }
            if let Some((signal, word)) = &keyword {
                contact_events.extend(opt_keyword_events(&after, origin.channel, *signal, word, now)?);
            }
            let mut decided = vec![
                Decided::new(contact_stream, &contact, contact_events),
                Decided::new(conversation_stream, &conversation, signal_events),
            ];
            decided.extend(linked);
            self.commit(partner, decided, meta, ids).await
        })
        .await
    }

    /// The receiving account must be one of the Partner's connected channels.
    pub(crate) async fn require_connected_account(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        account: &str,
    ) -> Result<(), CommandError> {
        let state = self.require_partner(partner).await?;
        match state.channels.get(&channel) {
            Some(c) if c.account_id == account => Ok(()),
            _ => Err(DomainError::ChannelNotConnected { channel }.into()),
        }
    }
}

fn opt_keyword_events(
    contact: &Contact,
    channel: ChannelKind,
    signal: KeywordSignal,
    word: &str,
    now: Timestamp,
) -> Result<Vec<DomainEvent>, CommandError> {
    let keyword = OptSignal::Keyword { keyword: word.to_owned() };
    Ok(match signal {
        KeywordSignal::OptOut => {
            OptOut { channel: Some(channel), scope: OptScope::All, signal: keyword }.decide(contact, now)?
        }
        KeywordSignal::OptIn => OptIn { channel: Some(channel), signal: keyword }.decide(contact, now)?,
    })
}
