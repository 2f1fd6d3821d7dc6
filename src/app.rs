//! The composition root: opens the data dir and wires store, keys, signer and clock.

use crate::data_dir::{ensure_private, DataDir, DataDirError, WriterLock};
use crate::log_store::{LogLocation, LogStore};
use crate::settings::Settings;
use laras_adapters::api_keys::SqliteApiKeys;
use laras_adapters::contact_keys::{MasterKeyFile, SqliteKeyStore};
use laras_adapters::credentials::SqliteCredentials;
use laras_commands::signer::LedgerSigner;
use laras_commands::Ledger;
use laras_domain::sealed::SecretKey;
use laras_domain::signing::LedgerSigningKey;
use laras_domain::time::{Clock, Timestamp};
use std::path::Path;
use std::sync::Arc;

/// The system clock, kept out of the domain.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("cannot open the ledger: {0}")]
    Store(#[from] laras_commands::store::StoreError),
    #[error("cannot open the key store: {0}")]
    Keys(#[from] laras_commands::keys::KeyError),
    #[error(transparent)]
    Command(#[from] laras_commands::CommandError),
    #[error("cannot open the channel credentials: {0}")]
    Credentials(#[from] laras_commands::credentials::CredentialError),
    #[error("cannot open the API keys: {0}")]
    Access(#[from] laras_commands::access::AccessError),
    #[error("the master key file {0} is missing but the data dir already holds keys wrapped by it; restore the file or set LARAS_MASTER_KEY_FILE")]
    MasterKeyMissing(std::path::PathBuf),
    #[error("the log names signing keys {0:?} but none of their secret files is in the data dir")]
    NoUsableSigningKey(Vec<String>),
}

/// A running ledger: everything a server or a CLI command needs.
pub struct App {
    pub data: DataDir,
    pub ledger: Ledger,
    pub store: LogStore,
    pub credentials: Arc<SqliteCredentials>,
    pub api_keys: Arc<SqliteApiKeys>,
    _lock: WriterLock,
}

impl App {
    /// [`open_at`](Self::open_at) on the embedded log.
    pub async fn open(root: &Path, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        Self::open_with(root, &LogLocation::Embedded, None, clock).await
    }

    /// Opens the data dir, the log and the master key named by the settings.
    pub async fn from_settings(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        Self::open_with(&settings.data_dir, &settings.log, settings.master_key_file.as_deref(), clock).await
    }

    /// [`open_with`](Self::open_with) with the master key in the data dir.
    pub async fn open_at(root: &Path, log: &LogLocation, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        Self::open_with(root, log, None, clock).await
    }

    /// Opens (creating on first start) the data dir for writing and the log at `log`:
    /// generates the master key (in `master_key_file` when given, outside the data dir)
    /// and the first signing key if there are none, and records the first key in the log.
    pub async fn open_with(
        root: &Path,
        log: &LogLocation,
        master_key_file: Option<&Path>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let data = DataDir::create(root)?;
        let lock = data.lock_for_writing()?;
        let master = load_master_key(&data, master_key_file)?;
        let credentials = Arc::new(SqliteCredentials::open(&data.credentials(), &master)?);
        let api_keys = Arc::new(SqliteApiKeys::open(&data.access())?);
        let keys = Arc::new(SqliteKeyStore::open(&data.keys(), master)?);
        let store = log.open(&data).await?;
        let files = data.signing_keys()?;
        // Until the log says otherwise, any key on disk will do (it is recorded below).
        let provisional = match files.first() {
            Some(k) => k.clone(),
            None => {
                let key = LedgerSigningKey::generate(&mut rand::rngs::OsRng);
                data.store_signing_key(&key)?;
                key
            }
        };
        let ledger = Ledger::new(store.port(), keys, Arc::new(LedgerSigner::new(provisional)), clock);
        let history = ledger.key_history().await?;
        if history.is_empty() {
            ledger.ensure_genesis_key().await?;
        } else {
            // The active key is the newest key the log introduced whose secret we hold.
            let active = history
                .iter()
                .rev()
                .find_map(|id| files.iter().find(|k| k.id().as_str() == id))
                .ok_or_else(|| AppError::NoUsableSigningKey(history.clone()))?;
            ledger.signer.set_active(active.clone());
        }
        let finished = ledger.finish_pending_erasures().await?;
        if finished > 0 {
            tracing::info!(finished, "completed erasures interrupted by a restart");
        }
        Ok(Self { data, ledger, store, credentials, api_keys, _lock: lock })
    }

    /// Flushes the writer: every acknowledged append is on disk when this returns.
    pub async fn close(self) {
        self.store.close().await;
    }
}

/// The master key: created (mode 0600) on first start, refused when others could read it.
/// A missing key file is created only for a fresh data dir: otherwise a wrong path (or a
/// forgotten `LARAS_MASTER_KEY_FILE`) would start a second key and leave every wrapped key unreadable.
fn load_master_key(data: &DataDir, external: Option<&Path>) -> Result<SecretKey, AppError> {
    let path = external.map(Path::to_path_buf).unwrap_or_else(|| data.master_key());
    if path.exists() {
        ensure_private(&path)?;
    } else if data.keys().exists() {
        return Err(AppError::MasterKeyMissing(path));
    }
    Ok(MasterKeyFile::load_or_create(&path)?)
}
