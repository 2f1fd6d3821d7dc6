//! The API as a Partner's tools see it: mutations become commands, errors carry codes,
//! roles gate what a key may do.

mod common;

use common::*;
use laras_domain::event::DomainEvent;
use laras_graphql::auth::Caller;
use serde_json::{json, Value};

#[tokio::test]
async fn a_reply_is_requested_and_answers_with_its_ledger_position() {
    let w = world();
    let t = w.tenant(1).await;
    let before = w.event_count().await;
    let r = w
        .run(
            Some(&t.agent),
            "mutation($c: ID!) { reply(conversationId: $c, text: \"Siap, kak!\") { position id } }",
            json!({ "c": t.conversation.to_string() }),
        )
        .await;
    let position = ok(&r)["reply"]["position"].as_u64().expect("position");
    assert_eq!(position as usize, before + 1);
    let last = w.ledger.store.read_all(position - 1, 1).await.expect("read");
    assert!(matches!(last[0].envelope.event().expect("event"), DomainEvent::ReplySendRequested { .. }));
    // The actor is the key's own user, so the audit trail names who did it.
    let trail = w
        .run(
            Some(&t.auditor),
            "query($c: ID!) { auditTrail(subject: { conversation: $c }) { entries { eventType actorKind keyId position } } }",
            json!({ "c": t.conversation.to_string() }),
        )
        .await;
    let entries = ok(&trail)["auditTrail"]["entries"].as_array().expect("entries").clone();
    let sent = entries.iter().find(|e| e["eventType"] == "ReplySendRequested").expect("send in trail");
    assert_eq!(sent["actorKind"], "PARTNER_USER");
    assert!(sent["keyId"].as_str().is_some_and(|k| k.starts_with("ed25519:")));
}

#[tokio::test]
async fn approving_a_draft_sends_it_and_a_second_decision_is_a_conflict() {
    let w = world();
    let t = w.tenant(1).await;
    let vars = json!({ "c": t.conversation.to_string(), "d": t.draft.to_string() });
    let approve = "mutation($c: ID!, $d: ID!) { approveDraft(conversationId: $c, draftId: $d) { position id } }";
    let r = w.run(Some(&t.owner), approve, vars.clone()).await;
    assert!(ok(&r)["approveDraft"]["id"].is_string(), "the send id");
    let again = w.run(Some(&t.owner), approve, vars.clone()).await;
    assert_eq!(code(&again).as_deref(), Some("CONFLICT"));
    let reject = "mutation($c: ID!, $d: ID!) { rejectDraft(conversationId: $c, draftId: $d) { position } }";
    assert_eq!(code(&w.run(Some(&t.owner), reject, vars).await).as_deref(), Some("CONFLICT"));
}

#[tokio::test]
async fn a_policy_refusal_is_recorded_and_reported_with_its_code_and_position() {
    let w = world();
    let t = w.tenant(1).await;
    let opt_out = "mutation($k: ID!) { optOut(contactId: $k) { position } }";
    ok(&w.run(Some(&t.agent), opt_out, json!({ "k": t.contact.to_string() })).await);
    let r = w
        .run(
            Some(&t.agent),
            "mutation($c: ID!) { reply(conversationId: $c, text: \"Promo!\") { position } }",
            json!({ "c": t.conversation.to_string() }),
        )
        .await;
    assert_eq!(code(&r).as_deref(), Some("POLICY_REFUSED"));
    let position = r["errors"][0]["extensions"]["position"].as_u64().expect("refusal position");
    let stored = w.ledger.store.read_all(position - 1, 1).await.expect("read");
    assert!(matches!(stored[0].envelope.event().expect("event"), DomainEvent::SendRefused { .. }));
}

#[tokio::test]
async fn roles_decide_what_a_key_may_do() {
    let w = world();
    let t = w.tenant(1).await;
    let vars = json!({ "c": t.conversation.to_string(), "k": t.contact.to_string() });
    let note = "mutation($k: ID!) { addNote(contactId: $k, text: \"VIP\") { position } }";
    let erase = "mutation($k: ID!) { eraseContact(contactId: $k) { position } }";
    assert_eq!(code(&w.run(Some(&t.auditor), note, vars.clone()).await).as_deref(), Some("FORBIDDEN"));
    assert_eq!(code(&w.run(Some(&t.agent), erase, vars.clone()).await).as_deref(), Some("FORBIDDEN"));
    assert_eq!(code(&w.run(Some(&Caller::Admin), note, vars.clone()).await).as_deref(), Some("FORBIDDEN"));
    assert_eq!(code(&w.run(None, note, vars.clone()).await).as_deref(), Some("UNAUTHENTICATED"));
    let keys = "{ apiKeys { id role } }";
    assert_eq!(code(&w.run(Some(&t.agent), keys, json!({})).await).as_deref(), Some("FORBIDDEN"));
    assert_eq!(ok(&w.run(Some(&t.owner), keys, json!({})).await)["apiKeys"].as_array().map(Vec::len), Some(3));
    ok(&w.run(Some(&t.agent), note, vars.clone()).await);
    ok(&w.run(Some(&t.owner), erase, vars).await);
}

#[tokio::test]
async fn bad_input_is_a_typed_error_and_stores_nothing() {
    let w = world();
    let t = w.tenant(1).await;
    let before = w.event_count().await;
    let cases = [
        ("mutation { addNote(contactId: \"not-a-uuid\", text: \"x\") { position } }", json!({})),
        ("mutation($k: ID!) { addNote(contactId: $k, text: \"   \") { position } }", json!({ "k": t.contact.to_string() })),
        (
            "mutation($o: ID!) { moveOpportunity(opportunityId: $o, stage: \"no-such-stage\") { position } }",
            json!({ "o": t.opportunity.to_string() }),
        ),
        (
            "mutation($k: ID!) { openOpportunity(contactId: $k, title: \"x\", value: { minorUnits: \"12\", currency: \"rupiah\" }) { position } }",
            json!({ "k": t.contact.to_string() }),
        ),
        (
            "mutation($c: ID!) { setConversationStatus(conversationId: $c, status: SNOOZED) { position } }",
            json!({ "c": t.conversation.to_string() }),
        ),
    ];
    for (query, vars) in cases {
        let r = w.run(Some(&t.owner), query, vars).await;
        assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "{query}: {r}");
    }
    assert_eq!(w.event_count().await, before);
}

/// Input checked at the edge (issue 17): each case once answered with success.
#[tokio::test]
async fn loose_input_is_refused_at_the_edge_and_stores_nothing() {
    let w = world();
    let t = w.tenant(1).await;
    let before = w.event_count().await;
    let ids = json!({ "c": t.conversation.to_string(), "k": t.contact.to_string(), "o": t.opportunity.to_string() });
    let snooze = "mutation($c: ID!, $u: Int) { setConversationStatus(conversationId: $c, status: SNOOZED, snoozedUntilMs: $u) { position } }";
    let open = "mutation($k: ID!, $m: String!, $cur: String!) { openOpportunity(contactId: $k, title: \"x\", value: { minorUnits: $m, currency: $cur }) { position } }";
    let template = "mutation($c: ID!, $n: String!, $l: String!, $p: [String!]!) { reply(conversationId: $c, text: \"hi\", template: { name: $n, language: $l, parameters: $p }) { position } }";
    let with = |extra: Value| {
        let mut vars = ids.clone();
        vars.as_object_mut().expect("object").extend(extra.as_object().cloned().unwrap_or_default());
        vars
    };
    let cases: Vec<(&str, &str, Value)> = vec![
        ("a snooze before 1970", snooze, with(json!({ "u": -1 }))),
        ("a snooze in the year 146 million", snooze, with(json!({ "u": 1_i64 << 62 }))),
        ("a snooze that has already ended", snooze, with(json!({ "u": NOW.0 - 1 }))),
        ("a NUL in a note", "mutation($k: ID!) { addNote(contactId: $k, text: \"a\\u0000b\") { position } }", ids.clone()),
        ("an escape sequence in a note", "mutation($k: ID!) { addNote(contactId: $k, text: \"\\u001b[31mred\") { position } }", ids.clone()),
        (
            "a line break in a title",
            "mutation($k: ID!) { openOpportunity(contactId: $k, title: \"a\\nb\", value: { minorUnits: \"1\", currency: \"IDR\" }) { position } }",
            ids.clone(),
        ),
        ("a lowercase currency", open, with(json!({ "m": "1", "cur": "idr" }))),
        ("a made-up currency", open, with(json!({ "m": "1", "cur": "XYZ" }))),
        ("an amount past 2^63", open, with(json!({ "m": "99999999999999999999", "cur": "IDR" }))),
        ("a negative amount", open, with(json!({ "m": "-5", "cur": "IDR" }))),
        ("a reason with a bell", "mutation($o: ID!) { loseOpportunity(opportunityId: $o, reason: \"\\u0007\") { position } }", ids.clone()),
        ("a search from before 2000", "query { search(text: \"x\", fromMs: -1) { contactId } }", json!({})),
        ("a search ending before it starts", "query { search(text: \"x\", fromMs: 1767225600000, toMs: 1767225500000) { contactId } }", json!({})),
        ("a page of none", "query { inbox(first: 0) { edges { cursor } } }", json!({})),
        ("a key label with a NUL", "mutation { createApiKey(role: AGENT, label: \"a\\u0000\") { id } }", json!({})),
        ("a template name of two lines", template, with(json!({ "n": "a\nb", "l": "id", "p": [] }))),
        ("a template without a language", template, with(json!({ "n": "restock", "l": "", "p": [] }))),
        ("a template parameter with a NUL", template, with(json!({ "n": "restock", "l": "id", "p": ["a\u{0}b"] }))),
        ("a template of 21 parameters", template, with(json!({ "n": "restock", "l": "id", "p": vec!["x"; 21] }))),
    ];
    for (what, query, vars) in cases {
        let r = w.run(Some(&t.owner), query, vars).await;
        assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "{what}: {r}");
    }
    let named = |name: &str| format!("mutation {{ createPartner(name: {}) {{ partnerId }} }}", json!(name));
    for name in ["Toko\u{0}Sari", "Toko\nSari", "Toko \u{202E}iraS"] {
        let r = w.run(Some(&Caller::Admin), &named(name), json!({})).await;
        assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "partner name {name:?}: {r}");
    }
    assert_eq!(w.event_count().await, before, "refused input stored something");
    let minor = json!({ "k": t.contact.to_string(), "m": "1", "cur": "IDR" });
    ok(&w.run(Some(&t.owner), open, minor).await);
}

#[tokio::test]
async fn the_pipeline_moves_by_mutations_and_closed_is_final() {
    let w = world();
    let t = w.tenant(1).await;
    let vars = json!({ "o": t.opportunity.to_string() });
    ok(&w
        .run(
            Some(&t.agent),
            "mutation($o: ID!) { moveOpportunity(opportunityId: $o, stage: \"proposal\") { position } }",
            vars.clone(),
        )
        .await);
    ok(&w
        .run(Some(&t.agent), "mutation($o: ID!) { winOpportunity(opportunityId: $o) { position } }", vars.clone())
        .await);
    let lose = "mutation($o: ID!) { loseOpportunity(opportunityId: $o, reason: \"late\") { position } }";
    assert_eq!(code(&w.run(Some(&t.agent), lose, vars).await).as_deref(), Some("CONFLICT"));
}

#[tokio::test]
async fn the_admin_token_creates_partners_and_keys_and_reads_no_partner_data() {
    let w = world();
    let r = w
        .run(
            Some(&Caller::Admin),
            "mutation { createPartner(name: \"Toko Baru\") { partnerId ownerKey position } }",
            json!({}),
        )
        .await;
    let created = ok(&r)["createPartner"].clone();
    let owner_key = created["ownerKey"].as_str().expect("key");
    let found =
        laras_commands::access::ApiKeys::authenticate(w.keys.as_ref(), owner_key).expect("auth").expect("live key");
    assert_eq!(found.partner.to_string(), created["partnerId"].as_str().expect("id"));
    let agent = w
        .run(
            Some(&Caller::Admin),
            "mutation($p: ID!) { createApiKey(partnerId: $p, role: AGENT, label: \"desk\") { id role key } }",
            json!({ "p": created["partnerId"] }),
        )
        .await;
    assert_eq!(ok(&agent)["createApiKey"]["role"], "AGENT");
    assert_eq!(
        code(&w.run(Some(&Caller::Admin), "{ partner { name } }", json!({})).await).as_deref(),
        Some("FORBIDDEN")
    );
    let unknown = w
        .run(
            Some(&Caller::Admin),
            "mutation { createApiKey(partnerId: \"0190a000-0000-7000-8000-000000000000\", role: OWNER) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&unknown).as_deref(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn queries_deeper_than_the_limit_are_refused() {
    let w = world();
    let t = w.tenant(1).await;
    let deep = format!(
        "{{ __schema {{ types {{ fields {{ type {{ {} name {} }} }} }} }} }}",
        "ofType { ".repeat(14),
        "} ".repeat(14)
    );
    let r = w.run(Some(&t.owner), &deep, json!({})).await;
    assert_eq!(code(&r).as_deref(), Some("QUERY_TOO_COMPLEX"), "{r}");
    assert!(r["errors"][0]["message"].as_str().is_some_and(|m| m.contains("fields deep")), "{r}");
}

#[tokio::test]
async fn a_mutations_position_makes_its_effect_visible_to_the_next_query() {
    let w = world();
    let t = w.tenant(1).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let live = tokio::spawn(w.runner.clone().run(async move {
        let _ = stopped.await;
    }));
    let r = w
        .run(
            Some(&t.agent),
            "mutation($c: ID!) { reply(conversationId: $c, text: \"Siap, kak!\") { position } }",
            json!({ "c": t.conversation.to_string() }),
        )
        .await;
    let position = ok(&r)["reply"]["position"].clone();
    let view = w
        .run(
            Some(&t.auditor),
            "query($c: ID!, $p: Int) { conversation(id: $c, minPosition: $p) { summary { status unread windowClosesAt }
               items { kind text ... on Reply { delivery } } } }",
            json!({ "c": t.conversation.to_string(), "p": position }),
        )
        .await;
    let conversation = &ok(&view)["conversation"];
    let last = conversation["items"].as_array().and_then(|i| i.last()).cloned().expect("items");
    assert_eq!((last["kind"].as_str(), last["text"].as_str()), (Some("REPLY"), Some("Siap, kak!")));
    assert_eq!(conversation["summary"]["unread"], 0);
    assert_eq!(conversation["summary"]["status"], "AWAITING_APPROVAL", "the person's draft still waits");

    let more = w
        .run(
            Some(&t.owner),
            "query($p: Int, $k: ID!) {
               inbox(filter: { status: AWAITING_APPROVAL }, minPosition: $p) { edges { node { conversationId } } pageInfo { hasNextPage } }
               search(text: \"batik\", minPosition: $p) { snippetHtml conversationId }
               contact(id: $k) { timeline { kind } opportunities { title stage } }
               pipeline { stages { name openCount totals { currency valueMinor weightedMinor } } }
             }",
            json!({ "p": position, "k": t.contact.to_string() }),
        )
        .await;
    let data = ok(&more);
    assert_eq!(data["inbox"]["edges"][0]["node"]["conversationId"], t.conversation.to_string());
    assert!(data["search"][0]["snippetHtml"].as_str().is_some_and(|s| s.contains("<b>batik</b>")));
    assert!(data["contact"]["timeline"].as_array().is_some_and(|t| t.iter().any(|e| e["kind"] == "MESSAGE_OUT")));
    let lead = data["pipeline"]["stages"].as_array().and_then(|s| s.iter().find(|s| s["name"] == "lead")).cloned();
    assert_eq!(lead.map(|l| l["totals"][0]["weightedMinor"].clone()), Some(json!("4500000")));
    let bad = w.run(Some(&t.owner), "{ inbox(after: \"forged\") { edges { cursor } } }", json!({})).await;
    assert_eq!(code(&bad).as_deref(), Some("BAD_INPUT"));
    let _ = stop.send(());
    live.await.expect("join").expect("runner");
}

#[tokio::test]
async fn a_new_draft_reaches_the_subscribers_of_its_partner_only() {
    use futures_util::StreamExt;
    let w = world();
    let a = w.tenant(1).await;
    let b = w.tenant(2).await;
    w.sync().await;
    let subscribe = |caller: &Caller| {
        w.schema.execute_stream(
            async_graphql::Request::new("subscription { draftsAwaitingApproval { conversationId draftId } }")
                .data(caller.clone()),
        )
    };
    let mut a_stream = subscribe(&a.agent);
    let mut b_stream = subscribe(&b.agent);
    // Let both subscriptions register before anything happens.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let poll_a = tokio::spawn(async move { a_stream.next().await });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let live = tokio::spawn(w.runner.clone().run(async move {
        let _ = stopped.await;
    }));
    let draft = w.propose(a.partner, a.conversation, "Ready tomorrow").await;
    let got = tokio::time::timeout(std::time::Duration::from_secs(5), poll_a).await.expect("in time").expect("join");
    let got = serde_json::to_value(got.expect("an event")).expect("json");
    assert_eq!(got["data"]["draftsAwaitingApproval"]["draftId"], draft.to_string());
    let nothing = tokio::time::timeout(std::time::Duration::from_millis(200), b_stream.next()).await;
    assert!(nothing.is_err(), "B hears nothing of A's drafts");
    let _ = stop.send(());
    live.await.expect("join").expect("runner");
}

#[tokio::test]
async fn reply_check_answers_what_the_reply_mutation_would_do_and_writes_nothing() {
    let w = world();
    let t = w.tenant(1).await;
    let other = w.tenant(2).await;
    let check =
        "query($c: ID!, $t: String!) { replyCheck(conversationId: $c, text: $t) { allowed reason explanation } }";
    let vars = json!({ "c": t.conversation.to_string(), "t": "Siap, kak!" });
    let before = w.event_count().await;
    let r = w.run(Some(&t.agent), check, vars.clone()).await;
    assert_eq!(ok(&r)["replyCheck"], json!({ "allowed": true, "reason": null, "explanation": null }));
    assert_eq!(w.event_count().await, before, "a check writes nothing");

    let opt_out = "mutation($k: ID!) { optOut(contactId: $k) { position } }";
    ok(&w.run(Some(&t.agent), opt_out, json!({ "k": t.contact.to_string() })).await);
    let r = w.run(Some(&t.agent), check, vars.clone()).await;
    assert_eq!(ok(&r)["replyCheck"]["allowed"], false);
    assert_eq!(ok(&r)["replyCheck"]["reason"], "OPTED_OUT");
    assert_eq!(ok(&r)["replyCheck"]["explanation"], "the contact has opted out");
    // The mutation refuses for the same reason.
    let reply = "mutation($c: ID!, $t: String!) { reply(conversationId: $c, text: $t) { position } }";
    assert_eq!(code(&w.run(Some(&t.agent), reply, vars.clone()).await).as_deref(), Some("POLICY_REFUSED"));

    let empty = json!({ "c": t.conversation.to_string(), "t": "" });
    assert_eq!(ok(&w.run(Some(&t.agent), check, empty).await)["replyCheck"]["reason"], "INVALID_TEXT");
    assert_eq!(code(&w.run(Some(&t.auditor), check, vars.clone()).await).as_deref(), Some("FORBIDDEN"));
    let foreign = json!({ "c": t.conversation.to_string(), "t": "hi" });
    assert_eq!(code(&w.run(Some(&other.agent), check, foreign).await).as_deref(), Some("NOT_FOUND"));
}

#[tokio::test]
async fn node_fetches_each_type_by_the_id_it_gives_and_refuses_what_is_not_the_callers() {
    let w = world();
    let a = w.tenant(1).await;
    let b = w.tenant(2).await;
    w.sync().await;
    // Every global id comes from the API itself, as a client gets it.
    let view = w
        .run(
            Some(&a.auditor),
            "query($c: ID!, $k: ID!) {
               conversation(id: $c) { id summary { conversationId } items { kind ... on Draft { id draftId state proposedBy { kind userId } } } }
               contact(id: $k) { id contactId opportunities { id opportunityId title } } }",
            json!({ "c": a.conversation.to_string(), "k": a.contact.to_string() }),
        )
        .await;
    let data = ok(&view);
    let draft = data["conversation"]["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["kind"] == "DRAFT"))
        .cloned()
        .expect("the tenant's draft");
    assert_eq!(draft["draftId"], a.draft.to_string());
    assert_eq!((draft["state"].as_str(), draft["proposedBy"]["kind"].as_str()), (Some("PROPOSED"), Some("PERSON")));
    let ids = [
        ("Conversation", data["conversation"]["id"].clone()),
        ("Contact", data["contact"]["id"].clone()),
        ("Opportunity", data["contact"]["opportunities"][0]["id"].clone()),
        ("Draft", draft["id"].clone()),
    ];
    let node = "query($n: ID!) { node(id: $n) { __typename id
        ... on Conversation { summary { conversationId } }
        ... on Contact { contactId }
        ... on Opportunity { opportunityId title }
        ... on Draft { draftId conversationId text } } }";
    for (typename, id) in &ids {
        assert!(id.as_str().is_some_and(|i| !i.contains(&a.partner.to_string())), "{typename}: {id}");
        let r = w.run(Some(&a.agent), node, json!({ "n": id })).await;
        let found = &ok(&r)["node"];
        assert_eq!((found["__typename"].as_str(), &found["id"]), (Some(*typename), id), "{r}");
        // The other Partner's keys find nothing, exactly like an id that never existed.
        let foreign = w.run(Some(&b.owner), node, json!({ "n": id })).await;
        assert_eq!(code(&foreign).as_deref(), Some("NOT_FOUND"), "{typename} for B: {foreign}");
        assert!(foreign["data"]["node"].is_null());
    }
    assert_eq!(
        ok(&w.run(Some(&a.agent), node, json!({ "n": ids[0].1 })).await)["node"]["summary"]["conversationId"],
        a.conversation.to_string()
    );
    assert_eq!(ok(&w.run(Some(&a.agent), node, json!({ "n": ids[3].1 })).await)["node"]["text"], "Rp 450.000, kak.");
    let unknown = laras_graphql::schema::node::global_id(
        laras_graphql::schema::node::NodeType::Contact,
        "0190a000-0000-7000-8000-00000000dead",
    );
    assert_eq!(
        code(&w.run(Some(&a.agent), node, json!({ "n": unknown.to_string() })).await).as_deref(),
        Some("NOT_FOUND")
    );
    for malformed in [a.contact.to_string(), "Q29udGFjdDp4".to_owned()] {
        let r = w.run(Some(&a.agent), node, json!({ "n": malformed })).await;
        assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "{malformed}: {r}");
    }
    // A global id works where the local one is asked for.
    let by_global =
        w.run(Some(&a.agent), "query($k: ID!) { contact(id: $k) { contactId } }", json!({ "k": ids[1].1 })).await;
    assert_eq!(ok(&by_global)["contact"]["contactId"], a.contact.to_string());
}
