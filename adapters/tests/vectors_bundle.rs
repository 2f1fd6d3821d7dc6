//! `tests/vectors/bundle/`: a complete small export bundle (docs/audit-format.md §7.4),
//! made from a fixed log: a key rotation, two Partners (only one exported), stored tree
//! heads and an erased contact. It must match the code byte for byte and verify.
//! Regenerate after a deliberate format change with `LARAS_REGENERATE_VECTORS=1`.

#[path = "support/vector_log.rs"]
mod vector_log;

use laras_adapters::audit_bundle::verify_bundle;
use std::path::Path;
use vector_log::{export_to, first_key};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/bundle");

#[test]
fn the_bundle_vector_matches_the_code_and_verifies() {
    let made = tempfile::tempdir().unwrap();
    let fresh = made.path().join("bundle");
    export_to(&fresh);
    if std::env::var("LARAS_REGENERATE_VECTORS").is_ok() {
        std::fs::remove_dir_all(DIR).ok();
        std::fs::create_dir_all(DIR).unwrap();
        for entry in std::fs::read_dir(&fresh).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), Path::new(DIR).join(entry.file_name())).unwrap();
        }
    }
    let mut names: Vec<_> = std::fs::read_dir(&fresh).unwrap().map(|e| e.unwrap().file_name()).collect();
    names.sort();
    assert_eq!(names.len(), 7);
    for name in names {
        let stored = std::fs::read(Path::new(DIR).join(&name)).unwrap_or_else(|_| {
            panic!("tests/vectors/bundle/{name:?} exists (regenerate with LARAS_REGENERATE_VECTORS=1)")
        });
        assert_eq!(stored, std::fs::read(fresh.join(&name)).unwrap(), "{name:?} changed: update docs/audit-format.md");
    }
    let report = verify_bundle(Path::new(DIR), &[first_key().public()], &|_| {});
    assert!(report.ok, "{report}");
    assert_eq!((report.envelopes, report.signing_key_events, report.tree_heads), (5, 2, 3));
    assert_eq!((report.consistency_proofs, report.erased_contacts), (2, 1));
}
