//! `X-Hub-Signature-256`: `[secret length][secret][header length][header][body]`.
//! Beyond not panicking: the true signature passes, and a fuzzed header passes only
//! when it is the true signature (up to hex case and surrounding whitespace).
#![no_main]

use hmac::{Hmac, Mac};
use laras_adapters::meta_webhook::verify_signature;
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

fn field(data: &[u8]) -> (&[u8], &[u8]) {
    match data.split_first() {
        Some((&n, rest)) => rest.split_at((n as usize).min(rest.len())),
        None => (&[], &[]),
    }
}

fuzz_target!(|data: &[u8]| {
    let (secret, rest) = field(data);
    let (header, body) = field(rest);
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key");
    mac.update(body);
    let truth = hex::encode(mac.finalize().into_bytes());
    assert_eq!(verify_signature(secret, body, Some(&format!("sha256={truth}"))), Ok(()));
    let header = String::from_utf8_lossy(header);
    if verify_signature(secret, body, Some(&header)).is_ok() {
        let digest = header.trim().strip_prefix("sha256=").map(str::to_ascii_lowercase);
        assert_eq!(digest.as_deref(), Some(truth.as_str()), "a wrong signature passed");
    }
});
