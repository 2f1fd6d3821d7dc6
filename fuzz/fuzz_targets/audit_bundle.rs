//! `laras audit verify` over a bundle directory whose files come from the input (framed
//! as `laras_fuzz::bundle_files` says), with the bundle's own first key as the anchor.
#![no_main]

use laras_adapters::audit_bundle::verify_bundle;
use laras_fuzz::{bundle_files, BUNDLE_FILES};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir")).path();
    for name in BUNDLE_FILES {
        let _ = std::fs::remove_file(dir.join(name));
    }
    for (name, body) in bundle_files(data) {
        std::fs::write(dir.join(name), body).expect("a bundle file is written");
    }
    let report = verify_bundle(dir, &[], &|_| {});
    assert_eq!(report.ok, report.first_failure.is_none());
    assert!(report.envelopes <= data.len() as u64, "more envelopes checked than the input could hold");
});
