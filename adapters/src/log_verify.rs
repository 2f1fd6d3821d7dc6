//! Verifies a whole log on every core: hashes and signatures in parallel, chains and
//! key validity in one ordered pass.
//!
//! Per chunk of envelopes: canonical bytes and SHA-256 in parallel; then, in position
//! order, each stream's chain and the signer's validity (key events update the ring);
//! then Ed25519 batch verification in parallel slices (a failing slice is re-checked
//! one by one to name the first bad envelope). The first failure by position wins;
//! verification stops at the chunk that holds it.

use laras_commands::store::{StoreError, StoredEnvelope};
use laras_domain::envelope::Hash32;
use laras_domain::verification::{ChainChecker, Failure, FailureKind, KeyRing};
use rayon::prelude::*;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::time::Instant;

const CHUNK: usize = 8192;
const BATCH: usize = 256;

#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    pub events: u64,
    pub streams: usize,
    pub keys: Vec<String>,
    pub first_failure: Option<Failure>,
    pub seconds: f64,
    pub events_per_s: f64,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.first_failure.is_none()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "checked {} events in {} streams signed by {} key(s) in {:.2} s ({:.0} events/s)",
            self.events,
            self.streams,
            self.keys.len(),
            self.seconds,
            self.events_per_s
        )?;
        match &self.first_failure {
            None => write!(f, "OK: every hash, chain link and signature holds"),
            Some(failure) => write!(f, "FAILED at {failure}"),
        }
    }
}

struct Checked {
    bytes: Vec<u8>,
    hash: Hash32,
}

/// Verifies `envelopes` (in position order) against the trust `anchors`; `progress` is
/// called with the number of envelopes checked so far.
pub fn verify_log(
    envelopes: impl Iterator<Item = Result<StoredEnvelope, StoreError>> + Send,
    anchors: &[ed25519_dalek::VerifyingKey],
    progress: &(dyn Fn(u64) + Sync),
) -> VerifyReport {
    let started = Instant::now();
    let mut ring = KeyRing::new(anchors.to_vec());
    let mut chains = ChainChecker::default();
    let mut events = 0u64;
    let mut first_failure = None;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Result<StoredEnvelope, StoreError>>>(2);
    std::thread::scope(|scope| {
        // Reading and decoding rows overlaps with checking the previous chunk.
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            for item in envelopes {
                chunk.push(item);
                if chunk.len() == CHUNK && tx.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).is_err() {
                    return;
                }
            }
            if !chunk.is_empty() {
                let _ = tx.send(chunk);
            }
        });
        for chunk in rx {
            let (checked, failure) = check_chunk(&chunk, &mut ring, &mut chains, events);
            events += checked;
            progress(events);
            if failure.is_some() {
                first_failure = failure;
                break;
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    VerifyReport {
        events,
        streams: chains.streams(),
        keys: ring.introduced().iter().map(|k| k.to_string()).collect(),
        first_failure,
        seconds,
        events_per_s: if seconds > 0.0 { events as f64 / seconds } else { 0.0 },
    }
}

fn check_chunk(
    chunk: &[Result<StoredEnvelope, StoreError>],
    ring: &mut KeyRing,
    chains: &mut ChainChecker,
    before: u64,
) -> (u64, Option<Failure>) {
    let hashed: Vec<Result<Checked, String>> = chunk
        .par_iter()
        .map(|item| match item {
            Err(e) => Err(e.to_string()),
            Ok(s) => s
                .envelope
                .canonical_bytes()
                .map_err(|e| e.to_string())
                .map(|bytes| Checked { hash: Sha256::digest(&bytes).into(), bytes }),
        })
        .collect();
    let mut failure: Option<Failure> = None;
    let mut to_verify = Vec::with_capacity(chunk.len());
    for (i, (item, hashed)) in chunk.iter().zip(&hashed).enumerate() {
        let (stored, checked) = match (item, hashed) {
            (Ok(s), Ok(c)) => (s, c),
            (item, hashed) => {
                let detail = hashed.as_ref().err().cloned().unwrap_or_default();
                let position = item.as_ref().map(|s| s.position).unwrap_or(before + i as u64 + 1);
                failure = Some(Failure { position, event_id: None, kind: FailureKind::Malformed { detail } });
                break;
            }
        };
        let h = &stored.envelope.header;
        let fail = |kind| Some(Failure { position: stored.position, event_id: Some(h.event_id), kind });
        if let Err(kind) = chains.check(h, checked.hash) {
            failure = fail(kind);
            break;
        }
        match ring.signer_of(&stored.envelope) {
            Ok(key) => to_verify.push((i, key)),
            Err(kind) => {
                failure = fail(kind);
                break;
            }
        }
    }
    // Signatures of everything before the first structural failure.
    let bad_signature = to_verify
        .par_chunks(BATCH)
        .filter_map(|batch| {
            let messages: Vec<&[u8]> =
                batch.iter().filter_map(|(i, _)| hashed[*i].as_ref().ok().map(|c| c.bytes.as_slice())).collect();
            let signatures: Vec<ed25519_dalek::Signature> =
                batch.iter().filter_map(|(i, _)| signature_of(&chunk[*i])).collect();
            let keys: Vec<ed25519_dalek::VerifyingKey> = batch.iter().map(|(_, k)| *k).collect();
            if messages.len() == batch.len()
                && signatures.len() == batch.len()
                && ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok()
            {
                return None;
            }
            // Batch verification says only "something failed": find the first one.
            batch
                .iter()
                .find(|(i, key)| {
                    let ok = match (&chunk[*i], &hashed[*i]) {
                        (Ok(s), Ok(c)) => key
                            .verify_strict(&c.bytes, &ed25519_dalek::Signature::from_bytes(&s.envelope.signature))
                            .is_ok(),
                        _ => false,
                    };
                    !ok
                })
                .map(|(i, _)| *i)
        })
        .min();
    if let Some(i) = bad_signature {
        if let Ok(s) = &chunk[i] {
            let candidate = Failure {
                position: s.position,
                event_id: Some(s.envelope.header.event_id),
                kind: FailureKind::BadSignature { key_id: s.envelope.header.key_id.to_string() },
            };
            if failure.as_ref().is_none_or(|f| candidate.position < f.position) {
                failure = Some(candidate);
            }
        }
    }
    let checked = match &failure {
        Some(f) => f.position.saturating_sub(before).saturating_sub(1),
        None => chunk.len() as u64,
    };
    (checked, failure)
}

fn signature_of(item: &Result<StoredEnvelope, StoreError>) -> Option<ed25519_dalek::Signature> {
    item.as_ref().ok().map(|s| ed25519_dalek::Signature::from_bytes(&s.envelope.signature))
}
