//! The Partner's knowledge over the API: its articles as the console lists them, and
//! "ask Laras", the AI worker's draft for a question, which sends and records nothing.

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn articles_are_listed_until_retired_and_then_only_on_request() {
    let w = world();
    let a = w.tenant(1).await;
    w.sync().await;
    let r = w.run(Some(&a.auditor), "{ articles { id kind title body tags retiredAt } }", json!({})).await;
    assert_eq!(
        ok(&r)["articles"],
        json!([{ "id": a.article.to_string(), "kind": "FAQ", "title": "Hours", "body": "Open 9 to 5", "tags": [], "retiredAt": null }])
    );
    let r = w
        .run(
            Some(&a.owner),
            "mutation($a: ID!) { retireArticle(articleId: $a) { position } }",
            json!({ "a": a.article.to_string() }),
        )
        .await;
    ok(&r);
    w.sync().await;
    let r = w.run(Some(&a.owner), "{ articles { id } }", json!({})).await;
    assert_eq!(ok(&r)["articles"], json!([]));
    let r = w.run(Some(&a.owner), "{ articles(includeRetired: true) { id retiredAt } }", json!({})).await;
    let listed = &ok(&r)["articles"];
    assert_eq!(listed[0]["id"], json!(a.article.to_string()));
    assert!(listed[0]["retiredAt"].is_string(), "{listed}");
}

#[tokio::test]
async fn asking_laras_answers_the_draft_with_its_confidence_and_articles_and_records_nothing() {
    let w = world();
    let a = w.tenant(1).await;
    w.sync().await;
    let before = w.event_count().await;
    let ask = "query($q: String!) { askLaras(question: $q) { text confidence model declined articles { id title score cited } } }";
    let r = w.run(Some(&a.agent), ask, json!({ "q": "When are your hours?" })).await;
    let preview = &ok(&r)["askLaras"];
    assert_eq!(preview["text"], json!("Open 9 to 5"));
    assert_eq!(preview["confidence"], json!(0.8));
    assert_eq!(preview["declined"], json!(null));
    assert_eq!(preview["articles"][0]["id"], json!(a.article.to_string()));
    assert_eq!(preview["articles"][0]["cited"], json!(true));

    let r = w.run(Some(&a.owner), ask, json!({ "q": "STOP" })).await;
    assert_eq!(ok(&r)["askLaras"]["declined"], json!("opt_out_keyword"));
    let r = w.run(Some(&a.owner), ask, json!({ "q": "Anything about zebras?" })).await;
    assert_eq!(ok(&r)["askLaras"]["declined"], json!("low_confidence"));
    assert_eq!(ok(&r)["askLaras"]["text"], json!(null));
    let r = w.run(Some(&a.owner), ask, json!({ "q": "  " })).await;
    assert_eq!(code(&r).as_deref(), Some("BAD_INPUT"), "{r}");
    assert_eq!(w.event_count().await, before, "asking recorded nothing");
}
