//! Meta webhook payloads → signals: one helper, one line per fixture.

use laras_adapters::meta_webhook::{parse, Signal, WebhookBatch};
use laras_commands::handlers::inbound::{PlainContent, PlainContext};
use laras_domain::event::DeliveryStatus;
use laras_domain::time::Timestamp;
use proptest::prelude::*;

const RECEIVED: Timestamp = Timestamp(1_767_225_600_000);

fn content(c: &PlainContent) -> String {
    match c {
        PlainContent::Text(t) => format!("text {t:?}"),
        PlainContent::Image { media, caption, .. } => format!("image {media} caption={caption:?}"),
        PlainContent::VoiceNote { media, .. } => format!("voice {media}"),
        PlainContent::Attachment { attachment, media, caption, .. } => {
            format!("{attachment:?} {media} caption={caption:?}")
        }
        PlainContent::Location { place_json } => format!("location {}", place_json.contains("37.483307")),
        PlainContent::SharedContacts { cards_json } => format!("contacts {}", cards_json.contains("Barbara")),
        PlainContent::InteractiveReply { reply_id, title } => format!("interactive {reply_id} {title:?}"),
        PlainContent::ButtonReply { payload, text } => format!("button {payload} {text:?}"),
        PlainContent::FlowReply { name, response_json } => format!("flow {name:?} {response_json}"),
        PlainContent::Order { catalog_id, note, items } => {
            let items: Vec<String> = items
                .iter()
                .map(|i| format!("{}x{}@{}{}", i.quantity, i.product_retailer_id, i.item_price, i.currency))
                .collect();
            format!("order {catalog_id} {} note={note:?}", items.join(","))
        }
        PlainContent::Shared { share, title, url } => format!("shared {share} {title:?} {url:?}"),
        PlainContent::Unsupported { kind } => format!("unsupported {kind}"),
    }
}

fn also(ids: &[laras_commands::handlers::inbound::SenderIdentity]) -> String {
    ids.iter().map(|i| format!(" +{}:{}", i.kind.as_str(), i.value)).collect()
}

fn context(c: &PlainContext) -> String {
    let mut out = String::new();
    if let Some(g) = &c.group_id {
        out.push_str(&format!(" group={g}"));
    }
    if let Some(r) = &c.referral {
        out.push_str(&format!(
            " referral={}/{:?}/{:?}/{:?}/{:?}/clid={}",
            r.source_type,
            r.source_id,
            r.source_url,
            r.headline,
            r.body,
            r.ctwa_clid.is_some()
        ));
    }
    if let Some(st) = &c.story {
        out.push_str(&format!(" story(mention={} id={:?} url={:?})", st.mention, st.id, st.url));
    }
    if c.standby {
        out.push_str(" standby");
    }
    out
}

fn status(s: &DeliveryStatus) -> String {
    match s {
        DeliveryStatus::Failed { code, .. } => format!("failed {code}"),
        other => format!("{other:?}").to_lowercase(),
    }
}

/// One line per signal: what the command side will be asked to record.
fn summary(fixture: &str) -> Vec<String> {
    let path = format!("{}/tests/fixtures/meta/{fixture}.json", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|_| panic!("fixture {path}"));
    lines(&parse(&body, RECEIVED).unwrap())
}

fn lines(batch: &WebhookBatch) -> Vec<String> {
    let mut lines: Vec<String> = batch
        .signals
        .iter()
        .map(|s| match s {
            Signal::Message(m) => format!(
                "{} {} message {} from {}({:?}){} at {} reply_to={:?}: {}{}",
                m.channel,
                m.account_id,
                m.channel_message_id,
                m.sender.value,
                m.sender.name,
                also(&m.also),
                m.sent_at.0,
                m.reply_to,
                content(&m.content),
                context(&m.context)
            ),
            Signal::Comment(c) => format!(
                "{} {} comment {} on {} by {}({:?}) parent={:?} at {}: {:?}",
                c.channel,
                c.account_id,
                c.comment_id,
                c.post_id,
                c.sender.value,
                c.sender.name,
                c.parent_id,
                c.sent_at.0,
                c.text
            ),
            Signal::Echo(e) => format!(
                "{} {} echo {} to {}: {:?}{}",
                e.channel,
                e.account_id,
                e.channel_message_id,
                e.recipient.value,
                e.text,
                e.attachments.iter().map(|a| format!(" [{} {:?} {:?}]", a.kind, a.title, a.url)).collect::<String>()
            ),
            Signal::Status(s) => format!(
                "{} {} status {} of {} for {}",
                s.channel,
                s.account_id,
                status(&s.status),
                s.platform_message_id,
                s.recipient.value
            ),
            Signal::Reaction(r) => format!(
                "{} {} reaction {} by {}{} to {} at {}: {:?}",
                r.channel,
                r.account_id,
                r.reaction_id,
                r.sender.value,
                also(&r.also),
                r.to_message,
                r.sent_at.0,
                r.emoji
            ),
            Signal::IdentityChange(i) => format!(
                "{} {} identity change {} of {} to {} {}",
                i.channel,
                i.account_id,
                i.channel_message_id,
                i.sender.value,
                i.new_identity.kind.as_str(),
                i.new_identity.value
            ),
            Signal::ThreadControl(t) => format!(
                "{} {} thread control for {}: laras={} app={:?} at {}",
                t.channel, t.account_id, t.customer.value, t.held_by_laras, t.app_id, t.at.0
            ),
            Signal::Watermark(w) => {
                format!(
                    "{} {} watermark {} for {} at {}",
                    w.channel,
                    w.account_id,
                    status(&w.status),
                    w.customer.value,
                    w.watermark.0
                )
            }
        })
        .collect();
    lines.extend(batch.ignored.iter().map(|i| format!("ignored: {}", i.reason)));
    lines.extend(batch.malformed.iter().map(|m| {
        format!("malformed {} at {} of {}: {}", m.kind, m.position, m.account.as_deref().unwrap_or("-"), m.reason)
    }));
    lines
}

#[track_caller]
fn check(fixture: &str, expected: &[&str]) {
    assert_eq!(summary(fixture), expected, "fixture {fixture}");
}

const WA: &str = "whatsapp 106540352242922 message";

#[test]
fn whatsapp_messages_of_every_type() {
    let from = "from 16505551234(Some(\"Sheena Nelson\"))";
    check("wa_text", &[&format!("{WA} wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA= {from} at 1749416383000 reply_to=None: text \"Does it come in another color?\"")]);
    check("wa_image", &[&format!("{WA} wamid.IMG {from} at 1744344496000 reply_to=None: image 1003383421387256 caption=Some(\"This is the one\")")]);
    check("wa_voice", &[&format!("{WA} wamid.VOICE {from} at 1744344496000 reply_to=None: voice 1003383421387257")]);
    check(
        "wa_document",
        &[&format!(
            "{WA} wamid.DOC {from} at 1744344496000 reply_to=None: Document 1003383421387258 caption=Some(\"Invoice\")"
        )],
    );
    check(
        "wa_video",
        &[&format!("{WA} wamid.VIDEO {from} at 1744344496000 reply_to=None: Video 1003383421387259 caption=None")],
    );
    check(
        "wa_sticker",
        &[&format!("{WA} wamid.STICKER {from} at 1744344496000 reply_to=None: Sticker 1003383421387260 caption=None")],
    );
    check("wa_location", &[&format!("{WA} wamid.LOC {from} at 1744344496000 reply_to=None: location true")]);
    check("wa_contacts", &[&format!("{WA} wamid.CONTACTS {from} at 1744344496000 reply_to=None: contacts true")]);
    check("wa_interactive_button", &[&format!("{WA} wamid.BTNREPLY {from} at 1744344496000 reply_to=Some(\"wamid.OUT1\"): interactive cancel-button \"Cancel\"")]);
    check("wa_interactive_list", &[&format!("{WA} wamid.LISTREPLY {from} at 1744344496000 reply_to=Some(\"wamid.OUT2\"): interactive priority_express \"Express Shipping\"")]);
    check("wa_button", &[&format!("{WA} wamid.BUTTON {from} at 1744344496000 reply_to=Some(\"wamid.TEMPLATE\"): button Unsubscribe \"Unsubscribe\"")]);

    check(
        "wa_quoted_reply",
        &[&format!(
            "{WA} wamid.QUOTE {from} at 1744344496000 reply_to=Some(\"wamid.EARLIER\"): text \"This one please\""
        )],
    );
    check(
        "wa_unsupported",
        &[&format!("{WA} wamid.UNSUP {from} at 1744344496000 reply_to=None: unsupported unsupported")],
    );
}

#[test]
fn several_messages_in_one_delivery_become_several_signals() {
    let lines = summary("wa_two_messages");
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("wamid.MULTI1") && lines[1].contains("wamid.MULTI2"));
}

#[test]
fn whatsapp_statuses_including_failures() {
    check(
        "wa_statuses",
        &[
            "whatsapp 106540352242922 status delivered of wamid.OUT for 16505551234",
            "whatsapp 106540352242922 status read of wamid.OUT for 16505551234",
        ],
    );
    check("wa_status_failed_131047", &["whatsapp 106540352242922 status failed 131047 of wamid.OUT for 16505551234"]);
    check("wa_status_failed_131050", &["whatsapp 106540352242922 status failed 131050 of wamid.OUT for 16505551234"]);
}

#[test]
fn messenger_messages_echoes_deliveries_reads_and_postbacks() {
    check("messenger_text", &[
        "messenger 109876543210987 message m_AG5Hz2Uq7tuwNEhXfYYKj8mJEM_QPpz5jdCK48PnKAjSdjfipqxqMvK8ma6AC8fplwlqLP_5cgXIbu7I3rBN0P from 24012345678901234(None) at 1458692752478 reply_to=Some(\"m_earlier\"): text \"hello, world!\"",
        "messenger 109876543210987 message m_quick from 24012345678901234(None) at 1458692752479 reply_to=None: button COLOR_RED \"Red\"",
    ]);
    check("messenger_attachment", &["messenger 109876543210987 message m_image from 24012345678901234(None) at 1458692752478 reply_to=None: image https://scontent.xx.fbcdn.net/v/t1.15752-9/image.png caption=None"]);
    check(
        "messenger_echo",
        &["messenger 109876543210987 echo m_echo to 24012345678901234: Some(\"Sent from the Page inbox\")"],
    );
    check(
        "messenger_delivery_read",
        &[
            "messenger 109876543210987 status delivered of m_sent1 for 24012345678901234",
            "messenger 109876543210987 watermark read for 24012345678901234 at 1458668856253",
        ],
    );
    check("messenger_postback", &["messenger 109876543210987 message m_postback from 24012345678901234(None) at 1527459824000 reply_to=None: button AGENT \"Talk to an agent\""]);
}

#[test]
fn instagram_direct_messages_and_comments() {
    check("instagram_dm", &["instagram 17841405822304914 message aWdfZAG1faXRlbToxOklHTWVzc2FnZAUlEOjE3ODQxNDA1ODIyMzA0OTE0 from 1234567890123456(None) at 1569262485349 reply_to=None: text \"Is this still available?\""]);
    check("instagram_comment", &["instagram 17841405822304914 comment 17865799348089039 on 17887498072083520 by 1234567890123456(Some(\"ayu.batik\")) parent=Some(\"17865799348089000\") at 1767225600000: \"Berapa harganya?\""]);
    check("instagram_live_comment", &["instagram 17841405822304914 comment 17865799348089040 on 17887498072083521 by 1234567890123457(Some(\"budi\")) parent=None at 1767225600000: \"Mau satu!\""]);
}

#[test]
fn threads_replies_become_comments_on_the_root_post() {
    check("threads_reply", &["threads 78901 comment 8901234 on 123456 by test_username(Some(\"test_username\")) parent=Some(\"567890\") at 1723026796000: \"Reply\""]);
}

#[test]
fn what_laras_does_not_act_on_is_ignored_not_failed() {
    check("unknown_object", &["ignored: unknown object \"user\""]);
    check("whatsapp_account_update", &["ignored: whatsapp field \"account_update\""]);
}

#[test]
fn meta_s_postback_example_with_a_string_timestamp_is_read() {
    check(
        "messenger_postback_string_time",
        &[
            "messenger 109876543210987 message postback:24012345678901234:1527459824 from 24012345678901234(None) at 1527459824000 reply_to=None: button AGENT \"Talk to an agent\"",
            "messenger 109876543210987 message m_no_title from 24012345678901234(None) at 1527459825000 reply_to=None: button GET_STARTED \"GET_STARTED\"",
        ],
    );
}

#[test]
fn one_unreadable_item_is_reported_by_position_and_its_neighbours_are_kept() {
    let lines = summary("wa_one_bad_item");
    assert_eq!(
        lines,
        [
            &format!("{WA} wamid.GOOD1 from 16505551234(Some(\"Sheena Nelson\")) at 1744344496000 reply_to=None: text \"first\""),
            &format!("{WA} wamid.GOOD2 from 16505551234(Some(\"Sheena Nelson\")) at 1744344497000 reply_to=None: text \"third\""),
            "whatsapp 106540352242922 status read of wamid.OUT for 16505551234",
            "malformed whatsapp message at entry 0 change 0 message 1 of 106540352242922: no readable timestamp",
            "malformed whatsapp status at entry 0 change 0 status 0 of 106540352242922: not an object",
            "malformed whatsapp entry at entry 2 of -: not an object",
        ]
    );
    assert!(lines.iter().all(|l| !l.contains("private words")), "content never reaches a report");
}

const WAR: &str = "whatsapp 106540352242922";

#[test]
fn whatsapp_reactions_attach_to_their_message_and_an_empty_emoji_removes_one() {
    check(
        "wa_reaction",
        &[&format!("{WAR} reaction wamid.REACTION by 16505551234 to wamid.OUT3 at 1744344496000: Some(\"👍\")")],
    );
    check(
        "wa_reaction_removed",
        &[&format!("{WAR} reaction wamid.UNREACT by 16505551234 to wamid.OUT3 at 1744344497000: None")],
    );
}

#[test]
fn whatsapp_system_number_change_names_the_new_number() {
    check(
        "wa_system_changed_number",
        &[&format!("{WAR} identity change wamid.SYSTEM of 16505551234 to wa_id 12195555358")],
    );
}

#[test]
fn business_scoped_ids_usernames_and_groups_are_kept() {
    check("wa_bsuid_group", &[&format!("{WAR} message wamid.BSUID from US.13491208655302741918(Some(\"Sheena Nelson\")) +wa_user_id:US.ENT.11815799212886844830 +wa_username:@sheena at 1739321024000 reply_to=None: text \"What do you all think?\" group=Y2FwaV9ncm91cDoxNzA1NTU1MDEzOToxMjAzNjM0MDQ2OTQyMzM4MjAZD")]);
}

#[test]
fn flow_replies_orders_and_ad_referrals_keep_what_they_carry() {
    let from = "from 16505551234(Some(\"Sheena Nelson\"))";
    check("wa_flow_reply", &[&format!("{WAR} message wamid.FLOW {from} at 1744344496000 reply_to=Some(\"wamid.FLOWOUT\"): flow Some(\"flow\") {{\"flow_token\":\"AQAAAAACS5FpgQ_cAAAAAD0QI3s.\",\"size\":\"M\",\"colour\":\"indigo\"}}")]);
    check("wa_order", &[&format!("{WAR} message wamid.ORDER {from} at 1744344496000 reply_to=None: order 194836987003835 2xdi9ozbzfi4@30.5USD,1xnqryix03ez@25USD note=Some(\"Gift wrap please\")")]);
    check("wa_referral", &[&format!("{WAR} message wamid.REFERRAL {from} at 1744344496000 reply_to=None: text \"Is the sale still on?\" referral=ad/Some(\"120226305854810726\")/Some(\"https://fb.me/3cr4Wqqkv\")/Some(\"Summer sale\")/Some(\"Chat with us about our summer sale!\")/clid=true")]);
}

#[test]
fn messenger_and_instagram_reactions_standby_handover_stories_and_echoed_reels() {
    check(
        "messenger_reactions",
        &[
            "messenger 109876543210987 reaction m_sent1:24012345678901234:react:1458668856463 by 24012345678901234 to m_sent1 at 1458668856463: Some(\"❤\\u{fe0f}\")",
            "messenger 109876543210987 reaction m_sent1:24012345678901234:unreact:1458668856999 by 24012345678901234 to m_sent1 at 1458668856999: None",
        ],
    );
    check(
        "messenger_handover",
        &[
            "messenger 109876543210987 thread control for 24012345678901234: laras=false app=Some(\"263902037430900\") at 1458692752500",
            "messenger 109876543210987 thread control for 24012345678901234: laras=true app=Some(\"263902037430900\") at 1458692752600",
            "messenger 109876543210987 message m_standby from 24012345678901234(None) at 1458692752478 reply_to=None: text \"Is anyone there?\" standby",
            "ignored: messenger standby item",
        ],
    );
    check(
        "instagram_story_and_reactions",
        &[
            "instagram 17841405822304914 message aWdf_STORYREPLY from 1234567890123456(None) at 1569262485349 reply_to=None: text \"Love this!\" story(mention=false id=Some(\"17998543\") url=Some(\"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1799\"))",
            "instagram 17841405822304914 message aWdf_MENTION from 1234567890123456(None) at 1569262485350 reply_to=None: shared story_mention None Some(\"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1800\") story(mention=true id=None url=Some(\"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1800\"))",
            "instagram 17841405822304914 reaction aWdf_OUT:1234567890123456:react:1569262485351 by 1234567890123456 to aWdf_OUT at 1569262485351: Some(\"❤\\u{fe0f}\")",
            "instagram 17841405822304914 echo aWdf_ECHO to 1234567890123456: None [ig_reel Some(\"New batik collection\") Some(\"https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1801\")]",
        ],
    );
}

#[test]
fn threads_mentions_are_public_comments_with_the_author_s_username() {
    check("threads_mention", &["threads 78901 comment 8901299 on 8901299 by ayu.batik(Some(\"ayu.batik\")) parent=None at 1723028400000: \"Check out @toko_batik\""]);
}

#[test]
fn a_body_that_is_not_json_is_an_error() {
    assert!(parse(b"not json", RECEIVED).is_err());
    assert!(parse(b"[1,2]", RECEIVED).is_err());
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes, RECEIVED);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_json_shapes(object in prop_oneof![Just("whatsapp_business_account"), Just("page"), Just("instagram"), Just("threads")], inner in "[a-z{}\\[\\]:,\"0-9 ]{0,120}") {
        let body = format!("{{\"object\":\"{object}\",\"entry\":[{inner}],\"values\":{{\"value\":{{}}}}}}");
        let _ = parse(body.as_bytes(), RECEIVED);
    }
}

/// A WhatsApp text message and a Messenger messaging item, each valid, numbered `n`.
fn wa_message(n: usize, numeric: bool) -> serde_json::Value {
    let ts: serde_json::Value = if numeric { 1_744_344_496_i64.into() } else { "1744344496".into() };
    serde_json::json!({"from": "16505551234", "id": format!("wamid.P{n}"), "timestamp": ts, "type": "text",
        "text": {"body": format!("message {n}")}, "extra": {"n": n}})
}

fn messenger_item(n: usize) -> serde_json::Value {
    serde_json::json!({"sender": {"id": "2401"}, "recipient": {"id": "1098"}, "timestamp": 1_458_692_752_478_i64 + n as i64,
        "message": {"mid": format!("m_{n}"), "text": format!("message {n}")}})
}

/// Values that are not a readable item of either kind.
fn junk() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z ]{0,12}".prop_map(serde_json::Value::from),
        Just(serde_json::json!([])),
        Just(serde_json::json!({})),
        Just(serde_json::json!({"id": {}, "from": [], "timestamp": "soon"})),
        Just(serde_json::json!({"from": "1", "id": "wamid.X", "timestamp": true, "type": "text"})),
        Just(serde_json::json!({"sender": {"id": 5}, "message": {"mid": null}})),
        Just(serde_json::json!({"sender": "2401", "timestamp": "x", "message": {"mid": "m_x", "text": 3}})),
    ]
}

fn whatsapp_delivery(items: &[serde_json::Value]) -> Vec<u8> {
    serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": "1065"}, "messages": items}}]}]})
    .to_string()
    .into_bytes()
}

fn messenger_delivery(items: &[serde_json::Value]) -> Vec<u8> {
    serde_json::json!({"object": "page", "entry": [{"id": "1098", "time": 1, "messaging": items}]})
        .to_string()
        .into_bytes()
}

proptest! {
    #[test]
    fn removing_or_corrupting_one_item_never_changes_what_is_recorded_for_the_others(
        n in 1usize..8,
        pick in any::<proptest::sample::Index>(),
        numeric in proptest::collection::vec(any::<bool>(), 8),
        remove in any::<bool>(),
        bad in junk(),
        whatsapp in any::<bool>(),
    ) {
        let items: Vec<serde_json::Value> =
            (0..n).map(|i| if whatsapp { wa_message(i, numeric[i]) } else { messenger_item(i) }).collect();
        let delivery = |items: &[serde_json::Value]| if whatsapp { whatsapp_delivery(items) } else { messenger_delivery(items) };
        let k = pick.index(n);
        let mut all = lines(&parse(&delivery(&items), RECEIVED).unwrap());
        prop_assert_eq!(all.len(), n);
        all.remove(k);
        let mut changed = items.clone();
        if remove { changed.remove(k); } else { changed[k] = bad; }
        let batch = parse(&delivery(&changed), RECEIVED).unwrap();
        let recorded: Vec<String> = lines(&batch).into_iter().filter(|l| !l.starts_with("malformed") && !l.starts_with("ignored")).collect();
        prop_assert_eq!(recorded, all);
        prop_assert_eq!(batch.malformed.len() + batch.ignored.len(), usize::from(!remove));
    }
}
