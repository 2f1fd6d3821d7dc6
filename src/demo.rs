//! `laras serve --demo`: a demo Partner (a coffee roastery in Bandung) with a few
//! realistic conversations on all four channels, so a newcomer sees a working inbox.
//!
//! The demo Partner's id is fixed, so a second `--demo` reuses it and only prints a
//! fresh owner key. Its channels have no access tokens: replies are recorded, and the
//! outbox records their delivery failure.

use crate::app::App;
use laras_commands::access::{ApiKeySecret, Role};
use laras_commands::handlers::inbound::{IncomingComment, IncomingMessage, PlainContent, SenderIdentity};
use laras_commands::CommandMeta;
use laras_domain::aggregate::article::PublishArticle;
use laras_domain::aggregate::opportunity::{MoveOpportunity, OpenOpportunity, WinOpportunity};
use laras_domain::aggregate::partner::{default_pipeline, ConnectChannel, OnboardPartner};
use laras_domain::blind::IdentityKind;
use laras_domain::channel::ChannelKind;
use laras_domain::event::{ApprovalMode, ArticleKind, DraftAuthor, Money, ReplyTarget};
use laras_domain::ids::{derived_uuid, ArticleId, OpportunityId, PartnerId};
use laras_domain::time::Timestamp;
use uuid::Uuid;

pub struct Demo {
    pub partner: PartnerId,
    pub owner_key: ApiKeySecret,
    pub seeded: bool,
}

const ACCOUNTS: [(ChannelKind, &str, &str); 4] = [
    (ChannelKind::WhatsApp, "demo-wa-106540352242922", "Kopi Laras (WhatsApp)"),
    (ChannelKind::Instagram, "demo-ig-17841400000000001", "@kopilaras"),
    (ChannelKind::Messenger, "demo-page-100000000000001", "Kopi Laras"),
    (ChannelKind::Threads, "demo-threads-9000000000001", "@kopilaras"),
];

fn account(channel: ChannelKind) -> String {
    ACCOUNTS.iter().find(|(c, ..)| *c == channel).map(|(_, a, _)| (*a).to_owned()).unwrap_or_default()
}

fn customer(kind: IdentityKind, value: &str, name: &str) -> SenderIdentity {
    SenderIdentity { kind, value: value.to_owned(), name: Some(name.to_owned()) }
}

/// Seeds the demo Partner once and creates an owner key for it.
pub async fn seed(app: &App) -> anyhow::Result<Demo> {
    let partner = PartnerId(derived_uuid("laras.demo", &[b"kopi-laras"]));
    let ledger = &app.ledger;
    let seeded = !ledger.partner(partner).await?.is_onboarded();
    if seeded {
        seed_history(app, partner).await?;
    }
    let (_, owner_key) = app.api_keys.create(partner, Role::Owner, "demo owner key")?;
    Ok(Demo { partner, owner_key, seeded })
}

async fn seed_history(app: &App, partner: PartnerId) -> anyhow::Result<()> {
    let ledger = &app.ledger;
    let system = CommandMeta::system("demo");
    let onboard = OnboardPartner {
        partner_id: partner,
        name: "Kopi Laras Roastery".into(),
        approval: ApprovalMode::Approval,
        pipeline: default_pipeline(),
    };
    ledger.onboard_partner(onboard, &system).await?;
    let directory = laras_commands::directory::ChannelDirectory::new(ledger.store.clone());
    for (channel, account_id, display_name) in ACCOUNTS {
        // Operator-seeded: the demo has no tokens, so no proof is recorded; the accounts
        // are still claimed, so no Partner can connect them later.
        let command = ConnectChannel {
            channel,
            account_id: account_id.to_owned(),
            display_name: display_name.to_owned(),
            proof: None,
        };
        ledger.connect_channel(partner, command, &directory, &system).await?;
    }
    let article = PublishArticle {
        article_id: ArticleId(Uuid::now_v7()),
        kind: ArticleKind::Faq,
        title: "Opening hours and delivery".into(),
        body: "We roast Monday to Saturday, 08:00-17:00 WIB. Orders before 14:00 ship the same day \
               across Bandung; Jabodetabek next day. Free delivery above Rp 250.000."
            .into(),
        tags: vec!["hours".into(), "delivery".into()],
    };
    ledger.publish_article(partner, article, &system).await?;
    let more = [
        (
            ArticleKind::Product,
            "Kintamani natural roast",
            "Our Kintamani natural is a light roast with orange and brown-sugar notes. 250 g Rp 95.000, \
             1 kg Rp 340.000. For a V60, grind medium-fine (like table salt).",
            vec!["kintamani".to_owned(), "grind".to_owned()],
        ),
        (
            ArticleKind::Policy,
            "Damaged or torn bags",
            "If a bag arrives torn or damaged, send us a photo of it within 3 days of delivery and we \
             replace it free, shipped the same day.",
            vec!["returns".to_owned()],
        ),
    ];
    for (kind, title, body, tags) in more {
        let article = PublishArticle {
            article_id: ArticleId(Uuid::now_v7()),
            kind,
            title: title.into(),
            body: body.into(),
            tags,
        };
        ledger.publish_article(partner, article, &system).await?;
    }

    let now = ledger.clock.now();
    let minutes_ago = |m: i64| Timestamp(now.0 - m * 60_000);
    let message = |channel, sender: SenderIdentity, id: &str, minutes: i64, text: &str| IncomingMessage {
        channel,
        account_id: account(channel),
        sender,
        channel_message_id: id.to_owned(),
        sent_at: minutes_ago(minutes),
        content: PlainContent::Text(text.to_owned()),
        reply_to: None,
        context: Default::default(),
        also: vec![],
    };
    let customer_meta = CommandMeta::system("webhook");

    // WhatsApp, in Indonesian: a wholesale enquiry that becomes a won deal.
    let sari = customer(IdentityKind::WaId, "6281234567890", "Sari Wulandari");
    let wa = ledger
        .record_inbound_message(
            partner,
            message(
                ChannelKind::WhatsApp,
                sari.clone(),
                "wamid.DEMO1",
                95,
                "Halo kak, biji kopi Gayo 1 kg ready? Mau pesan 10 kg untuk kafe saya.",
            ),
            &customer_meta,
        )
        .await?;
    ledger.score_sentiment(partner, wa.conversation_id, "wamid.DEMO1", 0.6, "demo-lexicon", &system).await?;
    let deal = OpportunityId(Uuid::now_v7());
    let open = OpenOpportunity {
        opportunity_id: deal,
        contact_id: wa.contact_id,
        conversation_id: Some(wa.conversation_id),
        title: "Gayo 10 kg for Kafe Senja".into(),
        stage: None,
        value: Money { minor_units: 280_000_000, currency: "IDR".into() },
    };
    ledger.open_opportunity(partner, open, &system).await?;
    ledger.on_opportunity(partner, deal, &MoveOpportunity { to: "proposal".into() }, &system).await?;
    ledger
        .record_inbound_message(
            partner,
            message(ChannelKind::WhatsApp, sari, "wamid.DEMO2", 60, "Oke kak, saya ambil 10 kg. Transfer hari ini ya."),
            &customer_meta,
        )
        .await?;
    ledger.score_sentiment(partner, wa.conversation_id, "wamid.DEMO2", 0.8, "demo-lexicon", &system).await?;
    ledger.on_opportunity(partner, deal, &WinOpportunity { value: None }, &system).await?;
    ledger.add_note(partner, wa.contact_id, "Owns Kafe Senja on Jl. Braga; prefers Friday delivery.", &system).await?;

    // Instagram: a DM waiting for approval of the AI worker's draft, and a public comment.
    let budi = customer(IdentityKind::Igsid, "17841455550000001", "budi.santoso");
    let ig = ledger
        .record_inbound_message(
            partner,
            message(
                ChannelKind::Instagram,
                budi.clone(),
                "aWdfZAG1fZAGVtb19kZAW1vMQ",
                20,
                "Do you ship to Jakarta? How long does it take?",
            ),
            &customer_meta,
        )
        .await?;
    let author = DraftAuthor::AiWorker {
        generator: "demo".into(),
        model: "demo".into(),
        prompt_hash: String::new(),
        article_ids: Vec::new(),
        confidence: 0.82,
        latency_ms: 0,
    };
    ledger
        .propose_draft(
            partner,
            ig.conversation_id,
            author,
            "Yes! Orders placed before 14:00 ship the same day and reach Jakarta the next day. Free delivery above Rp 250.000.",
            ReplyTarget::Conversation { quote: None },
            &CommandMeta::new(laras_domain::actor::Actor::AiWorker { generator: "demo".into() }),
        )
        .await?;
    let comment = IncomingComment {
        channel: ChannelKind::Instagram,
        account_id: account(ChannelKind::Instagram),
        sender: customer(IdentityKind::Igsid, "17841455550000002", "rina.kopi"),
        post_id: "17900000000000001".into(),
        comment_id: "17950000000000001".into(),
        parent_id: None,
        text: "Is the Kintamani roast still available? 😍".into(),
        sent_at: minutes_ago(45),
    };
    let rina = ledger.record_public_comment(partner, comment, &customer_meta).await?;

    // Messenger: an unhappy customer.
    let dewi = customer(IdentityKind::Psid, "24000000000000001", "Dewi Lestari");
    let fb = ledger
        .record_inbound_message(
            partner,
            message(
                ChannelKind::Messenger,
                dewi,
                "m_DEMO-messenger-1",
                150,
                "My order #1042 arrived with a torn bag. Can you replace it?",
            ),
            &customer_meta,
        )
        .await?;
    ledger.score_sentiment(partner, fb.conversation_id, "m_DEMO-messenger-1", -0.7, "demo-lexicon", &system).await?;

    // Open deals in every stage but the last, so the pipeline board has something in its columns.
    let deals = [
        (ig.contact_id, Some(ig.conversation_id), "Monthly beans, 2 kg", "qualified", 56_000_000),
        (rina.contact_id, Some(rina.conversation_id), "Kintamani 5 kg", "negotiation", 170_000_000),
        (fb.contact_id, Some(fb.conversation_id), "Replacement and 1 kg Kintamani", "lead", 34_000_000),
    ];
    for (contact_id, conversation_id, title, stage, minor_units) in deals {
        let open = OpenOpportunity {
            opportunity_id: OpportunityId(Uuid::now_v7()),
            contact_id,
            conversation_id,
            title: title.into(),
            stage: Some(stage.into()),
            value: Money { minor_units, currency: "IDR".into() },
        };
        ledger.open_opportunity(partner, open, &system).await?;
    }

    // Threads: a public reply under the roastery's post.
    let reply = IncomingComment {
        channel: ChannelKind::Threads,
        account_id: account(ChannelKind::Threads),
        sender: customer(IdentityKind::ThreadsUserId, "9000000000000077", "andi.brews"),
        post_id: "18000000000000001".into(),
        comment_id: "18000000000000002".into(),
        parent_id: Some("18000000000000001".into()),
        text: "What grind do you recommend for a V60?".into(),
        sent_at: minutes_ago(10),
    };
    ledger.record_public_comment(partner, reply, &customer_meta).await?;
    Ok(())
}
