//! The GraphQL schema: one module per root type, shared value types in `types`.

mod audit;
mod mutation;
mod proofs;
mod query;
mod read;
mod reads;
pub mod types;

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
pub struct QueryRoot(query::PartnerQueries, reads::ReadQueries, proofs::ProofQueries);

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
    pub limits: Limits,
}

/// Bounds on what one request may ask.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_body_bytes: usize,
    /// Requests per second per key, with bursts up to `burst`.
    pub per_key_per_second: u32,
    pub burst: u32,
    /// Longest wait for a `minPosition` to become visible.
    pub max_wait_ms: u64,
    /// Largest page a list may return.
    pub max_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 12,
            max_complexity: 2_000,
            max_body_bytes: 256 * 1024,
            per_key_per_second: 50,
            burst: 100,
            max_wait_ms: 10_000,
            max_page: 200,
        }
    }
}

pub fn build_schema(api: Api) -> LarasSchema {
    let limits = api.limits;
    Schema::build(QueryRoot::default(), MutationRoot, SubscriptionRoot)
        .data(api)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
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
