//! Checks that every event-store backend must pass when driven through the command side
//! (called by the in-memory tests here and by each backend's own tests).

use crate::directory::ChannelDirectory;
use crate::error::CommandError;
use crate::ledger::Ledger;
use crate::meta::CommandMeta;
use laras_domain::aggregate::channel_account::AccountClaim;
use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, OnboardPartner};
use laras_domain::aggregate::Aggregate;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{AccountProof, ApprovalMode, DomainEvent};
use laras_domain::ids::PartnerId;
use laras_domain::stream::StreamId;
use uuid::Uuid;

/// Two Partners connect the same account at the same moment, `rounds` times (a new account
/// each round): exactly one wins, the other is refused with its refusal recorded, the
/// account's claim stream names one holder, and the directory routes to it. Panics with
/// what went wrong (it is a test).
pub async fn two_partners_racing_for_one_account_never_both_hold_it(ledger: Ledger, rounds: usize) {
    let partners = [PartnerId(Uuid::from_u128(0xa11ce)), PartnerId(Uuid::from_u128(0xb0b))];
    let meta = CommandMeta::system("race");
    for (n, partner) in partners.iter().enumerate() {
        let onboard = OnboardPartner {
            partner_id: *partner,
            name: format!("Partner {n}"),
            approval: ApprovalMode::Approval,
            pipeline: default_pipeline(),
        };
        ledger.onboard_partner(onboard, &meta).await.expect("onboard");
    }
    let directory = ChannelDirectory::new(ledger.store.clone());
    for round in 0..rounds {
        let account = format!("10654035224{round}");
        let connect = |partner: PartnerId| {
            let (ledger, directory, meta, account) = (ledger.clone(), directory.clone(), meta.clone(), account.clone());
            tokio::spawn(async move {
                let command = ConnectChannel {
                    channel: ChannelKind::WhatsApp,
                    account_id: account.clone(),
                    display_name: String::new(),
                    proof: Some(AccountProof { account_id: account, name: None, phone_number: None }),
                };
                ledger.connect_channel(partner, command, &directory, &meta).await
            })
        };
        let (first, second) = (connect(partners[0]), connect(partners[1]));
        let outcomes = [first.await.expect("task"), second.await.expect("task")];
        let winners: Vec<PartnerId> =
            outcomes.iter().zip(partners).filter(|(o, _)| o.is_ok()).map(|(_, p)| p).collect();
        assert_eq!(winners.len(), 1, "round {round}: exactly one Partner wins, got {outcomes:?}");
        let loser = outcomes.iter().find(|o| o.is_err()).expect("a loser");
        assert!(
            matches!(loser, Err(CommandError::AccountHeld { position: Some(_) })),
            "round {round}: the loser is refused with a recorded refusal, got {loser:?}"
        );
        let stream = StreamId::channel_account(ChannelKind::WhatsApp, &account);
        let stored = ledger.store.read_stream(&stream, 0).await.expect("claim stream");
        let events: Vec<DomainEvent> = stored.iter().map(|s| s.envelope.event().expect("decodes")).collect();
        assert_eq!(events.len(), 1, "round {round}: one claim on the account, got {events:?}");
        assert!(stored.iter().all(|s| s.envelope.header.partner_id == PartnerId(Uuid::nil())));
        assert_eq!(AccountClaim::from_events(&events).holder, Some(winners[0]));
        directory.catch_up().await.expect("directory");
        let routed = directory.partner_for(ChannelKind::WhatsApp, &account, std::time::Duration::ZERO).await;
        assert_eq!(routed, Some(winners[0]), "round {round}: webhooks go to the holder");
    }
}
