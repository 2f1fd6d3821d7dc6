//! Channel access tokens at rest: one SQLite table, each token sealed under a key
//! derived from the master key and bound to its Partner and channel.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use laras_commands::credentials::{validate_token, AccessToken, ChannelCredentials, CredentialError};
use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use laras_domain::sealed::SecretKey;
use rand::RngCore;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// Seals tokens under a key derived from the master key, bound to their Partner and
/// channel: shared by every backend of the port.
pub(crate) struct TokenSeal {
    key: SecretKey,
}

impl TokenSeal {
    pub(crate) fn new(master: &SecretKey) -> Self {
        Self { key: crate::contact_keys::derive(master, &[b"laras.channel-tokens.v1"]) }
    }

    fn aad(partner: PartnerId, channel: ChannelKind) -> Vec<u8> {
        [partner.0.as_bytes().as_slice(), channel.as_str().as_bytes()].concat()
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(self.key.as_bytes().into())
    }

    /// Checks the token's shape, then seals it: nonce (24) ‖ ciphertext.
    pub(crate) fn seal(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        token: &AccessToken,
    ) -> Result<Vec<u8>, CredentialError> {
        validate_token(token.expose())?;
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = Self::aad(partner, channel);
        let ct = self
            .cipher()
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: token.expose().as_bytes(), aad: &aad })
            .map_err(|_| CredentialError::Corrupt)?;
        Ok([nonce.as_slice(), &ct].concat())
    }

    pub(crate) fn open(
        &self,
        partner: PartnerId,
        channel: ChannelKind,
        sealed: &[u8],
    ) -> Result<AccessToken, CredentialError> {
        if sealed.len() < 24 + 16 {
            return Err(CredentialError::Corrupt);
        }
        let aad = Self::aad(partner, channel);
        let plain = self
            .cipher()
            .decrypt(XNonce::from_slice(&sealed[..24]), Payload { msg: &sealed[24..], aad: &aad })
            .map_err(|_| CredentialError::Corrupt)?;
        String::from_utf8(plain).map(AccessToken::new).map_err(|_| CredentialError::Corrupt)
    }
}

pub struct SqliteCredentials {
    conn: Mutex<Connection>,
    seal: TokenSeal,
}

fn storage(e: rusqlite::Error) -> CredentialError {
    CredentialError::Storage(e.to_string())
}

impl SqliteCredentials {
    /// Opens (creating) the credentials file; tokens are sealed under a key derived from `master`.
    pub fn open(path: &Path, master: &SecretKey) -> Result<Self, CredentialError> {
        let conn = Connection::open(path).map_err(storage)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA secure_delete=ON;
             CREATE TABLE IF NOT EXISTS channel_tokens (
                partner_id BLOB NOT NULL, channel TEXT NOT NULL, sealed BLOB NOT NULL,
                PRIMARY KEY (partner_id, channel));",
        )
        .map_err(storage)?;
        Ok(Self { conn: Mutex::new(conn), seal: TokenSeal::new(master) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChannelCredentials for SqliteCredentials {
    fn store(&self, partner: PartnerId, channel: ChannelKind, token: &AccessToken) -> Result<(), CredentialError> {
        let sealed = self.seal.seal(partner, channel, token)?;
        self.conn()
            .execute(
                "INSERT INTO channel_tokens (partner_id, channel, sealed) VALUES (?1, ?2, ?3)
                 ON CONFLICT (partner_id, channel) DO UPDATE SET sealed = excluded.sealed",
                params![partner.0.as_bytes().as_slice(), channel.as_str(), sealed],
            )
            .map_err(storage)?;
        Ok(())
    }

    fn token(&self, partner: PartnerId, channel: ChannelKind) -> Result<Option<AccessToken>, CredentialError> {
        let sealed: Option<Vec<u8>> = self
            .conn()
            .query_row(
                "SELECT sealed FROM channel_tokens WHERE partner_id = ?1 AND channel = ?2",
                params![partner.0.as_bytes().as_slice(), channel.as_str()],
                |r| r.get(0),
            )
            .optional()
            .map_err(storage)?;
        sealed.map(|sealed| self.seal.open(partner, channel, &sealed)).transpose()
    }

    fn remove(&self, partner: PartnerId, channel: ChannelKind) -> Result<(), CredentialError> {
        self.conn()
            .execute(
                "DELETE FROM channel_tokens WHERE partner_id = ?1 AND channel = ?2",
                params![partner.0.as_bytes().as_slice(), channel.as_str()],
            )
            .map_err(storage)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn open(dir: &Path, master: u8) -> SqliteCredentials {
        SqliteCredentials::open(&dir.join("credentials.sqlite"), &SecretKey::from_bytes([master; 32])).unwrap()
    }

    #[test]
    fn tokens_are_sealed_at_rest_and_read_back_after_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let partner = PartnerId(Uuid::from_u128(1));
        open(dir.path(), 1).store(partner, ChannelKind::WhatsApp, &AccessToken::new("EAAG-secret-token")).unwrap();
        let raw = std::fs::read(dir.path().join("credentials.sqlite")).unwrap();
        let wal = std::fs::read(dir.path().join("credentials.sqlite-wal")).unwrap_or_default();
        let needle = b"EAAG-secret-token";
        assert!(!raw.windows(needle.len()).any(|w| w == needle) && !wal.windows(needle.len()).any(|w| w == needle));
        let token = open(dir.path(), 1).token(partner, ChannelKind::WhatsApp).unwrap();
        assert_eq!(token, Some(AccessToken::new("EAAG-secret-token")));
        assert_eq!(format!("{:?}", token.unwrap()), "AccessToken(***)");
    }

    #[test]
    fn the_sqlite_credentials_keep_the_ports_promises() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_owned();
        crate::port_suites::channel_credentials(&move |master| std::sync::Arc::new(open(&path, master)));
    }
}
