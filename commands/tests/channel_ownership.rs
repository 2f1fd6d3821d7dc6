//! Channel accounts are proven by the platform and held by one Partner at a time.

use laras_commands::account_proof::ProofError;
use laras_commands::credentials::AccessToken;
use laras_commands::directory::ChannelDirectory;
use laras_commands::memory::MemoryProver;
use laras_commands::{CommandError, CommandMeta, Ledger};
use laras_domain::aggregate::channel_account::AccountClaim;
use laras_domain::aggregate::partner::{default_pipeline, DisconnectChannel, OnboardPartner};
use laras_domain::aggregate::Aggregate;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{ApprovalMode, ConnectRefusal, DomainEvent};
use laras_domain::ids::PartnerId;
use laras_domain::stream::StreamId;
use laras_domain::time::Timestamp;
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const WA: ChannelKind = ChannelKind::WhatsApp;
const A: PartnerId = PartnerId(Uuid::from_u128(0xa));
const B: PartnerId = PartnerId(Uuid::from_u128(0xb));

struct Rig {
    ledger: Ledger,
    prover: MemoryProver,
    directory: Arc<ChannelDirectory>,
}

impl Rig {
    async fn new(partners: &[PartnerId]) -> Rig {
        let ledger = laras_commands::memory::ledger_at(NOW);
        for p in partners {
            let onboard = OnboardPartner {
                partner_id: *p,
                name: "Toko".into(),
                approval: ApprovalMode::Approval,
                pipeline: default_pipeline(),
            };
            ledger.onboard_partner(onboard, &meta()).await.unwrap();
        }
        let directory = ChannelDirectory::new(ledger.store.clone());
        Rig { ledger, prover: MemoryProver::default(), directory }
    }

    async fn connect(&self, partner: PartnerId, account: &str, token: &str) -> Result<u64, CommandError> {
        let token = AccessToken::new(token);
        let committed = self
            .ledger
            .connect_proven_channel(partner, WA, account, "", &token, &self.prover, &self.directory, &meta())
            .await?;
        Ok(committed.last_position().unwrap_or(0))
    }

    async fn disconnect(&self, partner: PartnerId) -> Result<(), CommandError> {
        self.ledger.disconnect_channel(partner, DisconnectChannel { channel: WA }, &meta()).await.map(|_| ())
    }

    async fn routed(&self, account: &str) -> Option<PartnerId> {
        self.directory.catch_up().await.unwrap();
        self.directory.partner_for(WA, account, Duration::ZERO).await
    }

    async fn holder(&self, account: &str) -> Option<PartnerId> {
        let stream = StreamId::channel_account(WA, account);
        let events: Vec<DomainEvent> = self
            .ledger
            .store
            .read_stream(&stream, 0)
            .await
            .unwrap()
            .iter()
            .map(|s| s.envelope.event().unwrap())
            .collect();
        AccountClaim::from_events(&events).holder
    }

    async fn partner_events(&self, partner: PartnerId) -> Vec<DomainEvent> {
        let stored = self.ledger.store.read_stream(&StreamId::partner(partner), 0).await.unwrap();
        stored.iter().map(|s| s.envelope.event().unwrap()).collect()
    }

    async fn head(&self) -> u64 {
        *self.ledger.store.head().borrow()
    }
}

fn meta() -> CommandMeta {
    CommandMeta::system("test")
}

#[tokio::test]
async fn a_proven_connection_records_what_the_platform_answered_and_claims_the_account() {
    let rig = Rig::new(&[A]).await;
    rig.prover.grant("EAA-a", WA, "1065");
    rig.connect(A, "1065", "EAA-a").await.unwrap();
    let connected = rig.partner_events(A).await.into_iter().find_map(|e| match e {
        DomainEvent::ChannelConnected { proof, display_name, .. } => Some((proof, display_name)),
        _ => None,
    });
    let (proof, display_name) = connected.expect("a connection");
    assert_eq!(proof.map(|p| p.account_id), Some("1065".to_owned()));
    assert_eq!(display_name, "account 1065", "the platform's name when the Partner gave none");
    assert_eq!(rig.holder("1065").await, Some(A));
    assert_eq!(rig.routed("1065").await, Some(A));
}

#[tokio::test]
async fn a_token_that_does_not_control_the_account_changes_nothing() {
    let rig = Rig::new(&[A, B]).await;
    rig.prover.grant("EAA-b", WA, "2000");
    let before = rig.head().await;
    assert!(matches!(rig.connect(B, "1065", "EAA-b").await, Err(CommandError::Proof(ProofError::NotControlled))));
    assert!(matches!(
        rig.connect(B, "1065", "made-up").await,
        Err(CommandError::Proof(ProofError::TokenInvalid { code: 190 }))
    ));
    assert_eq!(rig.head().await, before, "nothing recorded");
}

#[tokio::test]
async fn taking_over_another_partners_account_is_refused_recorded_and_moves_no_webhooks() {
    let rig = Rig::new(&[A, B]).await;
    rig.prover.grant("EAA-a", WA, "1065");
    rig.prover.grant("EAA-b", WA, "1065");
    rig.connect(A, "1065", "EAA-a").await.unwrap();
    let refused = rig.connect(B, "1065", "EAA-b").await;
    let Err(CommandError::AccountHeld { position: Some(_) }) = refused else { panic!("refused: {refused:?}") };
    let b_events = rig.partner_events(B).await;
    assert!(b_events.contains(&DomainEvent::ChannelConnectRefused {
        channel: WA,
        account_id: "1065".into(),
        reason: ConnectRefusal::AccountHeldElsewhere,
    }));
    assert!(!b_events.iter().any(|e| matches!(e, DomainEvent::ChannelConnected { .. })));
    assert_eq!(rig.holder("1065").await, Some(A));
    assert_eq!(rig.routed("1065").await, Some(A));
}

#[tokio::test]
async fn a_stranger_with_a_bad_token_cannot_tell_whether_an_account_is_held() {
    let rig = Rig::new(&[A, B]).await;
    rig.prover.grant("EAA-a", WA, "1065");
    rig.prover.grant("EAA-b", WA, "2000");
    rig.connect(A, "1065", "EAA-a").await.unwrap();
    // Held or free, a token that does not control the account gets the same answer.
    let held = rig.connect(B, "1065", "EAA-b").await;
    let free = rig.connect(B, "3000", "EAA-b").await;
    assert!(matches!(held, Err(CommandError::Proof(ProofError::NotControlled))));
    assert!(matches!(free, Err(CommandError::Proof(ProofError::NotControlled))));
}

#[tokio::test]
async fn reconnecting_ones_own_account_with_a_new_token_records_a_fresh_proof() {
    let rig = Rig::new(&[A]).await;
    rig.prover.grant("EAA-old", WA, "1065");
    rig.prover.grant("EAA-new", WA, "1065");
    rig.connect(A, "1065", "EAA-old").await.unwrap();
    rig.connect(A, "1065", "EAA-new").await.unwrap();
    let events = rig.partner_events(A).await;
    assert_eq!(events.iter().filter(|e| matches!(e, DomainEvent::ChannelConnected { .. })).count(), 2);
    let claims = rig.ledger.store.read_stream(&StreamId::channel_account(WA, "1065"), 0).await.unwrap();
    assert_eq!(claims.len(), 1, "the claim is not repeated");
    assert_eq!(rig.routed("1065").await, Some(A));
}

#[tokio::test]
async fn disconnecting_frees_the_account_for_another_partner() {
    let rig = Rig::new(&[A, B]).await;
    rig.prover.grant("EAA-a", WA, "1065");
    rig.prover.grant("EAA-b", WA, "1065");
    rig.connect(A, "1065", "EAA-a").await.unwrap();
    rig.disconnect(A).await.unwrap();
    assert_eq!(rig.holder("1065").await, None);
    assert_eq!(rig.routed("1065").await, None);
    rig.connect(B, "1065", "EAA-b").await.unwrap();
    assert_eq!(rig.routed("1065").await, Some(B));
}

#[tokio::test]
async fn connecting_another_account_releases_the_old_one() {
    let rig = Rig::new(&[A, B]).await;
    rig.prover.grant("EAA-a", WA, "1065");
    rig.prover.grant("EAA-a", WA, "2077");
    rig.prover.grant("EAA-b", WA, "1065");
    rig.connect(A, "1065", "EAA-a").await.unwrap();
    rig.connect(A, "2077", "EAA-a").await.unwrap();
    assert_eq!(rig.holder("1065").await, None);
    assert_eq!(rig.routed("1065").await, None, "the old account's webhooks no longer go to A");
    assert_eq!(rig.routed("2077").await, Some(A));
    rig.connect(B, "1065", "EAA-b").await.unwrap();
    assert_eq!(rig.routed("1065").await, Some(B));
}

#[tokio::test]
async fn an_account_connected_before_claims_existed_is_held_by_its_connector() {
    let rig = Rig::new(&[A, B]).await;
    legacy_connection(&rig, A, "1065").await;
    rig.prover.grant("EAA-a", WA, "1065");
    rig.prover.grant("EAA-b", WA, "1065");
    assert!(matches!(rig.connect(B, "1065", "EAA-b").await, Err(CommandError::AccountHeld { .. })));
    assert_eq!(rig.routed("1065").await, Some(A));
    // A reconnecting records the claim it never had.
    rig.connect(A, "1065", "EAA-a").await.unwrap();
    assert_eq!(rig.holder("1065").await, Some(A));
}

/// A log from before claims: `partner`'s ChannelConnected for `account` and nothing else.
async fn legacy_connection(rig: &Rig, partner: PartnerId, account: &str) {
    let legacy = DomainEvent::ChannelConnected {
        channel: WA,
        account_id: account.into(),
        display_name: "Toko".into(),
        proof: None,
    };
    let stream = StreamId::partner(partner);
    let loaded = rig.ledger.load::<laras_domain::aggregate::partner::Partner>(&stream).await.unwrap();
    let decided = laras_commands::ledger::Decided::new(stream, &loaded, vec![legacy]);
    rig.ledger.commit(partner, vec![decided], &meta(), &laras_commands::ledger::EventIds::Fresh).await.unwrap();
}

#[tokio::test]
async fn an_account_connected_before_claims_is_freed_when_its_partner_moves_to_another() {
    let rig = Rig::new(&[A, B]).await;
    legacy_connection(&rig, A, "1065").await;
    rig.prover.grant("EAA-a", WA, "2077");
    rig.prover.grant("EAA-b", WA, "1065");
    rig.connect(A, "2077", "EAA-a").await.unwrap();
    assert_eq!(rig.routed("1065").await, None, "A left the old account");
    rig.connect(B, "1065", "EAA-b").await.unwrap();
    assert_eq!(rig.routed("1065").await, Some(B));
    assert_eq!(rig.routed("2077").await, Some(A));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_partners_racing_for_one_account_never_both_hold_it_in_memory() {
    let ledger = laras_commands::memory::ledger_at(NOW);
    laras_commands::contract::two_partners_racing_for_one_account_never_both_hold_it(ledger, 50).await;
}

#[derive(Clone, Debug)]
enum Op {
    Connect(usize, usize),
    Disconnect(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        3 => (0..3usize, 0..3usize).prop_map(|(p, a)| Op::Connect(p, a)),
        1 => (0..3usize).prop_map(Op::Disconnect),
    ];
    proptest::collection::vec(op, 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever three Partners do with three accounts, each account has at most one holder,
    /// the directory routes it to exactly that holder, and a Partner is refused only when
    /// another holds the account.
    #[test]
    fn every_account_has_at_most_one_holder_and_webhooks_follow_it(ops in ops()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let partners = [A, B, PartnerId(Uuid::from_u128(0xc))];
            let accounts = ["100", "200", "300"];
            let rig = Rig::new(&partners).await;
            for p in partners {
                for a in accounts {
                    rig.prover.grant(&format!("tok-{p}"), WA, a);
                }
            }
            for op in ops {
                match op {
                    Op::Connect(p, a) => {
                        let before = rig.holder(accounts[a]).await;
                        let outcome = rig.connect(partners[p], accounts[a], &format!("tok-{}", partners[p])).await;
                        match before {
                            Some(h) if h != partners[p] => {
                                assert!(matches!(outcome, Err(CommandError::AccountHeld { .. })), "{outcome:?}")
                            }
                            _ => assert!(outcome.is_ok(), "{outcome:?}"),
                        }
                    }
                    Op::Disconnect(p) => {
                        let _ = rig.disconnect(partners[p]).await;
                    }
                }
                for a in accounts {
                    let holder = rig.holder(a).await;
                    assert_eq!(rig.routed(a).await, holder, "account {a}");
                    if let Some(h) = holder {
                        let state = rig.ledger.partner(h).await.unwrap();
                        let channel = state.channels.get(&WA).expect("the holder has the channel");
                        assert_eq!(channel.account_id, a);
                    }
                }
            }
        });
    }
}
