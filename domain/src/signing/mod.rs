//! Ed25519 signing keys and their ids.
//!
//! A key id is `ed25519:` + the first 16 hex digits of SHA-256(public key), so an
//! auditor can recompute it from the public key alone.

mod encoding;

pub use encoding::{has_strict_encoding, is_strict_point};

use ed25519_dalek::{Signature, Signer, SigningKey as DalekSigningKey, VerifyingKey};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

impl KeyId {
    pub fn of(public: &VerifyingKey) -> Self {
        let digest = Sha256::digest(public.as_bytes());
        Self(format!("ed25519:{}", hex::encode(&digest[..8])))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.0)
    }
}

/// A ledger signing key with its id. Debug never prints the secret.
#[derive(Clone)]
pub struct LedgerSigningKey {
    key: DalekSigningKey,
    id: KeyId,
}

impl LedgerSigningKey {
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        Self::from_secret(DalekSigningKey::generate(rng).to_bytes())
    }
    pub fn from_secret(secret: [u8; 32]) -> Self {
        let key = DalekSigningKey::from_bytes(&secret);
        let id = KeyId::of(&key.verifying_key());
        Self { key, id }
    }
    pub fn id(&self) -> &KeyId {
        &self.id
    }
    pub fn public(&self) -> VerifyingKey {
        self.key.verifying_key()
    }
    pub fn public_hex(&self) -> String {
        hex::encode(self.public().as_bytes())
    }
    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.key.sign(message).to_bytes()
    }
}

impl fmt::Debug for LedgerSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LedgerSigningKey({})", self.id)
    }
}

/// Parses a hex public key as published by `laras keys` and in audit bundles.
pub fn parse_public_hex(text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Strict single verification (docs/audit-format.md §3): the encoding checks, then
/// ed25519-dalek's `verify_strict`.
pub fn verify_strict(public: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    is_strict_point(public.as_bytes())
        && has_strict_encoding(signature)
        && public.verify_strict(message, &Signature::from_bytes(signature)).is_ok()
}
