//! Personal data as it is stored in the log: sealed with a per-contact data key.
//!
//! Crypto-shredding: the log keeps only ciphertext; the data key lives in a
//! separate key table, wrapped by the master key. Destroying a contact's data
//! keys makes every sealed field of that contact unreadable while the envelopes
//! (which sign the ciphertext) still verify byte for byte.
//!
//! AEAD: XChaCha20-Poly1305 with a random 24-byte nonce; the associated data binds
//! the ciphertext to its data key id, so a field cannot be moved under another key.

use crate::ids::DataKeyId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

const SEALED_PREFIX: &str = "xc1.";
const AAD_LABEL: &[u8] = b"laras.sealed.v1";
const WRAP_LABEL: &[u8] = b"laras.datakey.wrap.v1";

/// A 256-bit symmetric key (a contact's data key, or the master key).
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretKey([u8; 32]);

impl SecretKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.0.as_slice().into())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// A personal-data field, encrypted. Its text form is `xc1.` + base64url(key id ‖ nonce ‖ ciphertext).
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key: DataKeyId,
    pub nonce: [u8; 24],
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealed({:?}, {} bytes)", self.key, self.ciphertext.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("sealed field is not in the xc1 format")]
    Malformed,
    #[error("sealed field does not open with its data key (tampered, or the wrong key)")]
    Unopenable,
    #[error("the data key of this field was destroyed: the contact was erased")]
    Erased,
}

impl Sealed {
    /// Seals `plaintext` under the data key `key_id`.
    pub fn seal(key_id: DataKeyId, key: &SecretKey, plaintext: &[u8], rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let aad = aad(key_id);
        // Encryption with a valid 32-byte key and 24-byte nonce cannot fail.
        let ciphertext =
            key.cipher().encrypt(XNonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad }).unwrap_or_default();
        Self { key: key_id, nonce, ciphertext }
    }

    /// Opens the field with its data key.
    pub fn open(&self, key: &SecretKey) -> Result<Vec<u8>, SealError> {
        let aad = aad(self.key);
        key.cipher()
            .decrypt(XNonce::from_slice(&self.nonce), Payload { msg: &self.ciphertext, aad: &aad })
            .map_err(|_| SealError::Unopenable)
    }

    /// Opens a field that holds UTF-8 text.
    pub fn open_text(&self, key: &SecretKey) -> Result<String, SealError> {
        String::from_utf8(self.open(key)?).map_err(|_| SealError::Unopenable)
    }

    pub fn to_text(&self) -> String {
        let mut raw = Vec::with_capacity(16 + 24 + self.ciphertext.len());
        raw.extend_from_slice(self.key.0.as_bytes());
        raw.extend_from_slice(&self.nonce);
        raw.extend_from_slice(&self.ciphertext);
        format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(raw))
    }

    pub fn from_text(text: &str) -> Result<Self, SealError> {
        let body = text.strip_prefix(SEALED_PREFIX).ok_or(SealError::Malformed)?;
        let raw = URL_SAFE_NO_PAD.decode(body).map_err(|_| SealError::Malformed)?;
        // 16 (Poly1305 tag) is the shortest ciphertext.
        if raw.len() < 16 + 24 + 16 {
            return Err(SealError::Malformed);
        }
        let key = uuid::Uuid::from_slice(&raw[..16]).map_err(|_| SealError::Malformed)?;
        let mut nonce = [0u8; 24];
        nonce.copy_from_slice(&raw[16..40]);
        Ok(Self { key: DataKeyId(key), nonce, ciphertext: raw[40..].to_vec() })
    }
}

fn aad(key_id: DataKeyId) -> Vec<u8> {
    let mut aad = AAD_LABEL.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    aad
}

impl Serialize for Sealed {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_text())
    }
}

impl<'de> Deserialize<'de> for Sealed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Sealed::from_text(&text).map_err(serde::de::Error::custom)
    }
}

/// Wraps a data key under the master key, bound to the data key's id.
pub fn wrap_data_key(
    master: &SecretKey,
    key_id: DataKeyId,
    key: &SecretKey,
    rng: &mut (impl RngCore + CryptoRng),
) -> Vec<u8> {
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    let mut aad = WRAP_LABEL.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    let ct = master
        .cipher()
        .encrypt(XNonce::from_slice(&nonce), Payload { msg: key.as_bytes(), aad: &aad })
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    out
}

/// Unwraps a data key wrapped by [`wrap_data_key`].
pub fn unwrap_data_key(master: &SecretKey, key_id: DataKeyId, wrapped: &[u8]) -> Result<SecretKey, SealError> {
    if wrapped.len() != 24 + 32 + 16 {
        return Err(SealError::Malformed);
    }
    let mut aad = WRAP_LABEL.to_vec();
    aad.extend_from_slice(key_id.0.as_bytes());
    let mut plain = master
        .cipher()
        .decrypt(XNonce::from_slice(&wrapped[..24]), Payload { msg: &wrapped[24..], aad: &aad })
        .map_err(|_| SealError::Unopenable)?;
    let mut bytes = [0u8; 32];
    bytes.copy_from_slice(&plain);
    plain.zeroize();
    Ok(SecretKey(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn a_sealed_field_opens_only_with_its_own_key() {
        let mut rng = rng();
        let id = DataKeyId(Uuid::from_u128(1));
        let key = SecretKey::generate(&mut rng);
        let other = SecretKey::generate(&mut rng);
        let sealed = Sealed::seal(id, &key, b"+62 812 555", &mut rng);
        assert_eq!(sealed.open(&key).unwrap(), b"+62 812 555");
        assert_eq!(sealed.open(&other), Err(SealError::Unopenable));
    }

    #[test]
    fn moving_a_field_under_another_key_id_fails() {
        let mut rng = rng();
        let key = SecretKey::generate(&mut rng);
        let mut sealed = Sealed::seal(DataKeyId(Uuid::from_u128(1)), &key, b"hi", &mut rng);
        sealed.key = DataKeyId(Uuid::from_u128(2));
        assert_eq!(sealed.open(&key), Err(SealError::Unopenable));
    }

    #[test]
    fn debug_never_shows_key_material_or_plaintext() {
        let mut rng = rng();
        let key = SecretKey::generate(&mut rng);
        assert_eq!(format!("{key:?}"), "SecretKey(***)");
        let sealed = Sealed::seal(DataKeyId(Uuid::nil()), &key, b"secret", &mut rng);
        assert!(!format!("{sealed:?}").contains("secret"));
    }

    #[test]
    fn wrapped_keys_unwrap_only_under_the_master_and_their_id() {
        let mut rng = rng();
        let master = SecretKey::generate(&mut rng);
        let key = SecretKey::generate(&mut rng);
        let id = DataKeyId(Uuid::from_u128(5));
        let wrapped = wrap_data_key(&master, id, &key, &mut rng);
        assert_eq!(unwrap_data_key(&master, id, &wrapped).unwrap(), key);
        assert!(unwrap_data_key(&master, DataKeyId(Uuid::from_u128(6)), &wrapped).is_err());
        assert!(unwrap_data_key(&key, id, &wrapped).is_err());
    }

    #[test]
    fn malformed_text_is_rejected() {
        for text in ["", "xc1.", "xc2.AAAA", "xc1.!!!!", "xc1.AAAA"] {
            assert_eq!(Sealed::from_text(text), Err(SealError::Malformed), "{text}");
        }
    }

    proptest! {
        #[test]
        fn sealed_text_round_trips(plain in proptest::collection::vec(any::<u8>(), 0..200), seed in any::<u64>()) {
            let mut rng = StdRng::seed_from_u64(seed);
            let key = SecretKey::generate(&mut rng);
            let sealed = Sealed::seal(DataKeyId(Uuid::from_u128(seed as u128)), &key, &plain, &mut rng);
            let back = Sealed::from_text(&sealed.to_text()).unwrap();
            prop_assert_eq!(&back, &sealed);
            prop_assert_eq!(back.open(&key).unwrap(), plain);
        }

        #[test]
        fn any_flipped_ciphertext_bit_is_detected(plain in proptest::collection::vec(any::<u8>(), 1..64), bit in any::<usize>()) {
            let mut rng = StdRng::seed_from_u64(1);
            let key = SecretKey::generate(&mut rng);
            let mut sealed = Sealed::seal(DataKeyId(Uuid::nil()), &key, &plain, &mut rng);
            let bits = sealed.ciphertext.len() * 8;
            let bit = bit % bits;
            sealed.ciphertext[bit / 8] ^= 1 << (bit % 8);
            prop_assert_eq!(sealed.open(&key), Err(SealError::Unopenable));
        }
    }
}
