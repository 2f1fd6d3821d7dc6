//! The Graph API account prover against the fake Graph API: which token controls which account.

use laras_adapters::graph_api::fake::FakeGraph;
use laras_adapters::graph_api::{GraphProver, GraphSettings};
use laras_commands::account_proof::{AccountProver, ProofError};
use laras_commands::credentials::AccessToken;
use laras_domain::channel::ChannelKind;
use std::time::Duration;

fn prover(base: &str) -> GraphProver {
    let settings = GraphSettings {
        base_url: base.to_owned(),
        threads_base_url: base.to_owned(),
        timeout: Duration::from_secs(2),
        ..GraphSettings::default()
    };
    GraphProver::new(settings).unwrap()
}

async fn prove(
    p: &GraphProver,
    channel: ChannelKind,
    account: &str,
    token: &str,
) -> Result<Option<String>, ProofError> {
    p.prove(channel, account, &AccessToken::new(token)).await.map(|proof| {
        assert_eq!(proof.account_id, account);
        proof.name
    })
}

#[tokio::test]
async fn a_token_that_controls_the_account_is_proven_on_every_channel() {
    let (fake, base) = FakeGraph::start();
    let p = prover(&base);
    for (channel, account) in [
        (ChannelKind::WhatsApp, "106540352242922"),
        (ChannelKind::Messenger, "109876543210987"),
        (ChannelKind::Instagram, "17841405822304914"),
        (ChannelKind::Threads, "78901"),
    ] {
        let token = format!("EAA-{channel}");
        fake.vouch(&token, account);
        assert!(prove(&p, channel, account, &token).await.unwrap().is_some(), "{channel}");
    }
    let lookups = fake.lookups();
    let paths: Vec<&str> = lookups.iter().map(|l| l.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/v21.0/106540352242922", "/v21.0/me", "/v21.0/17841405822304914", "/v1.0/me"],
        "WhatsApp and Instagram ask about the account, Messenger and Threads ask who the token is"
    );
    assert_eq!(lookups[0].authorization.as_deref(), Some("Bearer EAA-whatsapp"));
    assert!(fake.requests().is_empty(), "look-ups are not sends");
}

#[tokio::test]
async fn whatsapp_records_the_verified_name_and_the_display_number() {
    let (fake, base) = FakeGraph::start();
    fake.vouch("EAA", "1065");
    let proof = prover(&base).prove(ChannelKind::WhatsApp, "1065", &AccessToken::new("EAA")).await.unwrap();
    assert_eq!(proof.name.as_deref(), Some("Fake 1065"));
    assert_eq!(proof.phone_number.as_deref(), Some("+62 811-0000-0000"));
}

#[tokio::test]
async fn a_token_for_another_account_does_not_control_this_one() {
    let (fake, base) = FakeGraph::start();
    let p = prover(&base);
    fake.vouch("EAA-b", "2000");
    // Asked about the account: Meta answers error 100 (no such object or no permission).
    assert_eq!(prove(&p, ChannelKind::WhatsApp, "1065", "EAA-b").await, Err(ProofError::NotControlled));
    assert_eq!(prove(&p, ChannelKind::Instagram, "1065", "EAA-b").await, Err(ProofError::NotControlled));
    // Asked who the token is: it answers for another Page / Threads user.
    assert_eq!(prove(&p, ChannelKind::Messenger, "1065", "EAA-b").await, Err(ProofError::NotControlled));
    assert_eq!(prove(&p, ChannelKind::Threads, "1065", "EAA-b").await, Err(ProofError::NotControlled));
}

#[tokio::test]
async fn an_invalid_token_is_error_190() {
    let (_fake, base) = FakeGraph::start();
    let p = prover(&base);
    for channel in ChannelKind::ALL {
        assert_eq!(prove(&p, channel, "1065", "made-up").await, Err(ProofError::TokenInvalid { code: 190 }));
    }
}

#[tokio::test]
async fn an_unreachable_platform_is_reported_as_such() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let p = prover(&format!("http://127.0.0.1:{port}"));
    assert!(matches!(prove(&p, ChannelKind::WhatsApp, "1065", "EAA").await, Err(ProofError::Unreachable(_))));
}

#[tokio::test]
async fn an_account_id_that_is_not_an_id_never_reaches_a_url() {
    let (fake, base) = FakeGraph::start();
    let p = prover(&base);
    assert_eq!(prove(&p, ChannelKind::WhatsApp, "../me", "EAA").await, Err(ProofError::NotControlled));
    assert!(fake.lookups().is_empty());
}
