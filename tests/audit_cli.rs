//! `laras export` and `laras audit verify` through the real binary: an honest bundle
//! passes with exit 0, pinned to the published key; a changed byte fails with exit 1
//! and a machine-readable reason.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

const BENCH_PARTNER: &str = "00000000-0000-0000-0000-00000000be4c";

fn audit_verify(bundle: &Path, extra: &[&str]) -> (bool, Value) {
    let out = std::process::Command::new(BIN)
        .args(["audit", "verify"])
        .arg(bundle)
        .args(extra)
        .arg("--json")
        .env("LARAS_LOG", "warn")
        .output()
        .expect("run laras");
    let report = serde_json::from_slice(&out.stdout).expect("a JSON report");
    (out.status.success(), report)
}

#[test]
fn an_exported_bundle_verifies_offline_and_a_flipped_byte_fails_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = run(&data, &["bench", "appends", "--count", "300"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundle = dir.path().join("bundle");
    let out = run(&data, &["export", "--partner", BENCH_PARTNER, "--out", bundle.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("exported"));

    // Pinned to the key `laras keys` publishes.
    let keys = String::from_utf8(run(&data, &["keys"]).stdout).expect("utf-8");
    let public = keys.split_whitespace().nth(1).expect("a public key").to_owned();
    let (ok, report) = audit_verify(&bundle, &["--trust-key", &public]);
    assert!(ok, "{report}");
    assert_eq!(report["anchor"], "given");
    assert!(report["envelopes"].as_u64().expect("count") >= 300);
    assert_eq!(report["envelopes"], report["envelopes_declared"]);

    // A second export into the same directory is refused; a fresh one carries both heads.
    let again = run(&data, &["export", "--partner", BENCH_PARTNER, "--out", bundle.to_str().expect("utf-8")]);
    assert!(!again.status.success());
    let second = dir.path().join("second");
    assert!(run(&data, &["export", "--partner", BENCH_PARTNER, "--out", second.to_str().expect("utf-8")])
        .status
        .success());
    let (ok, report) = audit_verify(&second, &[]);
    assert!(ok, "{report}");
    assert!(report["tree_heads"].as_u64().expect("heads") >= 2, "the first export's head is kept: {report}");

    // The auditor kept the first bundle's heads: the second bundle extends them.
    let kept = bundle.join("tree-heads.json");
    let (ok, report) = audit_verify(&second, &["--known-head", kept.to_str().expect("utf-8")]);
    assert!(ok, "{report}");
    assert!(report["known_heads"].as_u64().expect("known") >= 1, "{report}");
    // A kept head whose root was changed is not one Laras signed.
    let mut heads: Value = serde_json::from_slice(&std::fs::read(&kept).expect("read")).expect("json");
    heads[0]["root_hash"] = Value::String("ab".repeat(32));
    let forged = dir.path().join("forged-head.json");
    std::fs::write(&forged, serde_json::to_vec(&heads[0]).expect("json")).expect("write");
    let (ok, report) = audit_verify(&second, &["--known-head", forged.to_str().expect("utf-8")]);
    assert!(!ok);
    assert_eq!(report["first_failure"]["kind"]["kind"], "bad_tree_head_signature", "{report}");
    assert_eq!(report["first_failure"]["position"], 1);

    let path = bundle.join("envelopes.bin");
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&path, bytes).expect("write");
    let (ok, report) = audit_verify(&bundle, &["--trust-key", &public]);
    assert!(!ok);
    assert_eq!(report["first_failure"]["file"], "envelopes.bin");
    assert!(report["first_failure"]["position"].as_u64().expect("position") > 0);
    assert!(report["first_failure"]["kind"]["kind"].is_string(), "{report}");
}

#[test]
fn exporting_an_unknown_partner_is_an_error_and_leaves_no_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(run(&data, &["bench", "appends", "--count", "10"]).status.success());
    let bundle = dir.path().join("bundle");
    let out = run(
        &data,
        &["export", "--partner", "00000000-0000-0000-0000-000000000001", "--out", bundle.to_str().expect("utf-8")],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no events"));
    assert!(!bundle.exists());
}
