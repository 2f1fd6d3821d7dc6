//! `tests/vectors/proofs.json`: Merkle roots, inclusion and consistency proofs, and a
//! signed tree head, exactly as the code makes them (docs/audit-format.md §7).
//! Regenerate after a deliberate format change with `LARAS_REGENERATE_VECTORS=1`.

use laras_domain::ids::PartnerId;
use laras_domain::merkle::*;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/proofs.json");
const SIZE: u64 = 7;

/// Stand-ins for envelope hashes: SHA-256 of "envelope <i>".
fn envelope_hashes() -> Vec<[u8; 32]> {
    (0..SIZE).map(|i| Sha256::digest(format!("envelope {i}").as_bytes()).into()).collect()
}

fn render() -> Value {
    let data = envelope_hashes();
    let leaves: Vec<NodeHash> = data.iter().map(|d| leaf_hash(d)).collect();
    let nodes = MemoryNodes::from_leaves(&leaves);
    let hexes = |v: &[NodeHash]| v.iter().map(hex::encode).collect::<Vec<_>>();
    let roots: Vec<Value> =
        (0..=SIZE).map(|n| json!({ "tree_size": n, "root_hash": hex::encode(root_at(&nodes, n).unwrap()) })).collect();
    let mut inclusion = Vec::new();
    for n in [1, 5, SIZE] {
        for m in 0..n {
            let path = inclusion_proof(&nodes, m, n).unwrap();
            inclusion.push(json!({ "leaf_index": m, "tree_size": n, "path": hexes(&path) }));
        }
    }
    let mut consistency = Vec::new();
    for (m, n) in [(1, SIZE), (2, SIZE), (3, SIZE), (4, SIZE), (5, SIZE), (6, SIZE), (SIZE, SIZE), (3, 5), (2, 4)] {
        let path = consistency_proof(&nodes, m, n).unwrap();
        consistency.push(json!({ "first": m, "second": n, "path": hexes(&path) }));
    }
    let key = LedgerSigningKey::from_secret([0x2a; 32]);
    let partner = PartnerId(Uuid::from_u128(0x9a27_4e12));
    let head = TreeHead::sign(partner, SIZE, root_at(&nodes, SIZE).unwrap(), Timestamp(1_767_225_600_000), &key);
    json!({
        "format": "laras Merkle log and tree heads v1 (docs/audit-format.md §7)",
        "envelope_hashes": hexes(&data),
        "leaf_hashes": hexes(&leaves),
        "roots": roots,
        "inclusion": inclusion,
        "consistency": consistency,
        "tree_head": {
            "signing_key": { "public": key.public_hex(), "key_id": key.id().as_str() },
            "partner_id": partner.to_string(),
            "tree_size": head.tree_size,
            "root_hash": hex::encode(head.root_hash),
            "timestamp_ms": head.timestamp.0,
            "key_id": head.key_id.as_str(),
            "signed_bytes_hex": hex::encode(head.signed_bytes()),
            "signature": hex::encode(head.signature),
        },
    })
}

#[test]
fn the_proof_vectors_match_the_code() {
    let rendered = serde_json::to_string_pretty(&render()).unwrap() + "\n";
    if std::env::var("LARAS_REGENERATE_VECTORS").is_ok() {
        std::fs::write(PATH, &rendered).unwrap();
    }
    let stored = std::fs::read_to_string(PATH)
        .expect("tests/vectors/proofs.json exists (regenerate with LARAS_REGENERATE_VECTORS=1)");
    assert_eq!(stored, rendered, "the format changed: update docs/audit-format.md and regenerate the vectors");
}

#[test]
fn the_proof_vectors_verify() {
    let v = render();
    let leaves: Vec<NodeHash> = envelope_hashes().iter().map(|d| leaf_hash(d)).collect();
    let unhex = |s: &Value| -> NodeHash { hex::decode(s.as_str().unwrap()).unwrap().try_into().unwrap() };
    let root = |n: u64| unhex(&v["roots"][n as usize]["root_hash"]);
    for p in v["inclusion"].as_array().unwrap() {
        let (m, n) = (p["leaf_index"].as_u64().unwrap(), p["tree_size"].as_u64().unwrap());
        let path: Vec<NodeHash> = p["path"].as_array().unwrap().iter().map(unhex).collect();
        verify_inclusion(m, n, &leaves[m as usize], &path, &root(n)).unwrap();
    }
    for p in v["consistency"].as_array().unwrap() {
        let (m, n) = (p["first"].as_u64().unwrap(), p["second"].as_u64().unwrap());
        let path: Vec<NodeHash> = p["path"].as_array().unwrap().iter().map(unhex).collect();
        verify_consistency(m, n, &root(m), &root(n), &path).unwrap();
    }
    assert_eq!(v["roots"][0]["root_hash"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}
