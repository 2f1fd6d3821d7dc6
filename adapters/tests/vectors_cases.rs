//! `tests/vectors/cases/`: one bundle per conformance case (docs/audit-format.md §7.6),
//! each the vector bundle with one thing changed (or heads an auditor kept from earlier),
//! and `cases.json` naming the expected result: ok, or the first failure's file,
//! position and kind. Any verifier checks itself
//! against them (`tests/vectors/check_cases.py` does, from the document alone). The
//! bundles must match this code byte for byte; regenerate after a deliberate change with
//! `LARAS_REGENERATE_VECTORS=1`.

#[path = "support/vector_log.rs"]
mod vector_log;

use laras_adapters::audit_bundle::format::{self, ErasedContact, SignedTreeHead};
use laras_adapters::audit_bundle::{verify_bundle_witnessed, KnownHead, Witnesses};
use laras_commands::cosignatures::NamedCosignature;
use laras_domain::cosignature::Cosignature;
use laras_domain::envelope::{Envelope, Hash32};
use laras_domain::event::DomainEvent;
use laras_domain::ids::{EventId, PartnerId};
use laras_domain::signing::{KeyId, LedgerSigningKey};
use laras_domain::time::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest;
use std::path::{Path, PathBuf};
use uuid::Uuid;
use vector_log::{
    export_log, export_to, first_key, log, mixed_order_r_signature, second_key, small_order_r_signature, third_key,
    PARTNER, T0,
};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/vectors/cases");

/// A record as it sits in a `.bin` file.
#[derive(Clone)]
struct Raw {
    canonical: Vec<u8>,
    signature: [u8; 64],
}

fn read_raw(path: &Path) -> Vec<Raw> {
    let bytes = std::fs::read(path).unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let len = u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
        let canonical = bytes[i + 4..i + 4 + len].to_vec();
        let signature = bytes[i + 4 + len..i + 4 + len + 64].try_into().unwrap();
        out.push(Raw { canonical, signature });
        i += 4 + len + 64;
    }
    out
}

fn write_raw(path: &Path, records: &[Raw]) {
    let mut out = Vec::new();
    for r in records {
        out.extend_from_slice(&(r.canonical.len() as u32).to_be_bytes());
        out.extend_from_slice(&r.canonical);
        out.extend_from_slice(&r.signature);
    }
    std::fs::write(path, out).unwrap();
}

fn envelope(raw: &Raw) -> Envelope {
    Envelope::from_canonical(&raw.canonical, raw.signature).unwrap()
}

fn signed(envelope: &Envelope, key: &LedgerSigningKey) -> Raw {
    let canonical = envelope.canonical_bytes().unwrap();
    Raw { signature: key.sign(&canonical), canonical }
}

fn hash(raw: &Raw) -> Hash32 {
    sha2::Sha256::digest(&raw.canonical).into()
}

fn key_event(public_key: String, key_id: String, previous: Option<&KeyId>) -> DomainEvent {
    DomainEvent::SigningKeyRotated { key_id, public_key, previous: previous.map(|k| k.to_string()) }
}

fn introduce(next: &LedgerSigningKey, previous: Option<&KeyId>) -> DomainEvent {
    key_event(next.public_hex(), next.id().to_string(), previous)
}

/// The next envelope of the signing-keys stream after `keys` (whose last record it links to).
fn next_key_record(
    keys: &[Raw],
    partner: PartnerId,
    event: DomainEvent,
    at: i64,
    signer: &LedgerSigningKey,
    id: u128,
) -> Raw {
    let last = envelope(keys.last().unwrap());
    let mut env = last.clone();
    env.header.event_id = EventId(Uuid::from_u128(id));
    env.header.partner_id = partner;
    env.header.stream_version += 1;
    env.header.prev_hash = hash(keys.last().unwrap());
    env.header.recorded_at = Timestamp(at);
    env.header.event_type = event.event_type().to_owned();
    env.header.event_version = event.event_version();
    env.header.key_id = signer.id().clone();
    env.payload = event.encode_payload();
    signed(&env, signer)
}

fn nil() -> PartnerId {
    PartnerId(Uuid::nil())
}

struct Bundle(PathBuf);

impl Bundle {
    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
    fn records(&self, name: &str) -> Vec<Raw> {
        read_raw(&self.file(name))
    }
    fn set_records(&self, name: &str, records: &[Raw]) {
        write_raw(&self.file(name), records);
    }
    fn json(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.file(name)).unwrap()).unwrap()
    }
    fn set_json(&self, name: &str, value: &impl Serialize) {
        std::fs::write(self.file(name), serde_json::to_vec_pretty(value).unwrap()).unwrap();
    }
    fn set_manifest(&self, field: &str, value: Value) {
        let mut manifest = self.json(format::MANIFEST);
        manifest[field] = value;
        self.set_json(format::MANIFEST, &manifest);
    }
    /// Appends a record to a `.bin` file and raises the manifest's count to match.
    fn append(&self, name: &str, record: Raw) {
        let mut records = self.records(name);
        records.push(record);
        self.set_records(name, &records);
        let field = if name == format::ENVELOPES { "envelopes" } else { "signing_key_events" };
        self.set_manifest(field, records.len().into());
    }
    fn replace(&self, name: &str, position: usize, record: Raw) {
        let mut records = self.records(name);
        records[position - 1] = record;
        self.set_records(name, &records);
    }
}

/// What a case expects: `None` is ok.
type Expect = Option<(&'static str, u64, &'static str)>;

struct Case {
    name: &'static str,
    description: &'static str,
    /// The `--trust-key`; None for a run without one (the bundle's first key is the anchor).
    trust: Option<LedgerSigningKey>,
    expect: Expect,
    make: fn(&Bundle),
    /// Heads the auditor kept from earlier (`--known-head`), given the bundle.
    known: fn(&Bundle) -> Vec<SignedTreeHead>,
    /// The auditor's witnesses (`--witness-key`, as secret seeds) and `--min-witnesses`.
    witnesses: &'static [u8],
    min_witnesses: u64,
}

fn fail(file: &'static str, position: u64, kind: &'static str) -> Expect {
    Some((file, position, kind))
}

const ENV: &str = format::ENVELOPES;
const KEYS: &str = format::SIGNING_KEYS;

fn cases() -> Vec<Case> {
    let c = |name, description, expect, make| Case {
        name,
        description,
        trust: Some(first_key()),
        expect,
        make,
        known: |_| Vec::new(),
        witnesses: &[],
        min_witnesses: 0,
    };
    let known = |name, description, expect, known| Case {
        name,
        description,
        trust: Some(first_key()),
        expect,
        make: |_| {},
        known,
        witnesses: &[],
        min_witnesses: 0,
    };
    let witnessed = |name, description, expect, witnesses, min_witnesses, make| Case {
        name,
        description,
        trust: Some(first_key()),
        expect,
        make,
        known: |_| Vec::new(),
        witnesses,
        min_witnesses,
    };
    vec![
        c("honest", "the vector bundle unchanged", None, |_| {}),
        Case {
            name: "honest_without_trust_key",
            description: "no --trust-key: the first key of keys.json is the anchor",
            trust: None,
            expect: None,
            make: |_| {},
            known: |_| Vec::new(),
            witnesses: &[],
            min_witnesses: 0,
        },
        c(
            "unknown_event_version",
            "an InboundMessageReceived with event_version 2, correctly chained, signed and covered: a verifier does not judge payloads",
            None,
            |b| {
                std::fs::remove_dir_all(&b.0).unwrap();
                let mut log = log();
                let at = log.iter().position(|s| s.envelope.header.event_type == "InboundMessageReceived").unwrap();
                log[at].envelope.header.event_version = 2;
                // Re-signed, and its stream's later envelopes link to its new hash.
                relink(&mut log);
                export_log(log, &b.0);
            },
        ),
        // §3: strict signatures.
        c("small_order_r", "an envelope signed by its (valid) key with R the identity point", fail(ENV, 4, "bad_signature"), |b| {
            let mut raw = b.records(ENV)[3].clone();
            raw.signature = small_order_r_signature([0x2b; 32], &raw.canonical);
            b.replace(ENV, 4, raw);
        }),
        c("flipped_signature_bit", "one bit of an envelope's S flipped", fail(ENV, 3, "bad_signature"), |b| {
            let mut raw = b.records(ENV)[2].clone();
            raw.signature[40] ^= 0x01;
            b.replace(ENV, 3, raw);
        }),
        c(
            "mixed_order_r",
            "an envelope signed with R = a prime-order point plus a point of order 8: the cofactored equation holds",
            None,
            |b| {
                let mut raw = b.records(ENV)[3].clone();
                raw.signature = mixed_order_r_signature([0x2b; 32], &raw.canonical);
                b.replace(ENV, 4, raw);
            },
        ),
        // §1.1, §7.4: the bytes as stored.
        c("uppercase_actor_id", "a customer actor id in upper case, correctly signed over those bytes", fail(ENV, 2, "malformed"), |b| {
            let mut raw = b.records(ENV)[1].clone();
            // magic, event_id, partner_id, then str16(stream_id), u64, i64, u8, then str16(actor_id).
            let stream_len = u16::from_be_bytes([raw.canonical[40], raw.canonical[41]]) as usize;
            let len_at = 42 + stream_len + 8 + 8 + 1;
            let len = u16::from_be_bytes([raw.canonical[len_at], raw.canonical[len_at + 1]]) as usize;
            assert_eq!(&raw.canonical[len_at + 2..len_at + 2 + len], b"00000000-0000-0000-0000-0000000000c0");
            raw.canonical[len_at + 2..len_at + 2 + len].make_ascii_uppercase();
            raw.signature = first_key().sign(&raw.canonical);
            b.replace(ENV, 2, raw);
        }),
        c("invalid_utf8", "an event_type that is not UTF-8, correctly signed", fail(ENV, 1, "malformed"), |b| {
            let mut raw = b.records(ENV)[0].clone();
            let name = b"PartnerOnboarded";
            let at = raw.canonical.windows(name.len()).position(|w| w == name).unwrap();
            raw.canonical[at] = 0xff;
            raw.signature = first_key().sign(&raw.canonical);
            b.replace(ENV, 1, raw);
        }),
        // §3: one key history, in the signing-keys stream only.
        c(
            "key_event_in_envelopes",
            "a SigningKeyRotated with the Partner's id in envelopes.bin, continuing the signing-keys chain under the current key",
            fail(ENV, 6, "bad_key_event"),
            |b| {
                let keys = b.records(KEYS);
                let event = introduce(&third_key(), Some(second_key().id()));
                b.append(ENV, next_key_record(&keys, PARTNER, event, T0 + 7_500, &second_key(), 0xbad1));
            },
        ),
        c(
            "forked_key_history",
            "the first key endorses a second successor in the millisecond of the first",
            fail(KEYS, 3, "bad_key_event"),
            |b| {
                let keys = b.records(KEYS);
                let event = introduce(&third_key(), Some(first_key().id()));
                b.append(KEYS, next_key_record(&keys, nil(), event, T0 + 5_000, &first_key(), 0xbad2));
            },
        ),
        c("other_event_in_key_stream", "a ConversationAssigned in the signing-keys stream", fail(KEYS, 3, "bad_key_event"), |b| {
            let keys = b.records(KEYS);
            let event = DomainEvent::ConversationAssigned { assignee: None };
            b.append(KEYS, next_key_record(&keys, nil(), event, T0 + 5_500, &second_key(), 0xbad3));
        }),
        c("other_stream_in_key_file", "signing-keys.bin holds one of the Partner's envelopes", fail(KEYS, 3, "bad_key_event"), |b| {
            let first = b.records(ENV)[0].clone();
            b.append(KEYS, first);
        }),
        Case {
            name: "first_key_not_anchor",
            description: "the auditor's trust key is not the first key",
            trust: Some(third_key()),
            expect: fail(KEYS, 1, "bad_key_event"),
            make: |_| {},
            known: |_| Vec::new(),
            witnesses: &[],
            min_witnesses: 0,
        },
        c("second_first_key", "a second key event with previous null", fail(KEYS, 3, "bad_key_event"), |b| {
            let keys = b.records(KEYS);
            b.append(KEYS, next_key_record(&keys, nil(), introduce(&third_key(), None), T0 + 5_500, &third_key(), 0xbad4));
        }),
        c("previous_unknown", "previous names no key of the log", fail(KEYS, 3, "bad_key_event"), |b| {
            let keys = b.records(KEYS);
            let unknown = KeyId("ed25519:0000000000000000".into());
            let event = introduce(&third_key(), Some(&unknown));
            b.append(KEYS, next_key_record(&keys, nil(), event, T0 + 5_500, &second_key(), 0xbad5));
        }),
        c(
            "rotation_not_signed_by_previous",
            "a new key introduced under its own signature instead of its predecessor's",
            fail(KEYS, 3, "bad_key_event"),
            |b| {
                let keys = b.records(KEYS);
                let event = introduce(&third_key(), Some(second_key().id()));
                b.append(KEYS, next_key_record(&keys, nil(), event, T0 + 5_500, &third_key(), 0xbad6));
            },
        ),
        c("small_order_key", "a key event introducing the identity point as a key", fail(KEYS, 3, "bad_key_event"), |b| {
            let keys = b.records(KEYS);
            let mut identity = [0u8; 32];
            identity[0] = 1;
            let id = format!("ed25519:{}", hex::encode(&sha2::Sha256::digest(identity)[..8]));
            let event = key_event(hex::encode(identity), id, Some(second_key().id()));
            b.append(KEYS, next_key_record(&keys, nil(), event, T0 + 5_500, &second_key(), 0xbad7));
        }),
        // §7.5 step 2: the key file's framing and count.
        c("key_file_cut", "signing-keys.bin ends inside its second record", fail(KEYS, 2, "truncated"), |b| {
            let bytes = std::fs::read(b.file(KEYS)).unwrap();
            std::fs::write(b.file(KEYS), &bytes[..bytes.len() - 10]).unwrap();
        }),
        c("key_file_short", "the manifest declares 3 key events; the file holds 2", fail(KEYS, 3, "truncated"), |b| {
            b.set_manifest("signing_key_events", 3.into());
        }),
        c("key_file_long", "the manifest declares 1 key event; the file holds 2", fail(KEYS, 2, "malformed"), |b| {
            b.set_manifest("signing_key_events", 1.into());
        }),
        // §7.5 step 3.
        c("envelopes_long", "the manifest declares 4 envelopes; the file holds 5", fail(ENV, 5, "malformed"), |b| {
            b.set_manifest("envelopes", 4.into());
        }),
        c("version_repeats", "a second version 0 of a conversation stream, correctly signed", fail(ENV, 4, "version_gap"), |b| {
            let mut records = b.records(ENV);
            let mut copy = envelope(&records[2]);
            copy.header.event_id = EventId(Uuid::from_u128(0xbad8));
            records.insert(3, signed(&copy, &first_key()));
            b.set_records(ENV, &records);
            b.set_manifest("envelopes", records.len().into());
        }),
        c("duplicate_event_id", "an envelope re-signed with the event id of the one before it", fail(ENV, 3, "duplicate_event"), |b| {
            let records = b.records(ENV);
            let mut env = envelope(&records[2]);
            env.header.event_id = envelope(&records[1]).header.event_id;
            b.replace(ENV, 3, signed(&env, &first_key()));
        }),
        c(
            "foreign_partner_before_chain",
            "an envelope of another Partner that also breaks its chain: foreign_partner is checked first",
            fail(ENV, 3, "foreign_partner"),
            |b| {
                let records = b.records(ENV);
                let mut env = envelope(&records[2]);
                env.header.partner_id = PartnerId(Uuid::from_u128(0x07e4));
                env.header.prev_hash = [7; 32];
                b.replace(ENV, 3, signed(&env, &first_key()));
            },
        ),
        // §7.5 step 1: the JSON files, read exactly.
        c("heads_out_of_order", "tree-heads.json with its first two heads swapped", fail(format::TREE_HEADS, 2, "malformed"), |b| {
            let mut heads = b.json(format::TREE_HEADS);
            heads.as_array_mut().unwrap().swap(0, 1);
            b.set_json(format::TREE_HEADS, &heads);
        }),
        c("no_tree_head", "no tree head at all (manifest says 0)", fail(format::TREE_HEADS, 0, "malformed"), |b| {
            b.set_json(format::TREE_HEADS, &Vec::<SignedTreeHead>::new());
            b.set_manifest("tree_heads", 0.into());
        }),
        c("extra_consistency_proof", "the last consistency proof listed twice", fail(format::CONSISTENCY, 3, "malformed"), |b| {
            let mut proofs = b.json(format::CONSISTENCY);
            let last = proofs.as_array().unwrap().last().unwrap().clone();
            proofs.as_array_mut().unwrap().push(last);
            b.set_json(format::CONSISTENCY, &proofs);
        }),
        c("extra_json_field", "manifest.json with a field the format does not define", fail(format::MANIFEST, 0, "malformed"), |b| {
            b.set_manifest("comment", "x".into());
        }),
        c("uppercase_hex", "a tree head's root_hash in upper-case hex", fail(format::TREE_HEADS, 1, "malformed"), |b| {
            let mut heads = b.json(format::TREE_HEADS);
            let root = heads[0]["root_hash"].as_str().unwrap().to_uppercase();
            heads[0]["root_hash"] = root.into();
            b.set_json(format::TREE_HEADS, &heads);
        }),
        c("uppercase_partner_id", "the manifest's partner_id in upper case", fail(format::MANIFEST, 0, "malformed"), |b| {
            b.set_manifest("partner_id", PARTNER.0.to_string().to_uppercase().into());
        }),
        Case {
            name: "no_keys_no_trust_key",
            description: "keys.json is empty and no --trust-key is given",
            trust: None,
            expect: fail(format::KEYS, 0, "malformed"),
            make: |b| b.set_json(format::KEYS, &Vec::<Value>::new()),
            known: |_| Vec::new(),
            witnesses: &[],
            min_witnesses: 0,
        },
        // §7.5 step 9: erased.json exactly.
        c("erased_at_wrong", "erased_at_ms one millisecond off", fail(format::ERASED, 1, "bad_erasure_marker"), |b| {
            let mut markers: Vec<ErasedContact> = format::read_json(&b.0, format::ERASED).unwrap();
            markers[0].erased_at_ms += 1;
            b.set_json(format::ERASED, &markers);
        }),
        c("erased_duplicate", "an erased.json entry listed twice", fail(format::ERASED, 2, "bad_erasure_marker"), |b| {
            let mut markers: Vec<ErasedContact> = format::read_json(&b.0, format::ERASED).unwrap();
            markers.push(markers[0].clone());
            b.set_json(format::ERASED, &markers);
        }),
        c(
            "erased_reordered",
            "two erased contacts, their erased.json entries swapped: the list follows envelopes.bin order",
            fail(format::ERASED, 1, "bad_erasure_marker"),
            |b| {
                std::fs::remove_dir_all(&b.0).unwrap();
                export_log(with_second_erasure(), &b.0);
                let mut markers: Vec<ErasedContact> = format::read_json(&b.0, format::ERASED).unwrap();
                assert_eq!(markers.len(), 2);
                markers.swap(0, 1);
                b.set_json(format::ERASED, &markers);
            },
        ),
        // §8: witnesses' cosignatures of the covering head.
        witnessed(
            "witnessed",
            "a witness cosigned the covering head; that witness is required",
            None,
            &[WITNESS_1],
            1,
            |b| cosign(b, &[(WITNESS_1, LAST, false)]),
        ),
        witnessed(
            "not_witnessed",
            "one of the two required witnesses cosigned the covering head",
            fail(format::COSIGNATURES, 0, "not_witnessed"),
            &[WITNESS_1, WITNESS_2],
            2,
            |b| cosign(b, &[(WITNESS_1, LAST, false)]),
        ),
        witnessed(
            "cosigned_older_head_only",
            "the witness cosigned the head of size 4, not the covering head of size 5",
            fail(format::COSIGNATURES, 0, "not_witnessed"),
            &[WITNESS_1],
            1,
            |b| cosign(b, &[(WITNESS_1, 2, false)]),
        ),
        witnessed(
            "cosignature_bad_signature",
            "a cosignature of the covering head with one signature bit flipped counts for nothing",
            fail(format::COSIGNATURES, 0, "not_witnessed"),
            &[WITNESS_1],
            1,
            |b| cosign(b, &[(WITNESS_1, LAST, true)]),
        ),
        witnessed(
            "cosignature_uppercase_hex",
            "a cosignature whose signature is upper-case hex",
            fail(format::COSIGNATURES, 1, "malformed"),
            &[WITNESS_1],
            1,
            |b| {
                cosign(b, &[(WITNESS_1, LAST, false)]);
                let mut entries = b.json(format::COSIGNATURES);
                let upper = entries[0]["signature"].as_str().unwrap().to_uppercase();
                entries[0]["signature"] = upper.into();
                b.set_json(format::COSIGNATURES, &entries);
            },
        ),
        // §7.5 step 10: heads the auditor kept from earlier.
        known("known_head_extended", "a head kept from an earlier view, which the bundle extends", None, |b| {
            let heads: Vec<SignedTreeHead> = format::read_json(&b.0, format::TREE_HEADS).unwrap();
            vec![heads[0].clone()]
        }),
        known(
            "known_head_split_view",
            "a correctly signed head of size 3 whose root is not the bundle's: another tree of that size",
            fail(KNOWN, 1, "inconsistent_with_known_head"),
            |_| vec![known_head(3, [0x55; 32])],
        ),
        known(
            "known_head_beyond_bundle",
            "a correctly signed head of size 6: the bundle (5 envelopes) does not extend it",
            fail(KNOWN, 1, "inconsistent_with_known_head"),
            |_| vec![known_head(6, [0x55; 32])],
        ),
    ]
}

const WITNESS_1: u8 = 0x3a;
const WITNESS_2: u8 = 0x3b;
/// The covering head's entry in `tree-heads.json` (the last).
const LAST: usize = usize::MAX;

fn witness_key(seed: u8) -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::from_bytes(&[seed; 32])
}

/// Writes `cosignatures.json`: for each `(witness, head entry (1-based, or LAST), flip)`,
/// that witness's cosignature of the head's tree state, one signature bit flipped if asked.
fn cosign(b: &Bundle, by: &[(u8, usize, bool)]) {
    let heads: Vec<SignedTreeHead> = format::read_json(&b.0, format::TREE_HEADS).unwrap();
    let entries: Vec<format::BundleCosignature> = by
        .iter()
        .map(|&(seed, entry, flip)| {
            let head = if entry == LAST { heads.last().unwrap() } else { &heads[entry - 1] };
            let root = format::hex32(&head.root_hash).unwrap();
            let mut c = Cosignature::sign(PARTNER, head.tree_size, root, (T0 / 1000) as u64 + 90, &witness_key(seed));
            if flip {
                c.signature[33] ^= 1;
            }
            let named = NamedCosignature { witness_name: format!("witness{seed:x}.example"), cosignature: c };
            format::BundleCosignature::from_named(&named)
        })
        .collect();
    b.set_json(format::COSIGNATURES, &entries);
}

/// The vector log with a second contact of the Partner erased after the first.
fn with_second_erasure() -> Vec<laras_commands::store::StoredEnvelope> {
    let mut log = log();
    let last = log.last().unwrap().clone();
    let mut env = last.envelope.clone();
    let contact = Uuid::from_u128(0xc2);
    env.header.event_id = EventId(Uuid::from_u128(0xe0c2));
    env.header.stream_id = laras_domain::stream::StreamId::contact(laras_domain::ids::ContactId(contact));
    env.header.stream_version = 0;
    env.header.prev_hash = laras_domain::envelope::ZERO_HASH;
    env.header.recorded_at = Timestamp(last.envelope.header.recorded_at.0 + 1_000);
    env.payload = DomainEvent::ContactErased { data_keys: vec![laras_domain::ids::DataKeyId(Uuid::from_u128(0xd47b))] }
        .encode_payload();
    env.signature = second_key().sign(&env.canonical_bytes().unwrap());
    log.push(laras_commands::store::StoredEnvelope { position: last.position + 1, envelope: env });
    log
}

/// What `file` names for a failure in the known heads of a case.
const KNOWN: &str = "known-heads";

fn known_head(size: u64, root: [u8; 32]) -> SignedTreeHead {
    let head = laras_domain::tree_head::TreeHead::sign(PARTNER, size, root, Timestamp(T0 + 6_600), &second_key());
    SignedTreeHead::from_head(&head)
}

/// Re-links every stream after an envelope changed, re-signing each envelope with its key.
fn relink(log: &mut [laras_commands::store::StoredEnvelope]) {
    let keys = [first_key(), second_key(), third_key()];
    let mut heads: std::collections::HashMap<String, Hash32> = Default::default();
    for stored in log.iter_mut() {
        let env = &mut stored.envelope;
        if let Some(prev) = heads.get(env.header.stream_id.as_str()) {
            env.header.prev_hash = *prev;
        }
        let key = keys.iter().find(|k| *k.id() == env.header.key_id).unwrap();
        env.signature = key.sign(&env.canonical_bytes().unwrap());
        heads.insert(env.header.stream_id.as_str().to_owned(), env.hash().unwrap());
    }
}

#[derive(Serialize)]
struct Listed {
    name: &'static str,
    description: &'static str,
    trust_key: Option<String>,
    known_heads: Vec<SignedTreeHead>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    witness_keys: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    min_witnesses: u64,
    expect: Value,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn listed(case: &Case, known_heads: Vec<SignedTreeHead>) -> Listed {
    let expect = match case.expect {
        None => serde_json::json!({"ok": true}),
        Some((file, position, kind)) => {
            serde_json::json!({"ok": false, "file": file, "position": position, "kind": kind})
        }
    };
    let trust_key = case.trust.as_ref().map(|k| k.public_hex());
    let witness_keys = case.witnesses.iter().map(|s| hex::encode(witness_key(*s).verifying_key().as_bytes())).collect();
    Listed {
        name: case.name,
        description: case.description,
        trust_key,
        known_heads,
        witness_keys,
        min_witnesses: case.min_witnesses,
        expect,
    }
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out: Vec<_> = entries
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_case_vector_matches_the_code_and_fails_exactly_as_listed() {
    let regenerate = std::env::var("LARAS_REGENERATE_VECTORS").is_ok();
    let made = tempfile::tempdir().unwrap();
    let cases = cases();
    if regenerate {
        std::fs::remove_dir_all(DIR).ok();
        std::fs::create_dir_all(DIR).unwrap();
    }
    let mut manifest = Vec::new();
    for case in &cases {
        let fresh = made.path().join(case.name);
        export_to(&fresh);
        (case.make)(&Bundle(fresh.clone()));
        let stored = Path::new(DIR).join(case.name);
        if regenerate {
            std::fs::create_dir_all(&stored).unwrap();
            for (name, bytes) in files(&fresh) {
                std::fs::write(stored.join(name), bytes).unwrap();
            }
        }
        assert!(
            files(&fresh) == files(&stored),
            "case {} changed (regenerate with LARAS_REGENERATE_VECTORS=1)",
            case.name
        );
        let trust: Vec<_> = case.trust.iter().map(|k| k.public()).collect();
        let heads = (case.known)(&Bundle(stored.clone()));
        let known: Vec<KnownHead> = heads
            .iter()
            .enumerate()
            .map(|(i, head)| KnownHead { source: KNOWN.into(), entry: i as u64 + 1, head: head.clone() })
            .collect();
        manifest.push(listed(case, heads));
        let witnesses = Witnesses {
            keys: case.witnesses.iter().map(|s| witness_key(*s).verifying_key()).collect(),
            min: case.min_witnesses,
        };
        let report = verify_bundle_witnessed(&stored, &trust, &known, &witnesses, &|_| {});
        let found = report.first_failure.as_ref().map(|f| {
            let kind = serde_json::to_value(&f.failure.kind).unwrap()["kind"].as_str().unwrap().to_owned();
            (f.file.clone(), f.failure.position, kind)
        });
        let expected = case.expect.map(|(file, position, kind)| (file.to_owned(), position, kind.to_owned()));
        assert_eq!(found, expected, "case {}: {report}", case.name);
        assert_eq!(report.ok, expected.is_none());
    }
    let text = serde_json::to_string_pretty(&manifest).unwrap() + "\n";
    let path = Path::new(DIR).join("cases.json");
    if regenerate {
        std::fs::write(&path, &text).unwrap();
    }
    assert_eq!(std::fs::read_to_string(path).unwrap(), text, "cases.json changed (regenerate)");
}
