//! The data directory: where the log, the key table, the master key and the signing keys live.
//!
//! ```text
//! laras-data/
//!   ledger.sqlite      the signed event log (append-only)
//!   keys.sqlite        per-contact data keys, wrapped by the master key
//!   credentials.sqlite channel access tokens, sealed under a key derived from the master key
//!   access.sqlite      API keys of the Partner API (SHA-256 digests only)
//!   readmodels.sqlite  read models (inbox, CRM, pipeline, segments), rebuildable from the log
//!   search/            the tantivy search index, rebuildable from the log
//!   audit.sqlite       per-Partner Merkle logs and signed tree heads
//!   runtime.sqlite     processes' checkpoints and snapshots, leases (this node's)
//!   knowledge/         the AI worker's index of the Partners' articles (rebuildable)
//!   master.key         32 random bytes, mode 0600 (or outside: LARAS_MASTER_KEY_FILE)
//!   signing/<id>.key   Ed25519 secret keys, mode 0600 (id = key id without "ed25519:"),
//!                      or in the folder named by `signing_key_dir` (shared by several nodes)
//!   laras.lock         held by the one process that writes
//! ```
//!
//! Key files must be private to their owner: one that group or others may read is refused.

use laras_domain::signing::LedgerSigningKey;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("cannot use data dir {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("another laras process is writing to {0} (it holds laras.lock); stop it first")]
    Locked(PathBuf),
    #[error("signing key file {0} is not a 32-byte key")]
    BadKeyFile(PathBuf),
    #[error("key file {path} has mode {mode:o}: group or others may use it; run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
}

/// Refuses a key file that anyone but its owner could read or write.
pub fn ensure_private(path: &Path) -> Result<(), DataDirError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).map_err(io(path))?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(DataDirError::TooOpen { path: path.to_path_buf(), mode });
    }
    Ok(())
}

pub struct DataDir {
    root: PathBuf,
    /// Where the signing keys' secrets are: `signing/` here unless a setting names a
    /// folder shared by several nodes (ADR 011).
    signing: PathBuf,
}

/// Held while a process writes to the data dir; released on drop.
pub struct WriterLock {
    _file: File,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataDirError + '_ {
    move |source| DataDirError::Io { path: path.to_path_buf(), source }
}

impl DataDir {
    pub fn create(root: &Path) -> Result<Self, DataDirError> {
        std::fs::create_dir_all(root.join("signing")).map_err(io(root))?;
        Ok(Self::at(root))
    }

    /// Opens an existing data dir without creating anything (for read-only commands).
    pub fn existing(root: &Path) -> Result<Self, DataDirError> {
        if !root.join("ledger.sqlite").exists() {
            return Err(DataDirError::Io {
                path: root.join("ledger.sqlite"),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no ledger here; run `laras serve` first"),
            });
        }
        Ok(Self::at(root))
    }

    fn at(root: &Path) -> Self {
        Self { root: root.to_path_buf(), signing: root.join("signing") }
    }

    /// Reads and writes signing keys in `dir` (when given) instead of `signing/`.
    pub fn with_signing_dir(mut self, dir: Option<&Path>) -> Self {
        if let Some(dir) = dir {
            self.signing = dir.to_path_buf();
        }
        self
    }

    /// Opens a data dir whose log lives elsewhere: it must hold signing keys, unless
    /// they are in the shared folder `signing_dir`.
    pub fn with_keys(root: &Path, signing_dir: Option<&Path>) -> Result<Self, DataDirError> {
        let data = Self::at(root).with_signing_dir(signing_dir);
        if !data.signing.is_dir() {
            return Err(DataDirError::Io {
                path: data.signing.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no signing keys here; run `laras serve` first",
                ),
            });
        }
        Ok(data)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn ledger(&self) -> PathBuf {
        self.root.join("ledger.sqlite")
    }
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys.sqlite")
    }
    pub fn credentials(&self) -> PathBuf {
        self.root.join("credentials.sqlite")
    }
    pub fn audit(&self) -> PathBuf {
        self.root.join("audit.sqlite")
    }
    pub fn runtime(&self) -> PathBuf {
        self.root.join("runtime.sqlite")
    }
    /// Customers' files, sealed (`media/<partner>/<contact>/<sha256>`).
    pub fn media(&self) -> PathBuf {
        self.root.join("media")
    }
    pub fn knowledge(&self) -> PathBuf {
        self.root.join("knowledge")
    }
    pub fn access(&self) -> PathBuf {
        self.root.join("access.sqlite")
    }
    pub fn master_key(&self) -> PathBuf {
        self.root.join("master.key")
    }
    fn signing(&self) -> PathBuf {
        self.signing.clone()
    }

    /// Takes the single-writer lock, or fails at once if another process has it.
    pub fn lock_for_writing(&self) -> Result<WriterLock, DataDirError> {
        let path = self.root.join("laras.lock");
        let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(WriterLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(DataDirError::Locked(self.root.clone())),
            Err(std::fs::TryLockError::Error(e)) => Err(DataDirError::Io { path, source: e }),
        }
    }

    /// The paths of every signing key file, sorted.
    pub fn signing_key_files(&self) -> Result<Vec<PathBuf>, DataDirError> {
        let dir = self.signing();
        let mut files = Vec::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(files),
            Err(e) => return Err(DataDirError::Io { path: dir, source: e }),
        };
        for entry in entries {
            let path = entry.map_err(io(&dir))?.path();
            if path.extension().is_some_and(|e| e == "key") {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Every signing key in the data dir (each file must be private to its owner).
    pub fn signing_keys(&self) -> Result<Vec<LedgerSigningKey>, DataDirError> {
        let mut keys = Vec::new();
        for path in self.signing_key_files()? {
            ensure_private(&path)?;
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let secret: [u8; 32] = bytes.try_into().map_err(|_| DataDirError::BadKeyFile(path.clone()))?;
            keys.push(LedgerSigningKey::from_secret(secret));
        }
        Ok(keys)
    }

    /// Writes a new signing key file (mode 0600), fsynced with its directory.
    pub fn store_signing_key(&self, key: &LedgerSigningKey) -> Result<PathBuf, DataDirError> {
        let dir = self.signing();
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let name = key.id().as_str().trim_start_matches("ed25519:").to_owned();
        let path = dir.join(format!("{name}.key"));
        let mut file = OpenOptions::new().create_new(true).write(true).mode(0o600).open(&path).map_err(io(&path))?;
        file.write_all(&key.secret_bytes()).map_err(io(&path))?;
        file.sync_all().map_err(io(&path))?;
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io(&dir))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn signing_keys_are_written_0600_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::create(dir.path()).unwrap();
        let key = LedgerSigningKey::from_secret([3; 32]);
        let path = data.store_signing_key(&key).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let keys = data.signing_keys().unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].id(), key.id());
    }

    #[test]
    fn a_signing_key_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::create(dir.path()).unwrap();
        let path = data.store_signing_key(&LedgerSigningKey::from_secret([4; 32])).unwrap();
        for mode in [0o640, 0o604, 0o620] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            assert!(matches!(data.signing_keys(), Err(DataDirError::TooOpen { .. })), "{mode:o}");
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(data.signing_keys().unwrap().len(), 1);
    }

    #[test]
    fn a_second_writer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::create(dir.path()).unwrap();
        let _held = data.lock_for_writing().unwrap();
        assert!(matches!(data.lock_for_writing(), Err(DataDirError::Locked(_))));
    }
}
