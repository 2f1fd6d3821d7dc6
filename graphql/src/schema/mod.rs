//! The GraphQL schema: one module per root type, shared value types in `types`.

mod audit;
#[macro_use]
mod enums;
mod knowledge;
mod mutation;
pub mod node;
mod proofs;
mod query;
mod read;
mod reads;
mod thread;
pub mod types;
mod upload;
mod witnesses;

use async_graphql::{MergedObject, Schema};
use laras_commands::access::ApiKeys;
use laras_commands::account_proof::AccountProver;
use laras_commands::credentials::ChannelCredentials;
use laras_commands::directory::ChannelDirectory;
use laras_commands::Ledger;
use laras_projections::ReadModels;
use std::sync::Arc;

pub use mutation::MutationRoot;
pub use reads::SubscriptionRoot;

/// Every query: the Partner and audit ones, and the read models.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    query::PartnerQueries,
    reads::ReadQueries,
    proofs::ProofQueries,
    witnesses::WitnessQueries,
    knowledge::KnowledgeQueries,
);

pub type LarasSchema = Schema<QueryRoot, MutationRoot, SubscriptionRoot>;

/// What resolvers reach through the context.
#[derive(Clone)]
pub struct Api {
    pub ledger: Ledger,
    pub keys: Arc<dyn ApiKeys>,
    pub credentials: Arc<dyn ChannelCredentials>,
    /// Asks the platform whether a Partner's token controls the account it connects.
    pub prover: Arc<dyn AccountProver>,
    /// Receiving account → Partner (who holds accounts connected before claims existed).
    pub directory: Arc<ChannelDirectory>,
    pub read: ReadModels,
    /// The Merkle logs: tree heads and proofs.
    pub audit: laras_commands::audit::MerkleLog,
    /// Customers' files and the key of the links that serve them.
    pub media: MediaAccess,
    /// The AI worker's knowledge and generator, for "ask Laras" (`askLaras`): the same
    /// decision the worker makes for a customer's message, run without recording it.
    pub worker: laras_commands::worker::AiWorker,
    pub limits: Limits,
}

/// What the media route needs: the sealed files and the key that signs their links
/// (derived from the master key, so every node's links work on every node).
#[derive(Clone)]
pub struct MediaAccess {
    pub vault: laras_commands::media::MediaVault,
    pub link_key: laras_domain::sealed::SecretKey,
}

/// Bounds on what one request may ask.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Nested fields; graphql-js's standard introspection query needs 15.
    pub max_depth: usize,
    /// The request's cost: every selection counts, paged lists by their page size.
    pub max_complexity: usize,
    pub max_body_bytes: usize,
    /// A multipart request to `/graphql/upload` (a reply's file) at most.
    pub max_upload_bytes: usize,
    /// The query text, checked before it is parsed.
    pub max_query_bytes: usize,
    pub max_tokens: usize,
    /// Nested brackets, selection sets and fragment spreads.
    pub max_nesting: usize,
    pub max_aliases: usize,
    pub max_directives: usize,
    /// An answer larger than this is replaced by a `QUERY_TOO_COMPLEX` error.
    pub max_response_bytes: usize,
    /// Requests per second per key, with bursts up to `burst`.
    pub per_key_per_second: u32,
    pub burst: u32,
    /// `/graphql` requests per second from one IP address, before authentication (0:
    /// no limit), with bursts of twice as many.
    pub per_ip_per_second: u32,
    /// Failed authentications per minute from one IP address before its requests are
    /// refused unread (0: no limit).
    pub failed_auth_per_ip_per_minute: u32,
    /// Longest wait for a `minPosition` to become visible.
    pub max_wait_ms: u64,
    /// Largest page a list may return.
    pub max_page: usize,
    /// How long a new websocket has to send `connection_init` before it is closed (4408).
    pub ws_init_timeout_ms: u64,
    /// Operations running at once on one websocket.
    pub max_operations_per_socket: usize,
    /// Operations running at once on all of one key's websockets.
    pub max_subscriptions_per_key: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 10_000,
            max_body_bytes: 256 * 1024,
            max_upload_bytes: 16 * 1024 * 1024,
            max_query_bytes: 64 * 1024,
            max_tokens: 2_000,
            max_nesting: 32,
            max_aliases: 100,
            max_directives: 50,
            max_response_bytes: 4 * 1024 * 1024,
            per_key_per_second: 50,
            burst: 100,
            per_ip_per_second: 100,
            failed_auth_per_ip_per_minute: 30,
            max_wait_ms: 10_000,
            max_page: 200,
            ws_init_timeout_ms: 10_000,
            max_operations_per_socket: 100,
            max_subscriptions_per_key: 200,
        }
    }
}

pub fn build_schema(api: Api) -> LarasSchema {
    let limits = api.limits;
    let admission = Arc::new(crate::guard::Admission::new(limits, &sdl()));
    // Depth and cost are the guard's (it measures each fragment once); async-graphql's
    // own passes would expand fragment spreads first.
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot)
        .data(api)
        .extension(crate::guard::Guard(admission))
        .limit_recursive_depth(limits.max_nesting)
        .finish()
}

/// The schema in SDL, as committed in `graphql/schema.graphql`.
pub fn sdl() -> String {
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot).finish().sdl()
}

pub(crate) fn api<'a>(ctx: &'a async_graphql::Context<'_>) -> &'a Api {
    // Every schema is built by `build_schema`, which always puts the Api in.
    ctx.data_unchecked::<Api>()
}
