//! Ed25519 signing keys and their ids.
//!
//! A key id is `ed25519:` + the first 16 hex digits of SHA-256(public key), so an
//! auditor can recompute it from the public key alone.

mod encoding;

pub use encoding::{has_strict_encoding, is_strict_point};

use ed25519_dalek::{Signer, SigningKey as DalekSigningKey, VerifyingKey};
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

/// Verifies one signature as docs/audit-format.md §3 defines it: the byte checks of
/// rules 1 and 2 (`S` < L; `A` and `R` canonical and not of small order), then the
/// cofactored equation `[8][S]B = [8]R + [8][k]A` (ed25519-zebra, ZIP 215). Batch
/// verification ([`verify_batch`]) uses the same equation, so the two always agree.
pub fn verify_signature(public: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    is_strict_point(public.as_bytes())
        && has_strict_encoding(signature)
        && ed25519_zebra::VerificationKey::try_from(*public.as_bytes())
            .is_ok_and(|key| key.verify(&ed25519_zebra::Signature::from_bytes(signature), message).is_ok())
}

/// Whether every `(key, message, signature)` verifies (same rules as [`verify_signature`]),
/// checked as one random linear combination: about twice as fast as one by one when few
/// keys sign many messages. Says nothing about which one failed.
pub fn verify_batch(items: &[(VerifyingKey, &[u8], &[u8; 64])], rng: impl RngCore + CryptoRng) -> bool {
    let mut batch = ed25519_zebra::batch::Verifier::new();
    for (public, message, signature) in items {
        if !is_strict_point(public.as_bytes()) || !has_strict_encoding(signature) {
            return false;
        }
        let key = ed25519_zebra::VerificationKeyBytes::from(*public.as_bytes());
        batch.queue((key, ed25519_zebra::Signature::from_bytes(signature), message));
    }
    batch.verify(rng).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
    use curve25519_dalek::edwards::EdwardsPoint;
    use curve25519_dalek::scalar::{clamp_integer, Scalar};
    use proptest::prelude::*;
    use sha2::Sha512;

    /// Signs `message` with `R = [r]B + torsion`, as only the key's holder can.
    fn sign_with_r(secret: [u8; 32], message: &[u8], torsion: EdwardsPoint, prime_part: bool) -> [u8; 64] {
        let expanded = Sha512::digest(secret);
        let a = Scalar::from_bytes_mod_order(clamp_integer(expanded[..32].try_into().unwrap()));
        let public = LedgerSigningKey::from_secret(secret).public();
        let r = if prime_part { Scalar::hash_from_bytes::<Sha512>(message) } else { Scalar::ZERO };
        let big_r = (ED25519_BASEPOINT_POINT * r + torsion).compress().to_bytes();
        let k =
            Scalar::from_hash(Sha512::new().chain_update(big_r).chain_update(public.as_bytes()).chain_update(message));
        let mut signature = [0u8; 64];
        signature[..32].copy_from_slice(&big_r);
        signature[32..].copy_from_slice((r + k * a).as_bytes());
        signature
    }

    #[test]
    fn a_small_order_r_is_refused_single_and_in_a_batch_although_a_plain_batch_accepts_it() {
        let key = LedgerSigningKey::from_secret([3; 32]);
        let sig = sign_with_r([3; 32], b"m", EdwardsPoint::default(), false);
        let plain = ed25519_dalek::Signature::from_bytes(&sig);
        assert!(ed25519_dalek::verify_batch(&[b"m"], &[plain], &[key.public()]).is_ok(), "the gap this closes");
        assert!(!verify_signature(&key.public(), b"m", &sig));
        assert!(!verify_batch(&[(key.public(), b"m", &sig)], rand::thread_rng()));
    }

    #[test]
    fn an_r_with_a_small_order_component_passes_the_cofactored_equation_single_and_batched() {
        // The definition (§3) is cofactored, so single and batch verification agree on it;
        // cofactorless verify_strict refuses it.
        let key = LedgerSigningKey::from_secret([3; 32]);
        let sig = sign_with_r([3; 32], b"m", EIGHT_TORSION[1], true);
        assert!(key.public().verify_strict(b"m", &ed25519_dalek::Signature::from_bytes(&sig)).is_err());
        assert!(verify_signature(&key.public(), b"m", &sig));
        assert!(verify_batch(&[(key.public(), b"m", &sig)], rand::thread_rng()));
    }

    proptest! {
        #[test]
        fn a_batch_accepts_exactly_when_every_signature_verifies_alone(
            count in 1usize..12, bad in proptest::option::of(0usize..12), kind in 0u8..4, torsion in 1usize..8
        ) {
            let keys = [LedgerSigningKey::from_secret([3; 32]), LedgerSigningKey::from_secret([4; 32])];
            let messages: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8; i + 1]).collect();
            let mut sigs: Vec<[u8; 64]> = messages.iter().enumerate().map(|(i, m)| keys[i % 2].sign(m)).collect();
            if let Some(b) = bad.filter(|b| *b < count) {
                let secret = [3 + (b % 2) as u8; 32];
                sigs[b] = match kind {
                    0 => sign_with_r(secret, &messages[b], EdwardsPoint::default(), false),
                    1 => sign_with_r(secret, &messages[b], EIGHT_TORSION[torsion], true),
                    2 => sign_with_r(secret, &messages[b], EIGHT_TORSION[torsion], false),
                    _ => { let mut s = sigs[b]; s[40] ^= 1; s }
                };
            }
            let items: Vec<_> = (0..count).map(|i| (keys[i % 2].public(), messages[i].as_slice(), &sigs[i])).collect();
            let alone = items.iter().all(|(k, m, s)| verify_signature(k, m, s));
            prop_assert_eq!(verify_batch(&items, rand::thread_rng()), alone);
        }
    }
}
