//! Read-model queries and live subscriptions. Each query may name a `minPosition` (a
//! mutation's answer) and then waits until the read models include it.

use super::api;
use super::node::{Node, NodeType};
use super::read::*;
use super::thread::Conversation;
use super::types::{parse_id, Channel};
use crate::auth::{partner_in, READERS};
use crate::error::{ApiError, Code, OrApi};
use async_graphql::{Context, InputObject, Object, SimpleObject, Subscription, ID};
use futures_util::Stream;
use laras_domain::channel::ChannelKind;
use laras_domain::ids::{ContactId, ConversationId, DraftId, OpportunityId};
use laras_projections::{ChangeKind, ProjectionError, ReadModels};
use std::time::Duration;

impl From<ProjectionError> for ApiError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::BadCursor | ProjectionError::BadQuery(_) => ApiError::bad_input(e.to_string()),
            ProjectionError::Timeout { .. } => ApiError::new(Code::Timeout, e.to_string()),
            other => {
                tracing::error!(error = %other, "read model failed");
                ApiError::new(Code::Internal, "the read models failed; see the server log")
            }
        }
    }
}

/// Which read model a query needs to include `minPosition`.
#[derive(Clone, Copy, PartialEq)]
enum Needs {
    Tables,
    Search,
}

/// Waits for `min_position`, then runs `query` off the async threads.
pub(super) async fn read<T: Send + 'static>(
    ctx: &Context<'_>,
    min_position: Option<u64>,
    query: impl FnOnce(&ReadModels) -> Result<T, ProjectionError> + Send + 'static,
) -> async_graphql::Result<T> {
    read_from(ctx, Needs::Tables, min_position, query).await
}

async fn read_from<T: Send + 'static>(
    ctx: &Context<'_>,
    needs: Needs,
    min_position: Option<u64>,
    query: impl FnOnce(&ReadModels) -> Result<T, ProjectionError> + Send + 'static,
) -> async_graphql::Result<T> {
    let api = api(ctx);
    if let Some(position) = min_position {
        let timeout = Duration::from_millis(api.limits.max_wait_ms);
        match needs {
            Needs::Tables => api.read.wait_for(position, timeout).await.api()?,
            Needs::Search => api.read.wait_for_search(position, timeout).await.api()?,
        }
    }
    let models = api.read.clone();
    tokio::task::spawn_blocking(move || query(&models))
        .await
        .map_err(|_| ApiError::new(Code::Internal, "the read was cancelled").into_graphql())?
        .api()
}

#[derive(InputObject, Default)]
pub struct InboxFilter {
    pub status: Option<super::enums::ConversationStatus>,
    pub channel: Option<Channel>,
    /// A user id (from `me`-style ids in the audit trail).
    pub assignee: Option<String>,
    pub contact_id: Option<ID>,
}

fn channel_name(c: Channel) -> String {
    ChannelKind::from(c).as_str().to_owned()
}

#[derive(Default)]
pub struct ReadQueries;

#[Object]
impl ReadQueries {
    /// The Partner's conversations, most recent first (Relay-style cursor pagination).
    async fn inbox(
        &self,
        ctx: &Context<'_>,
        #[graphql(default)] filter: InboxFilter,
        #[graphql(default = 20)] first: i64,
        after: Option<String>,
        min_position: Option<u64>,
    ) -> async_graphql::Result<InboxConnection> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let first = super::types::page_size(first, api(ctx).limits.max_page).api()?;
        let contact = filter.contact_id.as_ref().map(|id| parse_id::<ContactId>("contactId", id)).transpose().api()?;
        let filter = laras_projections::InboxFilter {
            status: filter.status.map(|s| s.as_stored().to_owned()),
            channel: filter.channel.map(channel_name),
            assignee: filter.assignee,
            contact: contact.map(|c| c.to_string()),
        };
        let page = laras_projections::PageRequest { first, after };
        let partner = partner.to_string();
        let found = read(ctx, min_position, move |m| m.inbox(&partner, &filter, &page)).await?;
        InboxConnection::from_page(found).api()
    }

    /// One conversation: messages, comments, drafts with their approval state, deliveries.
    async fn conversation(
        &self,
        ctx: &Context<'_>,
        id: ID,
        min_position: Option<u64>,
    ) -> async_graphql::Result<Conversation> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let id = parse_id::<ConversationId>("id", &id).api()?.to_string();
        let owner = partner;
        let partner = partner.to_string();
        read(ctx, min_position, move |m| m.conversation(&partner, &id))
            .await?
            .map(|view| Conversation::of(owner, view).api())
            .unwrap_or_else(|| Err(ApiError::not_found().into_graphql()))
    }

    /// The object a global id names (Relay's Node): a Conversation, Contact,
    /// Opportunity or Draft of the caller's Partner. An id of another Partner's object
    /// answers NOT_FOUND, exactly like one that never existed (as `conversation(id:)`
    /// and `contact(id:)` do); an id that is not a global id is BAD_INPUT.
    async fn node(&self, ctx: &Context<'_>, id: ID, min_position: Option<u64>) -> async_graphql::Result<Option<Node>> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let (of, local) = super::node::parse(&id).api()?;
        let bad = || ApiError::bad_input("id names no object of its type").into_graphql();
        let owner = partner;
        let partner = partner.to_string();
        let found = match of {
            NodeType::Conversation => {
                let id = local.parse::<ConversationId>().map_err(|_| bad())?.to_string();
                let view = read(ctx, min_position, move |m| m.conversation(&partner, &id)).await?;
                view.map(|v| Conversation::of(owner, v).map(Node::Conversation)).transpose().api()?
            }
            NodeType::Contact => {
                let id = local.parse::<ContactId>().map_err(|_| bad())?.to_string();
                let view = read(ctx, min_position, move |m| m.contact(&partner, &id)).await?;
                view.map(|c| Contact::try_from(c).map(Node::Contact)).transpose().api()?
            }
            NodeType::Opportunity => {
                let id = local.parse::<OpportunityId>().map_err(|_| bad())?.to_string();
                let view = read(ctx, min_position, move |m| m.opportunity(&partner, &id)).await?;
                view.map(|o| Opportunity::try_from(o).map(Node::Opportunity)).transpose().api()?
            }
            NodeType::Draft => {
                let (conversation, draft) = local.split_once('/').ok_or_else(bad)?;
                let conversation = conversation.parse::<ConversationId>().map_err(|_| bad())?.to_string();
                let draft = draft.parse::<DraftId>().map_err(|_| bad())?.to_string();
                let view = read(ctx, min_position, move |m| m.conversation(&partner, &conversation)).await?;
                let conversation = view.map(|v| Conversation::of(owner, v)).transpose().api()?;
                conversation.and_then(|c| c.into_draft(&draft)).map(Node::Draft)
            }
        };
        found.map(Some).ok_or_else(|| ApiError::not_found().into_graphql())
    }

    /// Replies held in doubt for a person, oldest first (ADR 010).
    async fn held_sends(&self, ctx: &Context<'_>, min_position: Option<u64>) -> async_graphql::Result<Vec<HeldSend>> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let partner = partner.to_string();
        let held = read(ctx, min_position, move |m| m.held_sends(&partner)).await?;
        held.into_iter().map(TryInto::try_into).collect::<Result<_, ApiError>>().api()
    }

    /// A contact with its CRM timeline, conversations, opportunities and segment.
    async fn contact(&self, ctx: &Context<'_>, id: ID, min_position: Option<u64>) -> async_graphql::Result<Contact> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let id = parse_id::<ContactId>("id", &id).api()?.to_string();
        let partner = partner.to_string();
        read(ctx, min_position, move |m| m.contact(&partner, &id))
            .await?
            .map(|c| Contact::try_from(c).api())
            .unwrap_or_else(|| Err(ApiError::not_found().into_graphql()))
    }

    /// Open deals by stage with weighted forecast, stage durations, won and lost totals.
    async fn pipeline(&self, ctx: &Context<'_>, min_position: Option<u64>) -> async_graphql::Result<Pipeline> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let partner = partner.to_string();
        let (view, opportunities) =
            read(ctx, min_position, move |m| Ok((m.pipeline(&partner)?, m.opportunities(&partner)?))).await?;
        Pipeline::of(view, opportunities).api()
    }

    /// Contacts with CLV and RFM segment, most valuable first; optionally one segment.
    async fn segments(
        &self,
        ctx: &Context<'_>,
        segment: Option<super::enums::RfmSegment>,
        min_position: Option<u64>,
    ) -> async_graphql::Result<Vec<ContactSegment>> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let partner = partner.to_string();
        let segment = segment.map(|s| s.as_stored());
        let rows = read(ctx, min_position, move |m| m.segments(&partner, segment)).await?;
        rows.into_iter().map(TryInto::try_into).collect::<Result<_, ApiError>>().api()
    }

    /// Full-text search over messages, comments, replies and notes (BM25, highlighted).
    #[allow(clippy::too_many_arguments)]
    async fn search(
        &self,
        ctx: &Context<'_>,
        text: String,
        channel: Option<Channel>,
        contact_id: Option<ID>,
        from_ms: Option<i64>,
        to_ms: Option<i64>,
        #[graphql(default = 20)] first: i64,
        min_position: Option<u64>,
    ) -> async_graphql::Result<Vec<SearchHit>> {
        let (partner, _) = partner_in(ctx, READERS)?;
        let first = super::types::page_size(first, 100).api()?;
        let contact = contact_id.as_ref().map(|id| parse_id::<ContactId>("contactId", id)).transpose().api()?;
        let from_ms = super::types::plausible_time("fromMs", from_ms).api()?;
        let to_ms = super::types::plausible_time("toMs", to_ms).api()?;
        if let (Some(from), Some(to)) = (from_ms, to_ms) {
            if from > to {
                return Err(ApiError::bad_input("fromMs must not be after toMs").into_graphql());
            }
        }
        let query = laras_projections::SearchQuery {
            text,
            channel: channel.map(channel_name),
            contact: contact.map(|c| c.to_string()),
            from: from_ms,
            to: to_ms,
            limit: first,
        };
        let partner = partner.to_string();
        let hits = read_from(ctx, Needs::Search, min_position, move |m| m.search(&partner, &query)).await?;
        hits.into_iter().map(TryInto::try_into).collect::<Result<_, ApiError>>().api()
    }
}

#[derive(SimpleObject, Clone)]
pub struct InboxChange {
    pub conversation_id: ID,
}

#[derive(SimpleObject, Clone)]
pub struct DraftAwaiting {
    pub conversation_id: ID,
    pub draft_id: ID,
}

pub struct SubscriptionRoot;

/// The caller's Partner's changes from the read models' broadcast.
fn changes_of(ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = laras_projections::ReadModelChange>> {
    let (partner, _) = partner_in(ctx, READERS)?;
    let partner = partner.to_string();
    let rx = api(ctx).read.subscribe();
    Ok(futures_util::stream::unfold((rx, partner), |(mut rx, partner)| async move {
        loop {
            match rx.recv().await {
                Ok(change) if change.partner == partner => return Some((change, (rx, partner))),
                Ok(_) => {}
                // A slow subscriber skips what it missed rather than ending.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    }))
}

#[Subscription]
impl SubscriptionRoot {
    /// A conversation of the caller's Partner changed (new message, status, delivery…).
    async fn inbox_changes(&self, ctx: &Context<'_>) -> async_graphql::Result<impl Stream<Item = InboxChange>> {
        use futures_util::StreamExt;
        Ok(changes_of(ctx)?.map(|c| InboxChange { conversation_id: ID(c.conversation) }))
    }

    /// A new draft waits for approval.
    async fn drafts_awaiting_approval(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = DraftAwaiting>> {
        use futures_util::StreamExt;
        Ok(changes_of(ctx)?.filter_map(|c| async move {
            match c.kind {
                ChangeKind::DraftAwaitingApproval { draft } => {
                    Some(DraftAwaiting { conversation_id: ID(c.conversation), draft_id: ID(draft) })
                }
                ChangeKind::Inbox => None,
            }
        }))
    }
}
