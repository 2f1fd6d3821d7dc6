//! What Meta tells us: inbound messages, comments, echoes. Plaintext comes in, sealed events go out.
//!
//! Contact and conversation ids are derived (keyed by the Partner's blind-index key),
//! and event ids are derived from the channel's own message id, so a redelivery or
//! two concurrent copies of one webhook land on the same events: the store keeps one.

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use laras_domain::actor::Actor;
use laras_domain::aggregate::contact::{Contact, IdentifyContact, OptIn, OptOut};
use laras_domain::aggregate::conversation::*;
use laras_domain::aggregate::{Aggregate, Decide};
use laras_domain::blind::{blind_index, IdentityKind};
use laras_domain::channel::ChannelKind;
use laras_domain::error::DomainError;
use laras_domain::event::{AttachmentKind, DomainEvent, MessageContent, OptScope, OptSignal, ThreadRef};
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
    Image { media: String, mime: Option<String>, caption: Option<String> },
    VoiceNote { media: String, mime: Option<String> },
    Attachment { attachment: AttachmentKind, media: String, mime: Option<String>, caption: Option<String> },
    Location { place_json: String },
    SharedContacts { cards_json: String },
    InteractiveReply { reply_id: String, title: String },
    ButtonReply { payload: String, text: String },
    Reaction { to_message: String, emoji: Option<String> },
    Unsupported { kind: String },
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

#[derive(Clone, Debug)]
pub struct IncomingMessage {
    pub channel: ChannelKind,
    pub account_id: String,
    pub sender: SenderIdentity,
    pub channel_message_id: String,
    pub sent_at: Timestamp,
    pub content: PlainContent,
    pub reply_to: Option<String>,
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

    /// Resolves merges: a contact absorbed into another is addressed as the survivor.
    async fn resolve_contact(&self, contact: ContactId) -> Result<ContactId, CommandError> {
        let loaded = self.load::<Contact>(&StreamId::contact(contact)).await?;
        Ok(loaded.state.merged_into.unwrap_or(contact))
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
            PlainContent::Image { media, mime, caption } => {
                MessageContent::Image { media: seal(media)?, mime: mime.clone(), caption: seal_opt(caption)? }
            }
            PlainContent::VoiceNote { media, mime } => {
                MessageContent::VoiceNote { media: seal(media)?, mime: mime.clone() }
            }
            PlainContent::Attachment { attachment, media, mime, caption } => MessageContent::Attachment {
                attachment: *attachment,
                media: seal(media)?,
                mime: mime.clone(),
                caption: seal_opt(caption)?,
            },
            PlainContent::Location { place_json } => MessageContent::Location { place: seal(place_json)? },
            PlainContent::SharedContacts { cards_json } => MessageContent::SharedContacts { cards: seal(cards_json)? },
            PlainContent::InteractiveReply { reply_id, title } => {
                MessageContent::InteractiveReply { reply_id: reply_id.clone(), title: seal(title)? }
            }
            PlainContent::ButtonReply { payload, text } => {
                MessageContent::ButtonReply { payload: payload.clone(), text: seal(text)? }
            }
            PlainContent::Reaction { to_message, emoji } => {
                MessageContent::Reaction { to_message: to_message.clone(), emoji: seal_opt(emoji)? }
            }
            PlainContent::Unsupported { kind } => MessageContent::Unsupported { original_kind: kind.clone() },
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
        let contact = self.contact_id_for(partner, msg.sender.kind, &msg.sender.value);
        let contact = self.resolve_contact(contact).await?;
        let origin = ConversationOrigin {
            conversation_id: self.conversation_id_for(
                partner,
                msg.channel,
                &msg.account_id,
                contact,
                &ThreadRef::Direct,
            ),
            contact_id: contact,
            channel: msg.channel,
            account_id: msg.account_id.clone(),
            thread: ThreadRef::Direct,
        };
        let meta = meta.with_actor(Actor::Customer { contact });
        let identify = self.identify(partner, contact, msg.channel, &msg.sender)?;
        let record = RecordInboundMessage {
            origin: origin.clone(),
            channel_message_id: msg.channel_message_id.clone(),
            sent_at: msg.sent_at,
            content: self.seal_content(partner, contact, &msg.content)?,
            reply_to: msg.reply_to.clone(),
        };
        let keyword = msg.content.text().and_then(keywords::detect);
        let ids = EventIds::DerivedFrom(format!("{}:{}:{}", msg.channel, msg.account_id, msg.channel_message_id));
        let committed = self.record_signal(partner, &origin, &identify, &record, keyword, &ids, &meta).await?;
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
        let contact = self.contact_id_for(partner, comment.sender.kind, &comment.sender.value);
        let contact = self.resolve_contact(contact).await?;
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
        let identify = self.identify(partner, contact, comment.channel, &comment.sender)?;
        let record = RecordPublicComment {
            origin: origin.clone(),
            comment_id: comment.comment_id.clone(),
            parent_id: comment.parent_id.clone(),
            text: self.seal(partner, contact, &comment.text)?,
            sent_at: comment.sent_at,
        };
        let ids =
            EventIds::DerivedFrom(format!("{}:{}:comment:{}", comment.channel, comment.account_id, comment.comment_id));
        let committed = self.record_signal(partner, &origin, &identify, &record, None, &ids, &meta).await?;
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
        let contact = self.contact_id_for(partner, echo.recipient.kind, &echo.recipient.value);
        let contact = self.resolve_contact(contact).await?;
        let origin = ConversationOrigin {
            conversation_id: self.conversation_id_for(
                partner,
                echo.channel,
                &echo.account_id,
                contact,
                &ThreadRef::Direct,
            ),
            contact_id: contact,
            channel: echo.channel,
            account_id: echo.account_id.clone(),
            thread: ThreadRef::Direct,
        };
        let identify = self.identify(partner, contact, echo.channel, &echo.recipient)?;
        let body = echo.text.as_deref().map(|t| self.seal(partner, contact, t)).transpose()?;
        let record = RecordEcho {
            origin: origin.clone(),
            channel_message_id: echo.channel_message_id.clone(),
            body,
            sent_at: echo.sent_at,
        };
        let ids =
            EventIds::DerivedFrom(format!("{}:{}:echo:{}", echo.channel, echo.account_id, echo.channel_message_id));
        let committed = self.record_signal(partner, &origin, &identify, &record, None, &ids, meta).await?;
        Ok(Recorded { contact_id: contact, conversation_id: origin.conversation_id, committed })
    }

    /// Identifies the sender and records the signal on its conversation, in one atomic append.
    /// A signal the conversation already has records nothing (a redelivery).
    #[allow(clippy::too_many_arguments)]
    async fn record_signal<C: Decide<State = Conversation> + Sync>(
        &self,
        partner: PartnerId,
        origin: &ConversationOrigin,
        identify: &IdentifyContact,
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
            let mut contact_events = identify.decide(&contact.state, now)?;
            if let Some((signal, word)) = &keyword {
                let mut after = contact.state.clone();
                contact_events.iter().for_each(|e| after.apply(e));
                contact_events.extend(opt_keyword_events(&after, origin.channel, *signal, word, now)?);
            }
            let decided = vec![
                Decided::new(contact_stream, &contact, contact_events),
                Decided::new(conversation_stream, &conversation, signal_events),
            ];
            self.commit(partner, decided, meta, ids).await
        })
        .await
    }

    /// The receiving account must be one of the Partner's connected channels.
    async fn require_connected_account(
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
