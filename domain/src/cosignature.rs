//! Witness cosignatures of a Partner's tree heads, in the C2SP `tlog-cosignature` v1
//! Ed25519 form (docs/audit-format.md §8, ADR 013).
//!
//! A witness signs, with its own key, the checkpoint body of a head it checked:
//!
//! ```text
//! cosignature/v1\n
//! time <POSIX seconds>\n
//! laras/partner/<partner uuid>\n      (the origin line)
//! <tree size, decimal>\n
//! <base64 of the root hash>\n
//! ```
//!
//! The body names the Partner, the size and the root, nothing of Laras's own signature
//! or timestamp: a cosignature vouches for a tree state, whichever of Laras's heads
//! (signed at different times) carries it.

use crate::ids::PartnerId;
use crate::merkle::NodeHash;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The header line of the signed message: domain separation from every other signature.
pub const COSIGNATURE_HEADER: &str = "cosignature/v1";
/// The signature type byte of an Ed25519 cosigner key (C2SP tlog-cosignature).
pub const ED25519_COSIGNATURE_TYPE: u8 = 0x04;
/// Longest witness name accepted.
pub const MAX_NAME: usize = 200;

/// The checkpoint origin of a Partner's log. A Partner id is a UUID, unique across
/// installations, so the origin needs no host name to be unambiguous.
pub fn origin(partner: PartnerId) -> String {
    format!("laras/partner/{partner}")
}

/// The checkpoint body (C2SP tlog-checkpoint): origin, size and root, each line ended by a newline.
pub fn checkpoint_body(partner: PartnerId, tree_size: u64, root_hash: &NodeHash) -> String {
    format!("{}\n{tree_size}\n{}\n", origin(partner), STANDARD.encode(root_hash))
}

/// The bytes a cosignature's Ed25519 signature covers.
pub fn cosigned_message(partner: PartnerId, tree_size: u64, root_hash: &NodeHash, timestamp: u64) -> Vec<u8> {
    format!("{COSIGNATURE_HEADER}\ntime {timestamp}\n{}", checkpoint_body(partner, tree_size, root_hash)).into_bytes()
}

/// Why a witness name or key is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessKeyError {
    #[error("a witness name is 1 to {MAX_NAME} printable characters without spaces or '+'")]
    BadName,
    #[error("a witness key is 32 bytes of lowercase hex, a strict Ed25519 point encoding")]
    BadKey,
    #[error("a verifier key is <name>+<8 hex digits>+<base64 of 0x04 and the key> with a matching key id")]
    BadVerifierKey,
}

/// A witness: its name (a schema-less URL by convention) and Ed25519 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub public: VerifyingKey,
}

impl WitnessKey {
    pub fn new(name: &str, public: VerifyingKey) -> Result<Self, WitnessKeyError> {
        let printable = name.chars().all(|c| c.is_ascii_graphic() && c != '+');
        if name.is_empty() || name.len() > MAX_NAME || !printable {
            return Err(WitnessKeyError::BadName);
        }
        if !crate::signing::is_strict_point(public.as_bytes()) {
            return Err(WitnessKeyError::BadKey);
        }
        Ok(Self { name: name.to_owned(), public })
    }

    /// From a name and a lowercase hex public key.
    pub fn from_hex(name: &str, public_hex: &str) -> Result<Self, WitnessKeyError> {
        Self::new(name, parse_key_hex(public_hex).ok_or(WitnessKeyError::BadKey)?)
    }

    /// The 4-byte key id of C2SP signed notes: `SHA-256(name ‖ "\n" ‖ 0x04 ‖ key)[:4]`.
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, &self.public)
    }

    /// The signed-note verifier key: `<name>+<key id hex>+<base64(0x04 ‖ key)>`.
    pub fn vkey(&self) -> String {
        let mut material = vec![ED25519_COSIGNATURE_TYPE];
        material.extend_from_slice(self.public.as_bytes());
        format!("{}+{}+{}", self.name, hex::encode(self.key_id()), STANDARD.encode(material))
    }

    /// Reads a verifier key written by [`vkey`](Self::vkey).
    pub fn from_vkey(text: &str) -> Result<Self, WitnessKeyError> {
        let bad = WitnessKeyError::BadVerifierKey;
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad);
        };
        let material = STANDARD.decode(material).map_err(|_| bad.clone())?;
        let [ED25519_COSIGNATURE_TYPE, key @ ..] = material.as_slice() else { return Err(bad) };
        let key: [u8; 32] = key.try_into().map_err(|_| bad.clone())?;
        let public = VerifyingKey::from_bytes(&key).map_err(|_| bad.clone())?;
        let witness = Self::new(name, public)?;
        if hex::encode(witness.key_id()) != id {
            return Err(bad);
        }
        Ok(witness)
    }
}

fn key_id(name: &str, public: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update(b"\n")
        .chain_update([ED25519_COSIGNATURE_TYPE])
        .chain_update(public.as_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A lowercase-hex Ed25519 public key that is a strict point encoding, or None.
pub fn parse_key_hex(text: &str) -> Option<VerifyingKey> {
    if !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let key = crate::signing::parse_public_hex(text)?;
    crate::signing::is_strict_point(key.as_bytes()).then_some(key)
}

/// A witness's statement that, at `timestamp` (POSIX seconds), the largest consistent
/// tree it had seen of the Partner's log had `tree_size` leaves and `root_hash`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosignature {
    pub partner: PartnerId,
    pub tree_size: u64,
    pub root_hash: NodeHash,
    pub witness: VerifyingKey,
    pub timestamp: u64,
    pub signature: [u8; 64],
}

impl Cosignature {
    /// Cosigns the Partner's tree state with the witness's secret key.
    pub fn sign(partner: PartnerId, tree_size: u64, root_hash: NodeHash, timestamp: u64, key: &SigningKey) -> Self {
        // C2SP: a timestamp never exceeds 2^63 - 1.
        let timestamp = timestamp.min(i64::MAX as u64);
        let message = cosigned_message(partner, tree_size, &root_hash, timestamp);
        Self {
            partner,
            tree_size,
            root_hash,
            witness: key.verifying_key(),
            timestamp,
            signature: key.sign(&message).to_bytes(),
        }
    }

    pub fn signed_message(&self) -> Vec<u8> {
        cosigned_message(self.partner, self.tree_size, &self.root_hash, self.timestamp)
    }

    /// True when the signature is the witness key's over this state (strict, §3), and the
    /// timestamp is within C2SP's bound.
    pub fn verify(&self) -> bool {
        self.timestamp <= i64::MAX as u64
            && crate::signing::verify_signature(&self.witness, &self.signed_message(), &self.signature)
    }

    /// The signed-note signature line a C2SP client reads:
    /// `— <name> base64(key id ‖ u64 timestamp ‖ signature)`.
    pub fn note_line(&self, name: &str) -> String {
        let mut bytes = key_id(name, &self.witness).to_vec();
        bytes.extend_from_slice(&self.timestamp.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("\u{2014} {name} {}", STANDARD.encode(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use uuid::Uuid;

    const PARTNER: PartnerId = PartnerId(Uuid::from_u128(0x9a27_4e12));

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn the_signed_message_is_the_c2sp_one() {
        let root = [0xab; 32];
        let text = String::from_utf8(cosigned_message(PARTNER, 20, &root, 1_679_315_147)).unwrap();
        assert_eq!(
            text,
            format!(
                "cosignature/v1\ntime 1679315147\nlaras/partner/00000000-0000-0000-0000-00009a274e12\n20\n{}\n",
                STANDARD.encode(root)
            )
        );
    }

    #[test]
    fn a_cosignature_verifies_under_its_witness_only_and_for_its_state_only() {
        let c = Cosignature::sign(PARTNER, 5, [1; 32], 1_700_000_000, &key(1));
        assert!(c.verify());
        let mut other = c.clone();
        other.witness = key(2).verifying_key();
        assert!(!other.verify());
        let mut other = c.clone();
        other.partner = PartnerId(Uuid::from_u128(1));
        assert!(!other.verify());
        let mut other = c;
        other.timestamp += 1;
        assert!(!other.verify());
    }

    #[test]
    fn a_vkey_round_trips_and_a_wrong_key_id_is_refused() {
        let w = WitnessKey::new("witness.example.org/w1", key(3).verifying_key()).unwrap();
        assert_eq!(WitnessKey::from_vkey(&w.vkey()).unwrap(), w);
        let forged = w.vkey().replacen(&hex::encode(w.key_id()), "00000000", 1);
        assert_eq!(WitnessKey::from_vkey(&forged), Err(WitnessKeyError::BadVerifierKey));
        assert_eq!(WitnessKey::from_vkey("no pluses"), Err(WitnessKeyError::BadVerifierKey));
    }

    #[test]
    fn names_and_keys_are_checked() {
        let public = key(3).verifying_key();
        assert_eq!(WitnessKey::new("", public), Err(WitnessKeyError::BadName));
        assert_eq!(WitnessKey::new("a b", public), Err(WitnessKeyError::BadName));
        assert_eq!(WitnessKey::new("a+b", public), Err(WitnessKeyError::BadName));
        let identity = {
            let mut k = [0u8; 32];
            k[0] = 1;
            k
        };
        assert_eq!(WitnessKey::from_hex("w", &hex::encode(identity)), Err(WitnessKeyError::BadKey));
        assert_eq!(
            WitnessKey::from_hex("w", &hex::encode(public.as_bytes()).to_uppercase()),
            Err(WitnessKeyError::BadKey)
        );
        assert!(WitnessKey::from_hex("w", &hex::encode(public.as_bytes())).is_ok());
    }

    #[test]
    fn the_note_line_carries_key_id_timestamp_and_signature() {
        let c = Cosignature::sign(PARTNER, 5, [1; 32], 7, &key(1));
        let line = c.note_line("w.example");
        let encoded = line.strip_prefix("\u{2014} w.example ").unwrap();
        let bytes = STANDARD.decode(encoded).unwrap();
        assert_eq!(bytes.len(), 4 + 8 + 64);
        assert_eq!(&bytes[..4], &key_id("w.example", &key(1).verifying_key()));
        assert_eq!(&bytes[4..12], &7u64.to_be_bytes());
        assert_eq!(&bytes[12..], &c.signature);
    }

    proptest! {
        #[test]
        fn any_changed_size_or_root_breaks_a_cosignature(size in any::<u64>(), root in any::<[u8; 32]>(), bit in 0usize..256) {
            let c = Cosignature::sign(PARTNER, size, root, 1, &key(9));
            prop_assert!(c.verify());
            let mut forged = c.clone();
            forged.root_hash[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(!forged.verify());
            let mut forged = c;
            forged.tree_size = size.wrapping_add(1);
            prop_assert!(!forged.verify());
        }
    }
}
