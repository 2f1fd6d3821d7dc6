//! Witnesses (ADR 013): the Partner's owner names them, a witness sends its cosignature
//! of a tree head with an AUDITOR key, and every head is served with its cosignatures.

use super::api;
use super::proofs::blocking;
use super::types::Written;
use crate::auth::{meta_for, partner_in, AUDIT, OWNERS};
use crate::error::{ApiError, OrApi};
use async_graphql::{Context, InputObject, Object, SimpleObject};
use laras_commands::cosignatures::NamedCosignature;
use laras_domain::aggregate::witnesses::RegisterWitness;
use laras_domain::cosignature::{parse_key_hex, Cosignature, WitnessKey};

/// A witness the Partner registered.
#[derive(SimpleObject)]
#[graphql(name = "Witness")]
pub struct WitnessView {
    pub name: String,
    /// The raw 32-byte Ed25519 key, hex.
    pub public_key: String,
    /// The signed-note verifier key `<name>+<key id>+<base64(0x04 ‖ key)>`.
    pub vkey: String,
}

impl From<&WitnessKey> for WitnessView {
    fn from(w: &WitnessKey) -> Self {
        Self { name: w.name.clone(), public_key: hex::encode(w.public.as_bytes()), vkey: w.vkey() }
    }
}

/// A witness's cosignature of a tree state (C2SP tlog-cosignature v1, Ed25519).
#[derive(SimpleObject)]
#[graphql(name = "Cosignature")]
pub struct CosignatureView {
    pub witness_name: String,
    /// Hex.
    pub witness_key: String,
    pub tree_size: u64,
    /// Hex.
    pub root_hash: String,
    /// When the witness cosigned, POSIX seconds.
    pub timestamp: u64,
    /// Hex of the 64-byte Ed25519 signature over the cosigned message.
    pub signature: String,
    /// The signed-note signature line to append to the checkpoint.
    pub note_line: String,
}

impl From<&NamedCosignature> for CosignatureView {
    fn from(n: &NamedCosignature) -> Self {
        let c = &n.cosignature;
        Self {
            witness_name: n.witness_name.clone(),
            witness_key: hex::encode(c.witness.as_bytes()),
            tree_size: c.tree_size,
            root_hash: hex::encode(c.root_hash),
            timestamp: c.timestamp,
            signature: hex::encode(c.signature),
            note_line: c.note_line(&n.witness_name),
        }
    }
}

/// A cosignature as a witness sends it.
#[derive(InputObject)]
pub struct CosignatureInput {
    /// The witness's key, 64 lowercase hex digits (registered by the Partner's owner).
    pub witness_key: String,
    pub tree_size: u64,
    /// 64 lowercase hex digits.
    pub root_hash: String,
    /// POSIX seconds.
    pub timestamp: u64,
    /// 128 lowercase hex digits.
    pub signature: String,
}

#[derive(Default)]
pub struct WitnessQueries;

#[Object]
impl WitnessQueries {
    /// The witnesses the Partner registered, in the order named.
    async fn witnesses(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WitnessView>> {
        let (partner, _) = partner_in(ctx, AUDIT)?;
        let state = api(ctx).ledger.partner(partner).await.api()?;
        Ok(state.witnesses.iter().map(Into::into).collect())
    }
}

/// `registerWitness`: an event on the Partner's stream, so auditors see whom it named.
pub async fn register(ctx: &Context<'_>, name: String, public_key: String) -> async_graphql::Result<Written> {
    let (partner, key) = partner_in(ctx, OWNERS)?;
    let committed =
        api(ctx).ledger.register_witness(partner, RegisterWitness { name, public_key }, &meta_for(key)).await.api()?;
    Ok(Written::at(&committed))
}

/// `submitCosignature`: kept when a registered witness signed a state Laras signed a head for.
pub async fn submit(ctx: &Context<'_>, input: CosignatureInput) -> async_graphql::Result<CosignatureView> {
    let (partner, _) = partner_in(ctx, AUDIT)?;
    let bad =
        |field: &str| ApiError::bad_input(format!("{field} is not lowercase hex of the right length")).into_graphql();
    let witness = parse_key_hex(&input.witness_key).ok_or_else(|| bad("witnessKey"))?;
    let root_hash = lower_hex::<32>(&input.root_hash).ok_or_else(|| bad("rootHash"))?;
    let signature = lower_hex::<64>(&input.signature).ok_or_else(|| bad("signature"))?;
    let cosignature =
        Cosignature { partner, tree_size: input.tree_size, root_hash, witness, timestamp: input.timestamp, signature };
    let witnesses = api(ctx).ledger.partner(partner).await.api()?.witnesses;
    let kept = blocking(ctx, move |log| log.accept_cosignature(&witnesses, cosignature)).await?;
    Ok((&kept).into())
}

fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    hex::decode(text).ok()?.try_into().ok()
}
