//! `laras witness` against the real server: it cosigns the Partner's head, the server
//! serves the cosignature with the head and the export carries it, so `audit verify
//! --witness-key` passes; a head inconsistent with the one the witness cosigned (a fork)
//! is refused with exit status 2, evidence kept, nothing cosigned.

mod common;

use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

fn witness_run(server: &Server, partner: &str, auditor: &str, log_key: &str, key: &Path, state: &Path) -> Output {
    laras(&server.data_dir)
        .args(["witness", "run", "--url", &format!("{}/graphql", server.base), "--partner", partner])
        .args(["--log-key", log_key, "--key-file"])
        .arg(key)
        .arg("--state")
        .arg(state)
        .env("LARAS_WITNESS_API_KEY", auditor)
        .output()
        .expect("run laras witness")
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A fresh head once the Merkle log has taken in `size` leaves of the Partner.
fn head_of_size(base: &str, key: &str, size: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let head = graphql(base, key, "{ treeHead(fresh: true) { treeSize rootHash } }")["treeHead"].clone();
        if head["treeSize"].as_u64() == Some(size) {
            return head;
        }
        assert!(Instant::now() < deadline, "the Merkle log never reached {size} leaves: {head}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_witness_cosigns_the_served_head_and_refuses_a_fork() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = run(&data, &["partner", "create", "--name", "Toko Saksi"]);
    assert!(out.status.success(), "{}", text(&out));
    let created: Value = serde_json::from_slice(&out.stdout).expect("json");
    let partner = created["partner_id"].as_str().expect("partner").to_owned();
    let owner = created["owner_key"].as_str().expect("owner key").to_owned();
    let keys = String::from_utf8(run(&data, &["keys"]).stdout).expect("utf-8");
    let log_key = keys.split_whitespace().nth(1).expect("the ledger's public key").to_owned();

    // The witness's own key, made on its own machine.
    let key = dir.path().join("witness.key");
    let out = run(&data, &["witness", "init", "--key-file", key.to_str().expect("utf-8"), "--name", "witness.test/w1"]);
    assert!(out.status.success(), "{}", text(&out));
    let public = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("public key: ").map(str::to_owned))
        .expect("the public key is printed");

    let server = Server::start(&data, &[]);
    let auditor = graphql(&server.base, &owner, "mutation { createApiKey(role: AUDITOR) { key } }")["createApiKey"]
        ["key"]
        .as_str()
        .expect("auditor key")
        .to_owned();
    let register =
        format!(r#"mutation {{ registerWitness(name: "witness.test/w1", publicKey: "{public}") {{ position }} }}"#);
    graphql(&server.base, &owner, &register);
    let listed = graphql(&server.base, &auditor, "{ witnesses { name publicKey vkey } }");
    assert_eq!(listed["witnesses"][0]["publicKey"], public.as_str(), "{listed}");
    // PartnerOnboarded and WitnessRegistered.
    let head = head_of_size(&server.base, &auditor, 2);

    let state = dir.path().join("witness-state.json");
    let out = witness_run(&server, &partner, &auditor, &log_key, &key, &state);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("cosigned the tree head of size 2"), "{}", text(&out));
    let served = graphql(
        &server.base,
        &auditor,
        "{ treeHead { treeSize rootHash checkpoint cosignatures { witnessName witnessKey treeSize rootHash noteLine } } }",
    )["treeHead"]
        .clone();
    assert_eq!(served["rootHash"], head["rootHash"]);
    assert!(served["checkpoint"].as_str().expect("checkpoint").starts_with(&format!("laras/partner/{partner}\n2\n")));
    let cosignatures = served["cosignatures"].as_array().expect("a list");
    assert_eq!(cosignatures.len(), 1, "{served}");
    assert_eq!(cosignatures[0]["witnessKey"], public.as_str());
    assert!(cosignatures[0]["noteLine"].as_str().expect("line").starts_with("\u{2014} witness.test/w1 "));
    // Polling again with nothing new re-cosigns the same state: still one cosignature.
    assert!(witness_run(&server, &partner, &auditor, &log_key, &key, &state).status.success());

    // The witness remembers another tree of size 2: the served head is a fork of it.
    let kept = std::fs::read_to_string(&state).expect("state");
    let forked: Value = json!({
        "origin": format!("laras/partner/{partner}"), "tree_size": 2, "root_hash": "ab".repeat(32),
    });
    std::fs::write(&state, forked.to_string()).expect("write state");
    let out = witness_run(&server, &partner, &auditor, &log_key, &key, &state);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("REFUSED") && text(&out).contains("FORK"), "{}", text(&out));
    assert!(state.with_extension("refused-2.json").exists(), "the refused head is kept as evidence");
    // A remembered tree of size 1 that the served head does not extend: refused too.
    let forked: Value = json!({
        "origin": format!("laras/partner/{partner}"), "tree_size": 1, "root_hash": "cd".repeat(32),
    });
    std::fs::write(&state, forked.to_string()).expect("write state");
    let out = witness_run(&server, &partner, &auditor, &log_key, &key, &state);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&state).expect("state"), forked.to_string(), "the state is unchanged");
    std::fs::write(&state, kept).expect("restore state");
    let still = graphql(&server.base, &auditor, "{ treeHeads { cosignatures { witnessKey } } }");
    let total: usize = still["treeHeads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h["cosignatures"].as_array().map_or(0, Vec::len))
        .sum();
    assert!(total >= 1, "{still}");
    assert!(server.stop().success());

    // The export carries the cosignature; the auditor requires that witness.
    let bundle = dir.path().join("bundle");
    let out = run(&data, &["export", "--partner", &partner, "--out", bundle.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out));
    let verify = |extra: &[&str]| {
        let out = laras(&data).args(["audit", "verify"]).arg(&bundle).args(extra).arg("--json").output().expect("run");
        (out.status.success(), serde_json::from_slice::<Value>(&out.stdout).expect("a JSON report"))
    };
    let (ok, report) = verify(&["--trust-key", &log_key, "--witness-key", &public]);
    assert!(ok, "{report}");
    assert_eq!(report["witnesses"], 1);
    let other = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    let (ok, report) = verify(&["--witness-key", &public, "--witness-key", other, "--min-witnesses", "2"]);
    assert!(!ok);
    assert_eq!(report["first_failure"]["kind"]["kind"], "not_witnessed", "{report}");
    assert_eq!(report["first_failure"]["file"], "cosignatures.json");
}
