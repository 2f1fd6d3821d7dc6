//! `laras witness`: a small process an auditor or a Partner runs on a machine of its own,
//! with an Ed25519 key of its own (ADR 013). It polls the Partner's latest signed tree
//! head through GraphQL with an AUDITOR key, checks a consistency proof from the last
//! head it cosigned (kept in a state file of its own), and only then cosigns the new head
//! and sends the cosignature back. A head inconsistent with one it already cosigned is
//! refused loudly: an error log line, an evidence file beside the state, exit status 2.

use crate::data_dir::ensure_private;
use anyhow::{bail, Context};
use ed25519_dalek::{SigningKey, VerifyingKey};
use laras_domain::cosignature::{origin, Cosignature, WitnessKey};
use laras_domain::ids::PartnerId;
use laras_domain::merkle::NodeHash;
use laras_domain::signing::{parse_public_hex, KeyId};
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use laras_domain::witness::{judge, proof_needed, Cosigned, Refusal, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Exit status of a refusal: the log showed this witness something it must not cosign.
pub const REFUSED: u8 = 2;

/// `laras witness init`: a new witness key file (mode 0600); prints the key to register.
pub fn init(key_file: &Path, name: &str) -> anyhow::Result<ExitCode> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let witness = WitnessKey::new(name, key.verifying_key())?;
    let mut file = OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(key_file)
        .with_context(|| format!("creating {}", key_file.display()))?;
    file.write_all(&key.to_bytes())?;
    file.sync_all()?;
    println!("public key: {}", hex::encode(witness.public.as_bytes()));
    println!("verifier key: {}", witness.vkey());
    println!("register it with the Partner's owner key: registerWitness(name: {name:?}, publicKey: \"…\")");
    Ok(ExitCode::SUCCESS)
}

/// What `laras witness run` needs.
pub struct WitnessArgs {
    pub url: String,
    pub api_key: String,
    pub partner: PartnerId,
    /// The ledger's tree-head keys (hex) the witness accepts heads from.
    pub log_keys: Vec<String>,
    pub key_file: PathBuf,
    pub state: PathBuf,
    /// One poll and exit, or poll every this many seconds.
    pub every: Option<u64>,
}

/// The last tree state this witness cosigned for one Partner's log.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct State {
    origin: String,
    tree_size: u64,
    root_hash: String,
}

/// What one poll did.
#[derive(Debug, PartialEq, Eq)]
enum Polled {
    NoHead,
    Cosigned(u64),
    Stale(u64),
}

#[derive(Debug, thiserror::Error)]
enum PollError {
    /// Never cosign; stop and let a person look.
    #[error("REFUSED to cosign: {0}")]
    Refused(Refusal),
    /// The server, the network or the state file: try again at the next poll.
    #[error("{0:#}")]
    Failed(anyhow::Error),
}

impl From<anyhow::Error> for PollError {
    fn from(e: anyhow::Error) -> Self {
        Self::Failed(e)
    }
}

pub async fn run(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    ensure_private(&args.key_file)?;
    let secret: [u8; 32] = std::fs::read(&args.key_file)
        .with_context(|| format!("reading {}", args.key_file.display()))?
        .try_into()
        .map_err(|_| anyhow::anyhow!("{} is not a 32-byte key file", args.key_file.display()))?;
    let key = SigningKey::from_bytes(&secret);
    let log_keys = args
        .log_keys
        .iter()
        .map(|h| parse_public_hex(h).with_context(|| format!("--log-key {h} is not an Ed25519 public key in hex")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if log_keys.is_empty() {
        bail!("give the ledger's public key with --log-key (see `laras keys`)");
    }
    let client = Client { http: reqwest::Client::new(), url: args.url.clone(), api_key: args.api_key.clone() };
    loop {
        match poll(&client, &args, &key, &log_keys).await {
            Ok(polled) => {
                tracing::info!(partner = %args.partner, ?polled, "witness poll");
                if args.every.is_none() {
                    println!("{}", describe(&polled));
                    return Ok(ExitCode::SUCCESS);
                }
            }
            Err(PollError::Refused(refusal)) => {
                tracing::error!(partner = %args.partner, fork = refusal.is_fork(), "REFUSED to cosign: {refusal}");
                eprintln!("laras witness: REFUSED to cosign a head of Partner {}: {refusal}", args.partner);
                return Ok(ExitCode::from(REFUSED));
            }
            Err(PollError::Failed(e)) => {
                tracing::warn!(partner = %args.partner, error = %e, "witness poll failed; nothing was cosigned");
                if args.every.is_none() {
                    return Err(e);
                }
            }
        }
        if let Some(seconds) = args.every {
            tokio::time::sleep(Duration::from_secs(seconds.max(1))).await;
        }
    }
}

fn describe(polled: &Polled) -> String {
    match polled {
        Polled::NoHead => "no tree head yet; nothing to cosign".into(),
        Polled::Cosigned(size) => format!("cosigned the tree head of size {size}"),
        Polled::Stale(size) => format!("the served head of size {size} is older than the one cosigned; nothing new"),
    }
}

/// One poll: fetch, check, keep the new state, and only then send the cosignature.
async fn poll(
    client: &Client,
    args: &WitnessArgs,
    key: &SigningKey,
    log_keys: &[VerifyingKey],
) -> Result<Polled, PollError> {
    let last = read_state(&args.state, args.partner)?;
    let answer =
        client.query("query { treeHead { treeSize rootHash timestampMs keyId signature } }", json!({})).await?;
    let Some(head) = head_of(&answer["treeHead"], args.partner)? else { return Ok(Polled::NoHead) };
    let proof = match proof_needed(last.as_ref(), &head) {
        None => Vec::new(),
        Some((first, second)) => {
            let query =
                "query($first: Int!, $second: Int!) { consistencyProof(first: $first, second: $second) { path } }";
            let answer = client.query(query, json!({"first": first, "second": second})).await?;
            hashes(&answer["consistencyProof"]["path"])?
        }
    };
    match judge(args.partner, last.as_ref(), &head, log_keys, &proof) {
        Ok(Verdict::Stale) => Ok(Polled::Stale(head.tree_size)),
        Ok(Verdict::Cosign) => {
            // Kept before it leaves: after a crash, this witness still knows what it vouched for.
            write_state(&args.state, args.partner, &head)?;
            let now = Timestamp(
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64),
            );
            let cosignature =
                Cosignature::sign(args.partner, head.tree_size, head.root_hash, (now.0 / 1000) as u64, key);
            let mutation = "mutation($c: CosignatureInput!) { submitCosignature(cosignature: $c) { treeSize } }";
            let input = json!({
                "witnessKey": hex::encode(cosignature.witness.as_bytes()),
                "treeSize": cosignature.tree_size,
                "rootHash": hex::encode(cosignature.root_hash),
                "timestamp": cosignature.timestamp,
                "signature": hex::encode(cosignature.signature),
            });
            client.query(mutation, json!({"c": input})).await?;
            Ok(Polled::Cosigned(head.tree_size))
        }
        Err(refusal) => {
            if let Err(e) = keep_evidence(&args.state, last.as_ref(), &head) {
                tracing::error!(error = %e, "the evidence of a refused head could not be written");
            }
            Err(PollError::Refused(refusal))
        }
    }
}

struct Client {
    http: reqwest::Client,
    url: String,
    api_key: String,
}

impl Client {
    /// The `data` of a GraphQL answer; its errors (codes and messages, never the key) otherwise.
    async fn query(&self, query: &str, variables: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.api_key)
            .timeout(Duration::from_secs(30))
            .json(&json!({"query": query, "variables": variables}))
            .send()
            .await
            .with_context(|| format!("POST {}", self.url))?;
        let status = response.status();
        let body: Value =
            response.json().await.with_context(|| format!("the answer of {} (HTTP {status})", self.url))?;
        if let Some(errors) = body.get("errors").filter(|e| !e.is_null()) {
            bail!("the server answered HTTP {status} with errors: {errors}");
        }
        Ok(body["data"].clone())
    }
}

/// A served `TreeHead` as the head of `partner` it claims to be (its signature is judged later).
fn head_of(value: &Value, partner: PartnerId) -> anyhow::Result<Option<TreeHead>> {
    if value.is_null() {
        return Ok(None);
    }
    let text = |name: &str| value[name].as_str().with_context(|| format!("treeHead.{name} is missing"));
    let root_hash = hex32(text("rootHash")?)?;
    let signature: [u8; 64] = hex::decode(text("signature")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .context("treeHead.signature is not 64 bytes of hex")?;
    Ok(Some(TreeHead {
        partner,
        tree_size: value["treeSize"].as_u64().context("treeHead.treeSize is not a size")?,
        root_hash,
        timestamp: Timestamp(value["timestampMs"].as_i64().context("treeHead.timestampMs is not a time")?),
        key_id: KeyId(text("keyId")?.to_owned()),
        signature,
    }))
}

fn hex32(text: &str) -> anyhow::Result<NodeHash> {
    hex::decode(text).ok().and_then(|b| b.try_into().ok()).with_context(|| format!("{text:?} is not 32 bytes of hex"))
}

fn hashes(value: &Value) -> anyhow::Result<Vec<NodeHash>> {
    let items = value.as_array().context("consistencyProof.path is not a list")?;
    items.iter().map(|h| hex32(h.as_str().unwrap_or_default())).collect()
}

fn read_state(path: &Path, partner: PartnerId) -> anyhow::Result<Option<Cosigned>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let state: State = serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    if state.origin != origin(partner) {
        bail!("{} is the state of {}, not of {}", path.display(), state.origin, origin(partner));
    }
    Ok(Some(Cosigned { tree_size: state.tree_size, root_hash: hex32(&state.root_hash)? }))
}

/// Replaces the state file atomically (write, fsync, rename, fsync the directory).
fn write_state(path: &Path, partner: PartnerId, head: &TreeHead) -> anyhow::Result<()> {
    let state = State { origin: origin(partner), tree_size: head.tree_size, root_hash: hex::encode(head.root_hash) };
    write_durably(path, &serde_json::to_vec_pretty(&state)?)
}

fn write_durably(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))?;
    Ok(())
}

/// The refused head beside the state, in the form `laras audit verify --known-head` reads.
fn keep_evidence(state: &Path, last: Option<&Cosigned>, head: &TreeHead) -> anyhow::Result<()> {
    let evidence = json!({
        "cosigned": last.map(|c| json!({"tree_size": c.tree_size, "root_hash": hex::encode(c.root_hash)})),
        "refused": {
            "tree_size": head.tree_size,
            "root_hash": hex::encode(head.root_hash),
            "timestamp_ms": head.timestamp.0,
            "key_id": head.key_id.as_str(),
            "signature": hex::encode(head.signature),
        },
    });
    let path = state.with_extension(format!("refused-{}.json", head.tree_size));
    write_durably(&path, &serde_json::to_vec_pretty(&evidence)?)?;
    tracing::error!(evidence = %path.display(), "the refused head is kept as evidence");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use laras_domain::signing::LedgerSigningKey;
    use uuid::Uuid;

    const PARTNER: PartnerId = PartnerId(Uuid::from_u128(5));

    #[test]
    fn the_state_round_trips_and_belongs_to_one_partner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        assert_eq!(read_state(&path, PARTNER).unwrap(), None);
        let head = TreeHead::sign(PARTNER, 9, [3; 32], Timestamp(1), &LedgerSigningKey::from_secret([1; 32]));
        write_state(&path, PARTNER, &head).unwrap();
        assert_eq!(read_state(&path, PARTNER).unwrap(), Some(Cosigned { tree_size: 9, root_hash: [3; 32] }));
        assert!(read_state(&path, PartnerId(Uuid::from_u128(6))).is_err());
    }

    #[test]
    fn a_served_head_is_read_field_by_field() {
        let key = LedgerSigningKey::from_secret([1; 32]);
        let head = TreeHead::sign(PARTNER, 9, [3; 32], Timestamp(1_000), &key);
        let served = json!({
            "treeSize": 9, "rootHash": hex::encode([3u8; 32]), "timestampMs": 1_000,
            "keyId": key.id().as_str(), "signature": hex::encode(head.signature),
        });
        assert_eq!(head_of(&served, PARTNER).unwrap(), Some(head));
        assert_eq!(head_of(&Value::Null, PARTNER).unwrap(), None);
        assert!(head_of(&json!({"treeSize": 9}), PARTNER).is_err());
    }
}
