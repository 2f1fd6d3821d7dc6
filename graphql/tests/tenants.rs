//! Tenant isolation and roles: a key of one Partner never reads or changes another's
//! data, also when it names the other's ids, and a role never does what it may not. Every
//! query, mutation and subscription of the schema is found by introspection and tried; a
//! new field without a case and its roles here fails the tests.

mod common;

use common::*;
use laras_graphql::auth::Caller;
use laras_graphql::schema::node::{global_id, NodeType};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Each field with a request that aims at Partner A's things.
fn cases(a: &Tenant) -> Vec<(&'static str, String, Value)> {
    let ids = json!({
        "c": a.conversation.to_string(),
        "k": a.contact.to_string(),
        "d": a.draft.to_string(),
        "o": a.opportunity.to_string(),
        "a": a.article.to_string(),
        "p": a.partner.to_string(),
        "e": a.first_event.to_string(),
        "nc": global_id(NodeType::Conversation, &a.conversation.to_string()).to_string(),
        "nk": global_id(NodeType::Contact, &a.contact.to_string()).to_string(),
        "no": global_id(NodeType::Opportunity, &a.opportunity.to_string()).to_string(),
        "nd": global_id(NodeType::Draft, &format!("{}/{}", a.conversation, a.draft)).to_string(),
    });
    let q = |field: &'static str, text: &str| (field, text.to_owned(), ids.clone());
    vec![
        q("me", "query { me { partnerId } }"),
        q("treeHead", "query { treeHead(fresh: true) { treeSize rootHash } }"),
        q("treeHeads", "query { treeHeads { treeSize } }"),
        q("inclusionProof", "query($e: ID!) { inclusionProof(eventId: $e, treeSize: 1) { leafIndex } }"),
        q("consistencyProof", "query { consistencyProof(first: 1, second: 2) { path } }"),
        q("envelopes", "query { envelopes { eventId streamId } }"),
        q("signingKeys", "query { signingKeys { keyId publicKey } }"),
        q("inbox", "query { inbox { edges { node { conversationId lastMessage contactName } } } }"),
        q("conversation", "query($c: ID!) { conversation(id: $c) { items { text } } }"),
        q("node", "query($nc: ID!) { node(id: $nc) { id ... on Conversation { items { text } } } }"),
        q("node", "query($nk: ID!) { node(id: $nk) { id ... on Contact { displayName } } }"),
        q("node", "query($no: ID!) { node(id: $no) { id ... on Opportunity { title } } }"),
        q("node", "query($nd: ID!) { node(id: $nd) { id ... on Draft { text } } }"),
        q("replyCheck", "query($c: ID!) { replyCheck(conversationId: $c, text: \"hi\") { allowed } }"),
        q("contact", "query($k: ID!) { contact(id: $k) { displayName timeline { summary } } }"),
        q("pipeline", "query { pipeline { opportunities { id title } } }"),
        q("segments", "query { segments { contactId clvMinor } }"),
        q("search", "query { search(text: \"batik\") { contactId snippetHtml } }"),
        q("partner", "query { partner { id name } }"),
        q("apiKeys", "query { apiKeys { id } }"),
        q("auditTrail", "query($c: ID!) { auditTrail(subject: { conversation: $c }) { entries { eventId } } }"),
        q("createPartner", "mutation { createPartner(name: \"x\") { partnerId } }"),
        q("createApiKey", "mutation($p: ID!) { createApiKey(partnerId: $p, role: OWNER) { key } }"),
        q("revokeApiKey", "mutation { revokeApiKey(keyId: \"lrs_0000000000000000\") }"),
        q("approveDraft", "mutation($c: ID!, $d: ID!) { approveDraft(conversationId: $c, draftId: $d) { position } }"),
        q("editDraft", "mutation($c: ID!, $d: ID!) { editDraft(conversationId: $c, draftId: $d, text: \"x\") { position } }"),
        q("rejectDraft", "mutation($c: ID!, $d: ID!) { rejectDraft(conversationId: $c, draftId: $d) { position } }"),
        q("reply", "mutation($c: ID!) { reply(conversationId: $c, text: \"x\") { position } }"),
        q("setConversationStatus", "mutation($c: ID!) { setConversationStatus(conversationId: $c, status: RESOLVED) { position } }"),
        q("assignConversation", "mutation($c: ID!) { assignConversation(conversationId: $c) { position } }"),
        q("addNote", "mutation($k: ID!) { addNote(contactId: $k, text: \"x\") { position } }"),
        q("optOut", "mutation($k: ID!) { optOut(contactId: $k) { position } }"),
        q("optIn", "mutation($k: ID!) { optIn(contactId: $k) { position } }"),
        q("eraseContact", "mutation($k: ID!) { eraseContact(contactId: $k) { position } }"),
        q(
            "openOpportunity",
            "mutation($k: ID!, $c: ID!) { openOpportunity(contactId: $k, conversationId: $c, title: \"x\", value: { minorUnits: \"1\", currency: \"IDR\" }) { position } }",
        ),
        q("moveOpportunity", "mutation($o: ID!) { moveOpportunity(opportunityId: $o, stage: \"proposal\") { position } }"),
        q(
            "changeOpportunityValue",
            "mutation($o: ID!) { changeOpportunityValue(opportunityId: $o, value: { minorUnits: \"5\", currency: \"IDR\" }) { position } }",
        ),
        q("winOpportunity", "mutation($o: ID!) { winOpportunity(opportunityId: $o) { position } }"),
        q("loseOpportunity", "mutation($o: ID!) { loseOpportunity(opportunityId: $o, reason: \"x\") { position } }"),
        q("connectChannel", "mutation { connectChannel(channel: WHATSAPP, accountId: \"101\", accessToken: \"EAAB\") { position } }"),
        q("disconnectChannel", "mutation { disconnectChannel(channel: WHATSAPP) { position } }"),
        q("publishArticle", "mutation { publishArticle(kind: FAQ, title: \"x\", body: \"y\") { position } }"),
        q("setApprovalMode", "mutation { setApprovalMode(mode: AUTOPILOT, channel: WHATSAPP) { position } }"),
        q("setFollowUpPolicy", "mutation { setFollowUpPolicy(delayHours: 24) { position } }"),
        q("retireArticle", "mutation($a: ID!) { retireArticle(articleId: $a) { position } }"),
        q("articles", "query { articles(includeRetired: true) { id title body } }"),
        q("askLaras", "query { askLaras(question: \"What are your hours?\") { text confidence articles { id title } } }"),
        q("heldSends", "query { heldSends { sendId conversationId } }"),
        q("witnesses", "query { witnesses { name publicKey } }"),
        q(
            "approveResend",
            "mutation($c: ID!, $d: ID!) { approveResend(conversationId: $c, sendId: $d) { position } }",
        ),
        q("markSent", "mutation($c: ID!, $d: ID!) { markSent(conversationId: $c, sendId: $d) { position } }"),
        q("setInDoubtPolicy", "mutation { setInDoubtPolicy(channel: WHATSAPP, policy: HOLD_FOR_PERSON) { position } }"),
        q(
            "registerWitness",
            "mutation { registerWitness(name: \"w.example\", publicKey: \"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\") { position } }",
        ),
        q(
            "submitCosignature",
            "mutation { submitCosignature(cosignature: { witnessKey: \"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\", treeSize: 1, rootHash: \"00000000000000000000000000000000000000000000000000000000000000ff\", timestamp: 1, signature: \"00\" }) { treeSize } }",
        ),
    ]
}

/// Fields that act only on the caller's own Partner (no id to aim with): they must
/// succeed for B and leave A alone. Everything else must answer as if A's id did not exist.
const OWN_PARTNER_ONLY: &[&str] = &[
    "me",
    "partner",
    "apiKeys",
    "inbox",
    "pipeline",
    "segments",
    "search",
    "treeHead",
    "treeHeads",
    "consistencyProof",
    "envelopes",
    "signingKeys",
    "connectChannel",
    "disconnectChannel",
    "publishArticle",
    "setApprovalMode",
    "setFollowUpPolicy",
    "heldSends",
    "witnesses",
    "setInDoubtPolicy",
    "registerWitness",
    "submitCosignature",
    "articles",
    "askLaras",
];

async fn schema_fields(w: &World) -> BTreeSet<String> {
    let r =
        w.run(None, "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }", json!({})).await;
    let data = ok(&r);
    ["queryType", "mutationType"]
        .iter()
        .flat_map(|root| data["__schema"][root]["fields"].as_array().cloned().unwrap_or_default())
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

async fn partner_events(w: &World, partner: laras_domain::ids::PartnerId) -> Vec<Vec<u8>> {
    let all = w.ledger.store.read_all(0, 1_000_000).await.expect("read");
    all.into_iter().filter(|s| s.envelope.header.partner_id == partner).map(|s| s.envelope.payload).collect()
}

#[tokio::test]
async fn no_query_or_mutation_reaches_another_partners_data() {
    let w = world();
    let a = w.tenant(1).await;
    let b = w.tenant(2).await;
    w.sync().await;
    let covered: BTreeSet<String> = cases(&a).iter().map(|(f, ..)| (*f).to_owned()).collect();
    let missing: Vec<_> = schema_fields(&w).await.difference(&covered).cloned().collect();
    assert!(missing.is_empty(), "fields without a tenant-isolation case: {missing:?}");

    let a_before = partner_events(&w, a.partner).await;
    for caller in [&b.owner, &b.agent, &b.auditor] {
        for (field, query, vars) in cases(&a) {
            let r = w.run(Some(caller), &query, vars).await;
            let text = r.to_string();
            assert!(!text.contains(&a.partner.to_string()), "{field} leaked A's partner id: {text}");
            assert!(!text.contains("toko 1?"), "{field} leaked A's message: {text}");
            for id in
                [a.conversation.to_string(), a.contact.to_string(), a.opportunity.to_string(), a.article.to_string()]
            {
                let echoed_in_error = r["data"].is_null() || !r["data"].to_string().contains(&id);
                assert!(echoed_in_error, "{field} leaked A's id {id}: {text}");
            }
            if OWN_PARTNER_ONLY.contains(&field) {
                continue;
            }
            let code = code(&r);
            assert!(
                matches!(code.as_deref(), Some("NOT_FOUND" | "FORBIDDEN")),
                "{field} as {caller:?} must not reach A: {text}"
            );
        }
    }
    assert_eq!(partner_events(&w, a.partner).await, a_before, "A's history changed");
}

/// Who may use each field; every other caller must be answered FORBIDDEN and change
/// nothing. A field missing here fails the test, so a new field gets its roles decided.
fn allowed(field: &str) -> Option<&'static [&'static str]> {
    const R: &[&str] = &["owner", "agent", "auditor"];
    const W: &[&str] = &["owner", "agent"];
    const O: &[&str] = &["owner"];
    const A: &[&str] = &["owner", "auditor"];
    Some(match field {
        "me"
        | "partner"
        | "inbox"
        | "conversation"
        | "node"
        | "heldSends"
        | "contact"
        | "pipeline"
        | "segments"
        | "search"
        | "articles"
        | "inboxChanges"
        | "draftsAwaitingApproval" => R,
        "auditTrail" | "treeHead" | "treeHeads" | "inclusionProof" | "consistencyProof" | "envelopes" | "witnesses"
        | "signingKeys" | "submitCosignature" => A,
        "approveDraft"
        | "editDraft"
        | "rejectDraft"
        | "reply"
        | "replyCheck"
        | "askLaras"
        | "setConversationStatus"
        | "assignConversation"
        | "addNote"
        | "optOut"
        | "optIn"
        | "openOpportunity"
        | "moveOpportunity"
        | "changeOpportunityValue"
        | "winOpportunity"
        | "loseOpportunity"
        | "approveResend"
        | "markSent" => W,
        "apiKeys" | "createApiKey" | "revokeApiKey" | "eraseContact" | "connectChannel" | "disconnectChannel"
        | "setApprovalMode" | "setInDoubtPolicy" | "setFollowUpPolicy" | "publishArticle" | "retireArticle"
        | "registerWitness" => O,
        "createPartner" => &["admin"],
        _ => return None,
    })
}

const SUBSCRIPTIONS: &[(&str, &str)] = &[
    ("inboxChanges", "subscription { inboxChanges { conversationId } }"),
    ("draftsAwaitingApproval", "subscription { draftsAwaitingApproval { conversationId draftId } }"),
];

async fn subscription_fields(w: &World) -> BTreeSet<String> {
    let r = w.run(None, "{ __schema { subscriptionType { fields { name } } } }", json!({})).await;
    ok(&r)["__schema"]["subscriptionType"]["fields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["name"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn each_role_that_may_not_use_a_field_is_forbidden_and_changes_nothing() {
    let w = world();
    let a = w.tenant(1).await;
    w.sync().await;
    let mut fields = schema_fields(&w).await;
    fields.extend(subscription_fields(&w).await);
    let undecided: Vec<_> = fields.iter().filter(|f| allowed(f).is_none()).collect();
    assert!(undecided.is_empty(), "fields whose roles are not decided here: {undecided:?}");

    let before = partner_events(&w, a.partner).await;
    let callers = [("owner", &a.owner), ("agent", &a.agent), ("auditor", &a.auditor), ("admin", &Caller::Admin)];
    let mut requests = cases(&a);
    requests.extend(SUBSCRIPTIONS.iter().map(|(f, q)| (*f, (*q).to_owned(), json!({}))));
    let mut refused = 0;
    for (field, query, vars) in requests {
        let may = allowed(field).unwrap_or_default();
        for (role, caller) in callers {
            if may.contains(&role) || (field == "createApiKey" && role == "admin") {
                continue;
            }
            let r = if query.starts_with("subscription") {
                first_of_stream(&w, caller, &query).await
            } else {
                w.run(Some(caller), &query, vars.clone()).await
            };
            assert_eq!(code(&r).as_deref(), Some("FORBIDDEN"), "{field} as {role}: {r}");
            refused += 1;
        }
    }
    assert!(refused > 60, "only {refused} refusals tried");
    assert_eq!(partner_events(&w, a.partner).await, before, "a forbidden call changed A's history");
}

/// A subscription refused at its start answers with one error item.
async fn first_of_stream(w: &World, caller: &Caller, query: &str) -> Value {
    use futures_util::StreamExt;
    let mut stream = w.schema.execute_stream(async_graphql::Request::new(query).data(caller.clone()));
    let first = tokio::time::timeout(std::time::Duration::from_secs(2), stream.next()).await.expect("an answer");
    serde_json::to_value(first.expect("an item")).expect("json")
}

#[tokio::test]
async fn no_subscription_hears_another_partners_changes() {
    use futures_util::StreamExt;
    let w = world();
    let a = w.tenant(1).await;
    let b = w.tenant(2).await;
    w.sync().await;
    let covered: BTreeSet<String> = SUBSCRIPTIONS.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(subscription_fields(&w).await, covered, "subscriptions without a tenant-isolation case");

    // A subscription registers when first polled: each waits on a task of its own
    // before anything happens.
    let listen = |caller: &Caller, query: &str| {
        let mut stream = w.schema.execute_stream(async_graphql::Request::new(query).data(caller.clone())).boxed();
        tokio::spawn(async move { stream.next().await })
    };
    let b_listeners: Vec<_> =
        SUBSCRIPTIONS.iter().flat_map(|(_, q)| [&b.owner, &b.agent, &b.auditor].map(|c| listen(c, q))).collect();
    let a_listeners: Vec<_> = SUBSCRIPTIONS.iter().map(|(_, q)| listen(&a.agent, q)).collect();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let live = tokio::spawn(w.runner.clone().run(async move {
        let _ = stopped.await;
    }));
    w.propose(a.partner, a.conversation, "Siap besok").await;
    for (listener, (field, _)) in a_listeners.into_iter().zip(SUBSCRIPTIONS) {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), listener).await;
        let got = serde_json::to_value(got.expect("in time").expect("join").expect("an item")).expect("json");
        assert_eq!(got["data"][field]["conversationId"], a.conversation.to_string(), "{field}: {got}");
    }
    // A has heard its change; give B's subscribers the same time again to hear it wrongly.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for listener in b_listeners {
        assert!(!listener.is_finished(), "B heard something of A's change");
        listener.abort();
    }
    let _ = stop.send(());
    live.await.expect("join").expect("runner");
}
