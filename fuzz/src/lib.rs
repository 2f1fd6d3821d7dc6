//! What the fuzz targets share: the webhook check that forces a channel, and the
//! framing that turns one input into the files of an audit bundle.

use laras_adapters::meta_webhook::{parse, WebhookBatch};
use laras_domain::channel::ChannelKind;
use laras_domain::time::Timestamp;
use serde_json::Value;

/// The time a delivery is received at, for the times payloads do not carry.
pub const RECEIVED_AT: Timestamp = Timestamp(1_767_225_600_000);

/// Parses `data` as it came, and once more with its `object` set to `object`, so the
/// channel's reader sees every mutation the fuzzer makes to a delivery of another shape.
pub fn webhook(data: &[u8], object: Option<&str>, channel: &[ChannelKind]) {
    check(parse(data, RECEIVED_AT).ok(), None);
    let Ok(Value::Object(mut delivery)) = serde_json::from_slice::<Value>(data) else { return };
    match object {
        Some(object) => {
            delivery.insert("object".into(), Value::String(object.into()));
        }
        None => {
            delivery.remove("object");
        }
    }
    let Ok(bytes) = serde_json::to_vec(&delivery) else { return };
    let batch = parse(&bytes, RECEIVED_AT).expect("a JSON object always parses");
    check(Some(batch), Some(channel));
}

fn check(batch: Option<WebhookBatch>, channel: Option<&[ChannelKind]>) {
    let Some(batch) = batch else { return };
    for ignored in &batch.ignored {
        // Reasons are logged: kinds and field names, bounded, never the content.
        assert!(ignored.reason.chars().count() <= 120, "unbounded ignore reason {:?}", ignored.reason);
    }
    for m in &batch.malformed {
        assert!(m.position.len() <= 80, "unbounded position {:?}", m.position);
    }
    if let Some(channels) = channel {
        for s in &batch.signals {
            assert!(channels.contains(&s.channel()), "a {} signal from a {channels:?} delivery", s.channel());
        }
    }
}

/// The files a bundle may hold, in the order the framing numbers them.
pub const BUNDLE_FILES: [&str; 8] = [
    "manifest.json",
    "keys.json",
    "signing-keys.bin",
    "envelopes.bin",
    "tree-heads.json",
    "consistency.json",
    "erased.json",
    "cosignatures.json",
];

/// Splits an input into bundle files: repeated `[file number][u32 big-endian length][bytes]`
/// (a length past the end takes the rest; a later section for the same file replaces it).
pub fn bundle_files(mut data: &[u8]) -> Vec<(&'static str, &[u8])> {
    let mut files: Vec<(&'static str, &[u8])> = Vec::new();
    while let Some((&n, rest)) = data.split_first() {
        let name = BUNDLE_FILES[n as usize % BUNDLE_FILES.len()];
        let (len, rest) = match rest.split_first_chunk::<4>() {
            Some((len, rest)) => (u32::from_be_bytes(*len) as usize, rest),
            None => (rest.len(), &[][..]),
        };
        let (body, rest) = rest.split_at(len.min(rest.len()));
        files.retain(|(f, _)| *f != name);
        files.push((name, body));
        data = rest;
    }
    files
}
