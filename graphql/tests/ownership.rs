//! Channel ownership through GraphQL: proven tokens, and no takeover of another Partner's account.

mod common;

use common::*;
use laras_commands::handlers::inbound::{IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::CommandMeta;
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::DomainEvent;
use laras_domain::stream::StreamId;
use serde_json::json;
use std::time::Duration;

const CONNECT: &str = "mutation($c: Channel!, $a: String!, $t: String!) { connectChannel(channel: $c, accountId: $a, accessToken: $t) { position } }";

#[tokio::test]
async fn an_owner_connects_an_account_its_token_controls() {
    let w = world();
    let a = w.tenant(1).await;
    w.prover.grant("EAA-page", ChannelKind::Messenger, "5550");
    let r = w.run(Some(&a.owner), CONNECT, json!({"c": "MESSENGER", "a": "5550", "t": "EAA-page"})).await;
    assert!(ok(&r)["connectChannel"]["position"].as_u64().is_some());
    let r = w.run(Some(&a.owner), "{ partner { channels { channel accountId status } } }", json!({})).await;
    let channels = ok(&r)["partner"]["channels"].to_string();
    assert!(channels.contains("\"5550\""), "{channels}");
    let events = w.ledger.store.read_stream(&StreamId::partner(a.partner), 0).await.unwrap();
    let proven = events.iter().any(|s| {
        matches!(s.envelope.event(), Ok(DomainEvent::ChannelConnected { proof: Some(p), .. }) if p.account_id == "5550")
    });
    assert!(proven, "the platform's answer is recorded");
}

#[tokio::test]
async fn a_token_that_does_not_control_the_account_is_bad_input_and_records_nothing() {
    let w = world();
    let a = w.tenant(1).await;
    w.prover.grant("EAA-other", ChannelKind::Messenger, "7000");
    let before = w.event_count().await;
    for token in ["EAA-other", "made-up"] {
        let r = w.run(Some(&a.owner), CONNECT, json!({"c": "MESSENGER", "a": "5550", "t": token})).await;
        assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "{r}");
    }
    assert_eq!(w.event_count().await, before);
}

#[tokio::test]
async fn taking_over_another_partners_whatsapp_number_is_refused_and_its_webhooks_stay() {
    let w = world();
    let a = w.tenant(1).await; // holds WhatsApp "101"
    let b = w.tenant(2).await;
    // Even a token the platform accepts for the number does not move it.
    w.prover.grant("EAA-b", ChannelKind::WhatsApp, "101");
    let r = w.run(Some(&b.owner), CONNECT, json!({"c": "WHATSAPP", "a": "101", "t": "EAA-b"})).await;
    assert_eq!(code(&r).as_deref(), Some("CONFLICT"), "{r}");
    let text = r.to_string();
    assert!(!text.contains(&a.partner.to_string()), "the refusal does not name the holder: {text}");
    assert!(r["errors"][0]["extensions"]["position"].as_u64().is_some(), "the refusal is recorded: {text}");
    let refused = w.ledger.store.read_stream(&StreamId::partner(b.partner), 0).await.unwrap();
    assert!(refused.iter().any(|s| matches!(s.envelope.event(), Ok(DomainEvent::ChannelConnectRefused { .. }))));

    let r = w.run(Some(&b.owner), "{ partner { channels { accountId } } }", json!({})).await;
    assert!(!ok(&r)["partner"]["channels"].to_string().contains("\"101\""));

    // A webhook for the number still reaches A, and B sees nothing of it.
    w.directory.catch_up().await.unwrap();
    let routed = w.directory.partner_for(ChannelKind::WhatsApp, "101", Duration::from_secs(1)).await;
    assert_eq!(routed, Some(a.partner));
    let message = IncomingMessage {
        channel: ChannelKind::WhatsApp,
        account_id: "101".into(),
        sender: SenderIdentity { kind: IdentityKind::WaId, value: "628999".into(), name: Some("Sari".into()) },
        channel_message_id: "wamid.after".into(),
        sent_at: NOW,
        content: PlainContent::Text("pesanan rahasia toko satu".into()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    w.ledger.record_inbound_message(a.partner, message, &CommandMeta::system("webhook")).await.unwrap();
    w.sync().await;
    let inbox = "{ inbox(first: 50) { edges { node { lastMessage } } } }";
    let seen_by_a = w.run(Some(&a.owner), inbox, json!({})).await.to_string();
    let seen_by_b = w.run(Some(&b.owner), inbox, json!({})).await.to_string();
    assert!(seen_by_a.contains("pesanan rahasia"), "{seen_by_a}");
    assert!(!seen_by_b.contains("pesanan rahasia"), "{seen_by_b}");
}

#[tokio::test]
async fn an_owner_reconnects_its_own_number_with_a_new_token() {
    let w = world();
    let a = w.tenant(1).await;
    w.prover.grant("EAA-new", ChannelKind::WhatsApp, "101");
    let r = w.run(Some(&a.owner), CONNECT, json!({"c": "WHATSAPP", "a": "101", "t": "EAA-new"})).await;
    assert!(ok(&r)["connectChannel"]["position"].as_u64().is_some(), "{r}");
    let r = w.run(Some(&a.owner), "mutation { disconnectChannel(channel: WHATSAPP) { position } }", json!({})).await;
    ok(&r);
    let b = w.tenant(2).await;
    w.prover.grant("EAA-b", ChannelKind::WhatsApp, "101");
    let r = w.run(Some(&b.owner), CONNECT, json!({"c": "WHATSAPP", "a": "101", "t": "EAA-b"})).await;
    assert!(ok(&r)["connectChannel"]["position"].as_u64().is_some(), "a freed number can be connected: {r}");
}
