//! Tree heads and proofs as an auditor fetches them: each one checks with the RFC 9162
//! verifier against the signed head, not just against what the server says.

mod common;

use common::*;
use laras_domain::merkle::{leaf_hash, verify_consistency, verify_inclusion, NodeHash};
use laras_domain::signing::parse_public_hex;
use serde_json::{json, Value};
use sha2::Digest;

fn hash(v: &Value) -> NodeHash {
    let bytes = hex::decode(v.as_str().expect("hex string")).expect("hex");
    bytes.try_into().expect("32 bytes")
}

fn path(v: &Value) -> Vec<NodeHash> {
    v.as_array().expect("path").iter().map(hash).collect()
}

const HEAD: &str = "query($f: Boolean!) { treeHead(fresh: $f) { treeSize rootHash keyId signature signedBytes } }";

#[tokio::test]
async fn an_auditor_proves_an_event_is_in_a_signed_head_and_that_heads_only_grow() {
    let w = world();
    let t = w.tenant(1).await;
    w.tenant(2).await;
    w.sync().await;
    let first = ok(&w.run(Some(&t.auditor), HEAD, json!({ "f": true })).await)["treeHead"].clone();
    let first_size = first["treeSize"].as_u64().expect("size");
    assert!(first_size >= 4, "the Partner's own events only, got {first_size}");

    // The head's signature verifies over its signed bytes with the ledger's public key.
    let public = w.ledger.signer.active().public();
    let signed = hex::decode(first["signedBytes"].as_str().expect("bytes")).expect("hex");
    let signature = hex::decode(first["signature"].as_str().expect("sig")).expect("hex");
    let signature = ed25519_dalek::Signature::from_slice(&signature).expect("64 bytes");
    public.verify_strict(&signed, &signature).expect("head signature");
    assert!(parse_public_hex(&hex::encode(public.as_bytes())).is_some());

    // The envelope's hash, taken from its canonical bytes, is the proven leaf.
    let envelopes = ok(&w
        .run(Some(&t.auditor), "{ envelopes(first: 1) { eventId hash canonicalBytes } }", json!({}))
        .await)["envelopes"][0]
        .clone();
    assert_eq!(envelopes["eventId"], t.first_event.to_string());
    let canonical = hex::decode(envelopes["canonicalBytes"].as_str().expect("bytes")).expect("hex");
    let envelope_hash: [u8; 32] = sha2::Sha256::digest(&canonical).into();
    assert_eq!(hex::encode(envelope_hash), envelopes["hash"]);
    let proof = ok(&w
        .run(
            Some(&t.auditor),
            "query($e: ID!, $n: Int!) { inclusionProof(eventId: $e, treeSize: $n) { leafIndex leafHash path } }",
            json!({ "e": t.first_event.to_string(), "n": first_size }),
        )
        .await)["inclusionProof"]
        .clone();
    assert_eq!(hash(&proof["leafHash"]), leaf_hash(&envelope_hash));
    verify_inclusion(0, first_size, &leaf_hash(&envelope_hash), &path(&proof["path"]), &hash(&first["rootHash"]))
        .expect("inclusion proof verifies");

    // More events, a new head, and a consistency proof between the two.
    let reply = "mutation($c: ID!) { reply(conversationId: $c, text: \"Siap, kak!\") { position } }";
    ok(&w.run(Some(&t.agent), reply, json!({ "c": t.conversation.to_string() })).await);
    w.sync().await;
    let second = ok(&w.run(Some(&t.owner), HEAD, json!({ "f": true })).await)["treeHead"].clone();
    let second_size = second["treeSize"].as_u64().expect("size");
    assert!(second_size > first_size);
    let consistency = ok(&w
        .run(
            Some(&t.auditor),
            "query($a: Int!, $b: Int!) { consistencyProof(first: $a, second: $b) { path } }",
            json!({ "a": first_size, "b": second_size }),
        )
        .await)["consistencyProof"]
        .clone();
    let proof = path(&consistency["path"]);
    verify_consistency(first_size, second_size, &hash(&first["rootHash"]), &hash(&second["rootHash"]), &proof)
        .expect("consistency proof verifies");
    let heads = ok(&w.run(Some(&t.auditor), "{ treeHeads { treeSize } }", json!({})).await)["treeHeads"].clone();
    let sizes: Vec<u64> = heads.as_array().expect("heads").iter().filter_map(|h| h["treeSize"].as_u64()).collect();
    assert!(sizes.contains(&first_size) && sizes.contains(&second_size), "heads are kept: {sizes:?}");
}

#[tokio::test]
async fn a_proof_beyond_the_tree_is_bad_input_and_an_unknown_event_is_not_found() {
    let w = world();
    let t = w.tenant(1).await;
    let other = w.tenant(2).await;
    w.sync().await;
    let q = "query($e: ID!, $n: Int!) { inclusionProof(eventId: $e, treeSize: $n) { leafIndex } }";
    let beyond = w.run(Some(&t.auditor), q, json!({ "e": t.first_event.to_string(), "n": 1_000_000 })).await;
    assert_eq!(code(&beyond).as_deref(), Some("BAD_INPUT"));
    // Another Partner's event is not in this Partner's log.
    let foreign = w.run(Some(&t.auditor), q, json!({ "e": other.first_event.to_string(), "n": 1 })).await;
    assert_eq!(code(&foreign).as_deref(), Some("NOT_FOUND"));
    let c = "query { consistencyProof(first: 3, second: 2) { path } }";
    assert_eq!(code(&w.run(Some(&t.auditor), c, json!({})).await).as_deref(), Some("BAD_INPUT"));
}
