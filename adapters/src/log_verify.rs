//! Verifies a whole log on every core: hashes and signatures in parallel, chains and
//! key validity in one ordered pass.
//!
//! Per chunk of envelopes: canonical bytes and SHA-256 in parallel; then, in position
//! order, each stream's chain and the signer's validity (key events update the ring);
//! then Ed25519 batch verification in parallel slices (a failing slice is re-checked
//! one by one to name the first bad envelope). Both follow docs/audit-format.md §3:
//! byte checks on `R`, `S` and the key, then the cofactored equation, so a batch accepts
//! exactly what single verification accepts. The first failure by position wins;
//! verification stops at the chunk that holds it.

use laras_commands::store::{StoreError, StoredEnvelope};
use laras_domain::envelope::Hash32;
use laras_domain::signing::{verify_batch, verify_signature};
use laras_domain::verification::{ChainChecker, EventIds, Failure, FailureKind, KeyRing};
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
    let mut checker = EnvelopeChecker::new(anchors);
    let mut events = 0u64;
    let mut first_failure = None;
    let items = envelopes.enumerate().map(|(i, item)| {
        item.map_err(|e| Failure {
            position: i as u64 + 1,
            event_id: None,
            kind: FailureKind::Malformed { detail: e.to_string() },
        })
    });
    in_chunks(items, |chunk| {
        let outcome = checker.check_chunk(&chunk);
        events += outcome.hashes.len() as u64;
        progress(events);
        first_failure = outcome.failure;
        first_failure.is_none()
    });
    let seconds = started.elapsed().as_secs_f64();
    VerifyReport {
        events,
        streams: checker.chains.streams(),
        keys: checker.ring.introduced().iter().map(|k| k.to_string()).collect(),
        first_failure,
        seconds,
        events_per_s: if seconds > 0.0 { events as f64 / seconds } else { 0.0 },
    }
}

/// Feeds `items` to `check` in chunks; reading the next chunk overlaps with checking
/// this one. `check` answers whether to go on.
pub fn in_chunks<T: Send>(items: impl Iterator<Item = T> + Send, mut check: impl FnMut(Vec<T>) -> bool) {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<T>>(2);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut chunk = Vec::with_capacity(CHUNK);
            for item in items {
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
            if !check(chunk) {
                break;
            }
        }
    });
}

/// What checking one chunk found.
pub struct ChunkOutcome {
    /// The hashes of the envelopes that passed, in order (all of them without a failure).
    pub hashes: Vec<Hash32>,
    pub failure: Option<Failure>,
}

/// Checks envelopes in order: chains and key validity in one ordered pass, hashes and
/// signatures on every core.
pub struct EnvelopeChecker {
    pub ring: KeyRing,
    pub chains: ChainChecker,
    pub ids: EventIds,
}

impl EnvelopeChecker {
    pub fn new(anchors: &[ed25519_dalek::VerifyingKey]) -> Self {
        Self { ring: KeyRing::new(anchors.to_vec()), chains: ChainChecker::default(), ids: EventIds::default() }
    }

    /// Checks the next envelopes of the log; an `Err` item is a failure already named.
    pub fn check_chunk(&mut self, chunk: &[Result<StoredEnvelope, Failure>]) -> ChunkOutcome {
        let hashed: Vec<Result<Checked, String>> = chunk
            .par_iter()
            .map(|item| match item {
                Err(_) => Err(String::new()),
                Ok(s) => s
                    .envelope
                    .canonical_bytes()
                    .map_err(|e| e.to_string())
                    .map(|bytes| Checked { hash: Sha256::digest(&bytes).into(), bytes }),
            })
            .collect();
        // (index in the chunk, failure) of the first structural failure.
        let mut failure: Option<(usize, Failure)> = None;
        let mut to_verify = Vec::with_capacity(chunk.len());
        for (i, (item, hashed)) in chunk.iter().zip(&hashed).enumerate() {
            let stored = match item {
                Ok(s) => s,
                Err(f) => {
                    failure = Some((i, f.clone()));
                    break;
                }
            };
            let h = &stored.envelope.header;
            let fail = |kind| Some((i, Failure { position: stored.position, event_id: Some(h.event_id), kind }));
            let checked = match hashed {
                Ok(c) => c,
                Err(detail) => {
                    failure = fail(FailureKind::Malformed { detail: detail.clone() });
                    break;
                }
            };
            if let Err(kind) = self.ids.check(h.event_id) {
                failure = fail(kind);
                break;
            }
            if let Err(kind) = self.chains.check(h, checked.hash) {
                failure = fail(kind);
                break;
            }
            match self.ring.signer_of(&stored.envelope) {
                Ok(key) => to_verify.push((i, key)),
                Err(kind) => {
                    failure = fail(kind);
                    break;
                }
            }
        }
        if let Some(i) = first_bad_signature(chunk, &hashed, &to_verify) {
            if let Ok(s) = &chunk[i] {
                if failure.as_ref().is_none_or(|(at, _)| i < *at) {
                    let kind = FailureKind::BadSignature { key_id: s.envelope.header.key_id.to_string() };
                    let event_id = Some(s.envelope.header.event_id);
                    failure = Some((i, Failure { position: s.position, event_id, kind }));
                }
            }
        }
        let passed = failure.as_ref().map_or(chunk.len(), |(i, _)| *i);
        let hashes = hashed[..passed].iter().filter_map(|c| c.as_ref().ok().map(|c| c.hash)).collect();
        ChunkOutcome { hashes, failure: failure.map(|(_, f)| f) }
    }
}

/// Batch verification in parallel slices; a failing slice is re-checked one by one
/// (batch verification says only "something failed") to find the first bad envelope.
/// Both use the one definition of docs/audit-format.md §3, so they agree.
fn first_bad_signature(
    chunk: &[Result<StoredEnvelope, Failure>],
    hashed: &[Result<Checked, String>],
    to_verify: &[(usize, ed25519_dalek::VerifyingKey)],
) -> Option<usize> {
    let item = |i: usize| match (&chunk[i], &hashed[i]) {
        (Ok(s), Ok(c)) => Some((c.bytes.as_slice(), &s.envelope.signature)),
        _ => None,
    };
    to_verify
        .par_chunks(BATCH)
        .filter_map(|batch| {
            let items: Vec<_> =
                batch.iter().filter_map(|(i, key)| item(*i).map(|(bytes, sig)| (*key, bytes, sig))).collect();
            if items.len() == batch.len() && verify_batch(&items, rand::thread_rng()) {
                return None;
            }
            batch
                .iter()
                .find(|(i, key)| !item(*i).is_some_and(|(bytes, sig)| verify_signature(key, bytes, sig)))
                .map(|(i, _)| *i)
        })
        .min()
}
