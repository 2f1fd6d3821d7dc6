//! Mutations: each becomes one command (or two, for approve-and-send) and answers with
//! the ledger position of what it stored.

use super::api;
use super::types::{parse_id, ApprovalMode, ArticleKind, Channel, InDoubtPolicy, MoneyValue, Role, Written};
use crate::auth::{meta_for, partner_in, require_admin, user_of, OWNERS, WORKERS};
use crate::error::{ApiError, OrApi};
use async_graphql::{Context, Object, SimpleObject, ID};
use laras_commands::access;
use laras_commands::credentials::AccessToken;
use laras_commands::handlers::send::{OutgoingReply, SendRequest};
use laras_commands::{CommandMeta, Committed};
use laras_domain::aggregate::article::PublishArticle;
use laras_domain::aggregate::opportunity::{
    ChangeOpportunityValue, LoseOpportunity, MoveOpportunity, OpenOpportunity, WinOpportunity,
};
use laras_domain::aggregate::partner::{
    default_pipeline, DisconnectChannel, OnboardPartner, SetApprovalMode, SetFollowUpPolicy,
};
use laras_domain::event::{ConversationStatus, OptScope, OptSignal, ReplyTarget};
use laras_domain::ids::*;
use laras_domain::time::Timestamp;
use uuid::Uuid;

pub struct MutationRoot;

#[derive(SimpleObject)]
pub struct CreatedPartner {
    pub partner_id: ID,
    /// The first owner key. Shown once: store it now.
    pub owner_key: String,
    pub position: Option<u64>,
}

#[derive(SimpleObject)]
pub struct CreatedApiKey {
    pub id: String,
    pub role: Role,
    /// The key. Shown once: store it now.
    pub key: String,
}

/// Where a person's reply goes.
#[derive(async_graphql::OneofObject)]
pub enum ReplyTo {
    /// A message in the conversation, optionally quoting a customer's message id.
    Conversation(QuoteInput),
    /// Instagram's one private reply to a public comment.
    CommentId(String),
    /// A public reply under a Threads reply.
    ThreadsReplyId(String),
}

/// The file a person's reply carries.
#[derive(async_graphql::OneofObject)]
pub enum ReplyFileInput {
    /// A file uploaded with this request (the GraphQL multipart request spec, posted to
    /// `/graphql/upload`). Its type is read from its bytes.
    Upload(async_graphql::Upload),
    /// A file an earlier message of this conversation carried.
    FromMessage(MessageFileInput),
}

/// An approved WhatsApp message template, for a reply outside WhatsApp's 24-hour window.
#[derive(async_graphql::InputObject)]
pub struct TemplateInput {
    /// The template's name as approved in WhatsApp Manager.
    pub name: String,
    /// Its language code (`id`, `en_US`).
    pub language: String,
    /// The body's parameters, in order.
    #[graphql(default)]
    pub parameters: Vec<String>,
}

#[derive(async_graphql::InputObject)]
pub struct MessageFileInput {
    /// The message's channel id (`reference` of its conversation item).
    pub message_id: String,
    #[graphql(default)]
    pub attachment: u32,
}

/// Where a reply goes, as the domain names it (the conversation by default).
pub(crate) fn reply_target(to: Option<ReplyTo>) -> ReplyTarget {
    match to {
        None => ReplyTarget::Conversation { quote: None },
        Some(ReplyTo::Conversation(q)) => ReplyTarget::Conversation { quote: q.quote },
        Some(ReplyTo::CommentId(comment_id)) => ReplyTarget::CommentPrivateReply { comment_id },
        Some(ReplyTo::ThreadsReplyId(reply_to_id)) => ReplyTarget::ThreadsReply { reply_to_id },
    }
}

#[derive(async_graphql::InputObject, Default)]
pub struct QuoteInput {
    pub quote: Option<String>,
}

#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq)]
pub enum InboxStatus {
    Open,
    Pending,
    Snoozed,
    Resolved,
}

fn written(result: Result<Committed, laras_commands::CommandError>) -> async_graphql::Result<Written> {
    result.map(|c| Written::at(&c)).api()
}

#[Object]
impl MutationRoot {
    // --- administration ---------------------------------------------------------------

    /// Onboards a Partner and creates its first owner key (admin token only).
    async fn create_partner(
        &self,
        ctx: &Context<'_>,
        name: String,
        #[graphql(default_with = "ApprovalMode::Approval")] approval: ApprovalMode,
    ) -> async_graphql::Result<CreatedPartner> {
        require_admin(ctx)?;
        let api = api(ctx);
        let partner = PartnerId(Uuid::now_v7());
        let command =
            OnboardPartner { partner_id: partner, name, approval: approval.into(), pipeline: default_pipeline() };
        let committed = api.ledger.onboard_partner(command, &CommandMeta::system("admin")).await.api()?;
        let (_, secret) = api.keys.create(partner, access::Role::Owner, "first owner key").api()?;
        Ok(CreatedPartner {
            partner_id: ID(partner.to_string()),
            owner_key: secret.expose().to_owned(),
            position: committed.last_position(),
        })
    }

    /// Creates an API key: the admin token for any Partner, an owner key for its own.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        partner_id: Option<ID>,
        role: Role,
        #[graphql(default)] label: String,
    ) -> async_graphql::Result<CreatedApiKey> {
        let api = api(ctx);
        let partner = match crate::auth::caller(ctx)? {
            crate::auth::Caller::Admin => {
                let id = partner_id
                    .ok_or_else(|| ApiError::bad_input("partnerId is required with the admin token"))
                    .api()?;
                let partner = parse_id::<PartnerId>("partnerId", &id).api()?;
                if !api.ledger.partner(partner).await.api()?.is_onboarded() {
                    return Err(ApiError::not_found().into_graphql());
                }
                partner
            }
            crate::auth::Caller::Key(_) => {
                let (own, _) = partner_in(ctx, OWNERS)?;
                if partner_id.as_ref().is_some_and(|id| id.as_str() != own.to_string()) {
                    return Err(ApiError::not_found().into_graphql());
                }
                own
            }
        };
        laras_domain::error::require_clean_line("label", &label, 200).api()?;
        let (key, secret) = api.keys.create(partner, role.into(), &label).api()?;
        Ok(CreatedApiKey { id: key.id, role: key.role.into(), key: secret.expose().to_owned() })
    }

    /// Revokes one of the Partner's keys (owner only).
    async fn revoke_api_key(&self, ctx: &Context<'_>, key_id: String) -> async_graphql::Result<bool> {
        let (partner, _) = partner_in(ctx, OWNERS)?;
        if !api(ctx).keys.revoke(partner, &key_id).api()? {
            return Err(ApiError::not_found().into_graphql());
        }
        Ok(true)
    }

    // --- drafts and replies ---------------------------------------------------------------

    /// Approves a draft and asks for it to be sent. The approval stands even when the
    /// send policy then refuses (POLICY_REFUSED, with the refusal's position).
    async fn approve_draft(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        draft_id: ID,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let draft = parse_id::<DraftId>("draftId", &draft_id).api()?;
        let meta = meta_for(key);
        let ledger = &api(ctx).ledger;
        ledger.approve_draft(partner, conversation, draft, &meta).await.api()?;
        let request = SendRequest { reply: OutgoingReply::Draft(draft), template: None, marketing: false, media: None };
        let (send, committed) = ledger.request_send(partner, conversation, request, &meta).await.api()?;
        Ok(Written::at(&committed).with_id(send))
    }

    /// Replaces a draft's text before it is approved.
    async fn edit_draft(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        draft_id: ID,
        text: String,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let draft = parse_id::<DraftId>("draftId", &draft_id).api()?;
        written(api(ctx).ledger.edit_draft(partner, conversation, draft, &text, &meta_for(key)).await)
    }

    async fn reject_draft(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        draft_id: ID,
        reason: Option<String>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let draft = parse_id::<DraftId>("draftId", &draft_id).api()?;
        written(api(ctx).ledger.reject_draft(partner, conversation, draft, reason, &meta_for(key)).await)
    }

    /// A person's reply; the outbox delivers it. Refused by policy: POLICY_REFUSED. With a
    /// `file`, `text` is its caption (WhatsApp images, videos and documents) and may be
    /// empty; Messenger and Instagram send a file without words. With a `template`, the
    /// reply goes out as that approved WhatsApp template (outside the 24-hour window, where
    /// the policy refuses free text with TEMPLATE_REQUIRED), and `text` is what the
    /// conversation shows of it.
    async fn reply(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        text: String,
        to: Option<ReplyTo>,
        file: Option<ReplyFileInput>,
        template: Option<TemplateInput>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let target = reply_target(to);
        let media = match file {
            None => None,
            Some(file) => Some(super::upload::reply_file(ctx, partner, conversation, file).await?),
        };
        let kept = media.clone();
        let request = SendRequest {
            reply: OutgoingReply::Person { text, target },
            template: template.map(|t| (t.name, t.language, t.parameters)),
            marketing: false,
            media,
        };
        let api = api(ctx);
        let sent = api.ledger.request_send(partner, conversation, request, &meta_for(key)).await;
        if let (Err(e), Some(file)) = (&sent, &kept) {
            if e.appended_nothing() {
                super::upload::discard(api, partner, conversation, file).await;
            }
        }
        let (send, committed) = sent.api()?;
        Ok(Written::at(&committed).with_id(send))
    }

    /// Moves a conversation in the inbox; `snoozedUntilMs` is required for SNOOZED.
    async fn set_conversation_status(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        status: InboxStatus,
        snoozed_until_ms: Option<i64>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let status = match (status, snoozed_until_ms) {
            (InboxStatus::Open, _) => ConversationStatus::Open,
            (InboxStatus::Pending, _) => ConversationStatus::Pending,
            (InboxStatus::Resolved, _) => ConversationStatus::Resolved,
            (InboxStatus::Snoozed, Some(until)) => ConversationStatus::Snoozed { until: Timestamp(until) },
            (InboxStatus::Snoozed, None) => {
                return Err(ApiError::bad_input("snoozedUntilMs is required to snooze").into_graphql())
            }
        };
        written(api(ctx).ledger.change_conversation_status(partner, conversation, status, &meta_for(key)).await)
    }

    /// Assigns a conversation to the calling key's user, or unassigns it.
    async fn assign_conversation(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        #[graphql(default = true)] to_me: bool,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let assignee = to_me.then(|| user_of(key));
        written(api(ctx).ledger.assign_conversation(partner, conversation, assignee, &meta_for(key)).await)
    }

    // --- contacts -------------------------------------------------------------------------

    async fn add_note(&self, ctx: &Context<'_>, contact_id: ID, text: String) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let contact = parse_id::<ContactId>("contactId", &contact_id).api()?;
        let (note, committed) = api(ctx).ledger.add_note(partner, contact, &text, &meta_for(key)).await.api()?;
        Ok(Written::at(&committed).with_id(note))
    }

    /// Opts a contact out: of everything, or only of marketing; on one channel or all.
    async fn opt_out(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        channel: Option<Channel>,
        #[graphql(default)] marketing_only: bool,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let contact = parse_id::<ContactId>("contactId", &contact_id).api()?;
        let scope = if marketing_only { OptScope::Marketing } else { OptScope::All };
        let ledger = &api(ctx).ledger;
        written(
            ledger.opt_out(partner, contact, channel.map(Into::into), scope, OptSignal::Manual, &meta_for(key)).await,
        )
    }

    async fn opt_in(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        channel: Option<Channel>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let contact = parse_id::<ContactId>("contactId", &contact_id).api()?;
        let ledger = &api(ctx).ledger;
        written(ledger.opt_in(partner, contact, channel.map(Into::into), OptSignal::Manual, &meta_for(key)).await)
    }

    /// Erases a contact (owner only): its data keys are destroyed; the history still verifies.
    async fn erase_contact(&self, ctx: &Context<'_>, contact_id: ID) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let contact = parse_id::<ContactId>("contactId", &contact_id).api()?;
        written(api(ctx).ledger.erase_contact(partner, contact, &meta_for(key)).await)
    }

    // --- pipeline -------------------------------------------------------------------------

    async fn open_opportunity(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        conversation_id: Option<ID>,
        title: String,
        stage: Option<String>,
        value: MoneyValue,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let contact = parse_id::<ContactId>("contactId", &contact_id).api()?;
        let conversation =
            conversation_id.map(|id| parse_id::<ConversationId>("conversationId", &id)).transpose().api()?;
        let opportunity = OpportunityId(Uuid::now_v7());
        let command = OpenOpportunity {
            opportunity_id: opportunity,
            contact_id: contact,
            conversation_id: conversation,
            title,
            stage,
            value: value.to_domain().api()?,
        };
        let committed = api(ctx).ledger.open_opportunity(partner, command, &meta_for(key)).await.api()?;
        Ok(Written::at(&committed).with_id(opportunity))
    }

    async fn move_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: ID,
        stage: String,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let id = parse_id::<OpportunityId>("opportunityId", &opportunity_id).api()?;
        written(api(ctx).ledger.on_opportunity(partner, id, &MoveOpportunity { to: stage }, &meta_for(key)).await)
    }

    async fn change_opportunity_value(
        &self,
        ctx: &Context<'_>,
        opportunity_id: ID,
        value: MoneyValue,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let id = parse_id::<OpportunityId>("opportunityId", &opportunity_id).api()?;
        let command = ChangeOpportunityValue { value: value.to_domain().api()? };
        written(api(ctx).ledger.on_opportunity(partner, id, &command, &meta_for(key)).await)
    }

    /// Wins an opportunity, at its current value or at `value`. Won is final.
    async fn win_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: ID,
        value: Option<MoneyValue>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let id = parse_id::<OpportunityId>("opportunityId", &opportunity_id).api()?;
        let command = WinOpportunity { value: value.map(|v| v.to_domain()).transpose().api()? };
        written(api(ctx).ledger.on_opportunity(partner, id, &command, &meta_for(key)).await)
    }

    /// Loses an opportunity. Lost is final.
    async fn lose_opportunity(
        &self,
        ctx: &Context<'_>,
        opportunity_id: ID,
        reason: String,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let id = parse_id::<OpportunityId>("opportunityId", &opportunity_id).api()?;
        written(api(ctx).ledger.on_opportunity(partner, id, &LoseOpportunity { reason }, &meta_for(key)).await)
    }

    // --- channels and knowledge (owner) ---------------------------------------------------------

    /// Connects a channel with its Graph API access token (stored sealed, never shown again).
    /// The token must control the account: the platform is asked first (`BAD_INPUT` when it
    /// does not vouch for it). An account another Partner holds is refused with `CONFLICT`
    /// (the refusal is recorded at `position`); nothing else changes.
    async fn connect_channel(
        &self,
        ctx: &Context<'_>,
        channel: Channel,
        account_id: String,
        #[graphql(default)] display_name: String,
        access_token: String,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let api = api(ctx);
        let token = AccessToken::new(access_token);
        laras_commands::credentials::validate_token(token.expose()).api()?;
        let committed = api
            .ledger
            .connect_proven_channel(
                partner,
                channel.into(),
                &account_id,
                &display_name,
                &token,
                api.prover.as_ref(),
                &api.directory,
                &meta_for(key),
            )
            .await
            .api()?;
        // After the event: a refused connect must not leave a token behind.
        api.credentials.store(partner, channel.into(), &token).api()?;
        Ok(Written::at(&committed))
    }

    /// Disconnects a channel: nothing more goes out on it and its token is forgotten.
    async fn disconnect_channel(&self, ctx: &Context<'_>, channel: Channel) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let api = api(ctx);
        let command = DisconnectChannel { channel: channel.into() };
        let committed = api.ledger.disconnect_channel(partner, command, &meta_for(key)).await.api()?;
        api.credentials.remove(partner, channel.into()).api()?;
        Ok(Written::at(&committed))
    }

    /// How the AI worker's drafts go out: APPROVAL (a person approves each), AUTOPILOT
    /// (sent when confident, the customer is not upset and policy allows), OFF (no drafts).
    /// Without `channel` it is the Partner's default; with it, that channel's mode.
    async fn set_approval_mode(
        &self,
        ctx: &Context<'_>,
        mode: ApprovalMode,
        channel: Option<Channel>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let command = SetApprovalMode { channel: channel.map(Into::into), mode: mode.into() };
        written(api(ctx).ledger.set_approval_mode(partner, command, &meta_for(key)).await)
    }

    /// What happens to a channel's replies left in doubt (the server stopped after calling
    /// Meta and before its answer was recorded): RESEND_AFTER_BOUND or HOLD_FOR_PERSON.
    async fn set_in_doubt_policy(
        &self,
        ctx: &Context<'_>,
        channel: Channel,
        policy: InDoubtPolicy,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let ledger = &api(ctx).ledger;
        written(ledger.set_in_doubt_policy(partner, channel.into(), policy.into(), &meta_for(key)).await)
    }

    /// A reply held in doubt did not reach the customer (checked in their thread): send it again.
    async fn approve_resend(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        send_id: ID,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let send = parse_id::<SendId>("sendId", &send_id).api()?;
        written(api(ctx).ledger.approve_resend(partner, conversation, send, &meta_for(key)).await)
    }

    /// A reply in doubt is in the customer's thread: it is settled as sent (with the
    /// platform's message id when known).
    async fn mark_sent(
        &self,
        ctx: &Context<'_>,
        conversation_id: ID,
        send_id: ID,
        platform_message_id: Option<String>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, WORKERS)?;
        let conversation = parse_id::<ConversationId>("conversationId", &conversation_id).api()?;
        let send = parse_id::<SendId>("sendId", &send_id).api()?;
        let ledger = &api(ctx).ledger;
        written(ledger.mark_sent(partner, conversation, send, platform_message_id, &meta_for(key)).await)
    }

    /// When and how open deals are followed up: after `delayHours` of the customer's
    /// silence; outside WhatsApp's window with the approved template (name, language).
    async fn set_follow_up_policy(
        &self,
        ctx: &Context<'_>,
        delay_hours: u32,
        whatsapp_template: Option<String>,
        template_language: Option<String>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let command = SetFollowUpPolicy { delay_hours, whatsapp_template: whatsapp_template.zip(template_language) };
        written(api(ctx).ledger.set_follow_up_policy(partner, command, &meta_for(key)).await)
    }

    /// Publishes a knowledge article the AI worker may ground its drafts in.
    async fn publish_article(
        &self,
        ctx: &Context<'_>,
        kind: ArticleKind,
        title: String,
        body: String,
        #[graphql(default)] tags: Vec<String>,
    ) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let article = ArticleId(Uuid::now_v7());
        let command = PublishArticle { article_id: article, kind: kind.into(), title, body, tags };
        let committed = api(ctx).ledger.publish_article(partner, command, &meta_for(key)).await.api()?;
        Ok(Written::at(&committed).with_id(article))
    }

    async fn retire_article(&self, ctx: &Context<'_>, article_id: ID) -> async_graphql::Result<Written> {
        let (partner, key) = partner_in(ctx, OWNERS)?;
        let article = parse_id::<ArticleId>("articleId", &article_id).api()?;
        written(api(ctx).ledger.retire_article(partner, article, &meta_for(key)).await)
    }

    // --- witnesses (ADR 013) ----------------------------------------------------------

    /// Names a witness (owner key): Laras then accepts its cosignatures of the Partner's
    /// tree heads. Recorded on the Partner's stream, so auditors see it.
    async fn register_witness(
        &self,
        ctx: &Context<'_>,
        name: String,
        public_key: String,
    ) -> async_graphql::Result<Written> {
        super::witnesses::register(ctx, name, public_key).await
    }

    /// A registered witness's cosignature of a tree head Laras signed (owner or auditor key).
    async fn submit_cosignature(
        &self,
        ctx: &Context<'_>,
        cosignature: super::witnesses::CosignatureInput,
    ) -> async_graphql::Result<super::witnesses::CosignatureView> {
        super::witnesses::submit(ctx, cosignature).await
    }
}
