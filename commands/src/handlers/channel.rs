//! Channel connections: proven by the platform, and exclusive across Partners.
//!
//! A connection is one atomic append across the Partner's stream and the claim streams of
//! the accounts it touches, each at the version it was read at: two Partners racing for
//! one account both expect its claim stream as they read it, so only one append lands and
//! the other decides again, now seeing the holder.

use super::signing_keys::SYSTEM_PARTNER;
use crate::account_proof::AccountProver;
use crate::credentials::AccessToken;
use crate::directory::ChannelDirectory;
use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger, Loaded};
use crate::meta::CommandMeta;
use laras_domain::aggregate::channel_account::{AccountClaim, ChannelClaims, Holder};
use laras_domain::aggregate::partner::{ConnectChannel, DisconnectChannel, Partner};
use laras_domain::aggregate::Decide;
use laras_domain::channel::ChannelKind;
use laras_domain::event::DomainEvent;
use laras_domain::ids::PartnerId;
use laras_domain::stream::StreamId;

/// One account's claim stream as read for a decision.
struct ClaimRead {
    stream: StreamId,
    loaded: Loaded<AccountClaim>,
    holder: Holder,
}

impl Ledger {
    /// Connects a channel with the Partner's access token: asks the platform first (so a
    /// token that does not control the account learns nothing about who holds it), then
    /// records the connection with the platform's answer and claims the account.
    #[allow(clippy::too_many_arguments)]
    pub async fn connect_proven_channel(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        account_id: &str,
        display_name: &str,
        token: &AccessToken,
        prover: &dyn AccountProver,
        directory: &ChannelDirectory,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let proof = prover.prove(channel, account_id, token).await?;
        let display_name = match display_name.trim() {
            "" => proof.name.clone().unwrap_or_default(),
            given => given.to_owned(),
        };
        let command = ConnectChannel { channel, account_id: account_id.to_owned(), display_name, proof: Some(proof) };
        self.connect_channel(partner, command, directory, meta).await
    }

    /// Records a connection and claims the account; an account another Partner holds is
    /// refused with `AccountHeld`, and the refusal is recorded on this Partner's stream.
    /// Callers other than `connect_proven_channel` are operator seeding (demo, bench).
    pub async fn connect_channel(
        &self,
        partner: PartnerId,
        command: ConnectChannel,
        directory: &ChannelDirectory,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let partner_stream = StreamId::partner(partner);
        let (committed, refused) = self
            .with_retry(|| async {
                let loaded = self.load_owned::<Partner>(partner, &partner_stream).await?;
                let account = self.claim_of(command.channel, &command.account_id, Some(directory)).await?;
                let previous = match loaded.state.channels.get(&command.channel) {
                    Some(c) if c.account_id != command.account_id => {
                        Some(self.claim_of(command.channel, &c.account_id, None).await?)
                    }
                    _ => None,
                };
                let state = ChannelClaims {
                    partner: loaded.state.clone(),
                    account: account.holder,
                    previous: previous.as_ref().map_or(Holder::Free, |p| p.holder),
                };
                let events = command.decide(&state, self.clock.now())?;
                let refused = events.iter().any(|e| matches!(e, DomainEvent::ChannelConnectRefused { .. }));
                let decided = by_stream(partner_stream.clone(), &loaded, events, [Some(account), previous]);
                Ok((self.commit(partner, decided, meta, &EventIds::Fresh).await?, refused))
            })
            .await?;
        if refused {
            return Err(CommandError::AccountHeld { position: committed.last_position() });
        }
        Ok(committed)
    }

    /// Disconnects a channel and releases its account's claim.
    pub async fn disconnect_channel(
        &self,
        partner: PartnerId,
        command: DisconnectChannel,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let partner_stream = StreamId::partner(partner);
        self.with_retry(|| async {
            let loaded = self.load_owned::<Partner>(partner, &partner_stream).await?;
            let account = match loaded.state.channels.get(&command.channel) {
                Some(c) => Some(self.claim_of(command.channel, &c.account_id, None).await?),
                None => None,
            };
            let state = ChannelClaims {
                partner: loaded.state.clone(),
                account: account.as_ref().map_or(Holder::Free, |a| a.holder),
                previous: Holder::Free,
            };
            let events = command.decide(&state, self.clock.now())?;
            let decided = by_stream(partner_stream.clone(), &loaded, events, [account, None]);
            self.commit(partner, decided, meta, &EventIds::Fresh).await
        })
        .await
    }

    /// Who holds an account: its claim stream, or, when none was ever recorded and a
    /// directory is given, the Partner a connection from before claims routes it to.
    async fn claim_of(
        &self,
        channel: ChannelKind,
        account_id: &str,
        directory: Option<&ChannelDirectory>,
    ) -> Result<ClaimRead, CommandError> {
        let stream = StreamId::channel_account(channel, account_id);
        let loaded = self.load::<AccountClaim>(&stream).await?;
        let claim = loaded.head.map(|_| loaded.state);
        let legacy = match (claim, directory) {
            (None, Some(d)) => d.route_now(channel, account_id).await?,
            _ => None,
        };
        Ok(ClaimRead { stream, holder: Holder::of(claim, legacy), loaded })
    }
}

/// Sorts a channel decision's events onto their streams: claims and releases onto their
/// account's claim stream (a system stream), everything else onto the Partner's.
fn by_stream(
    partner_stream: StreamId,
    partner: &Loaded<Partner>,
    events: Vec<DomainEvent>,
    accounts: [Option<ClaimRead>; 2],
) -> Vec<Decided> {
    let accounts: Vec<ClaimRead> = accounts.into_iter().flatten().collect();
    let mut on_partner = Vec::new();
    let mut on_account: Vec<Vec<DomainEvent>> = vec![Vec::new(); accounts.len()];
    for event in events {
        let target = match &event {
            DomainEvent::ChannelAccountClaimed { channel, account_id, .. }
            | DomainEvent::ChannelAccountReleased { channel, account_id, .. } => {
                let stream = StreamId::channel_account(*channel, account_id);
                accounts.iter().position(|a| a.stream == stream)
            }
            _ => None,
        };
        match target {
            Some(i) => on_account[i].push(event),
            None => on_partner.push(event),
        }
    }
    let mut decided = vec![Decided::new(partner_stream, partner, on_partner)];
    for (account, events) in accounts.iter().zip(on_account) {
        decided.push(Decided::new(account.stream.clone(), &account.loaded, events).owned_by(SYSTEM_PARTNER));
    }
    decided
}
