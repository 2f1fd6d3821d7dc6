//! The composition root: opens the data dir and wires store, keys, signer and clock.
//! Where the log is decides where the rest of the shared state is: the data dir's SQLite
//! files beside an embedded log, the same PostgreSQL database beside a shared one.

use crate::data_dir::{ensure_private, DataDir, DataDirError, WriterLock};
use crate::log_store::{LogLocation, LogStore};
use crate::settings::Settings;
use laras_adapters::api_keys::SqliteApiKeys;
use laras_adapters::contact_keys::{media_link_key, MasterKeyFile, SqliteKeyStore};
use laras_adapters::credentials::SqliteCredentials;
use laras_adapters::media_folder::FolderMediaStore;
use laras_adapters::postgres_state::{
    PgApiKeys, PgCredentials, PgKeyStore, PgMediaStore, PgRuntime, PgShared, PgTreeStore, SharedStateError,
};
use laras_adapters::runtime_store::SqliteRuntime;
use laras_adapters::tree_store::SqliteTreeStore;
use laras_commands::access::ApiKeys;
use laras_commands::audit::TreeStore;
use laras_commands::credentials::ChannelCredentials;
use laras_commands::keys::ContactKeys;
use laras_commands::media::{MediaStore, MediaVault};
use laras_commands::runtime::{Checkpoints, Leases, Snapshots};
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
    #[error("cannot open the Merkle tree store: {0}")]
    Trees(#[from] laras_commands::audit::AuditError),
    #[error("cannot open the runtime store: {0}")]
    Runtime(#[from] laras_adapters::runtime_store::OpenError),
    #[error("cannot open the media folder: {0}")]
    Media(#[from] laras_commands::media::MediaStoreError),
    #[error("cannot open the shared state: {0}")]
    Shared(#[from] SharedStateError),
    #[error("the master key file {0} is missing but the data dir already holds keys wrapped by it; restore the file or set LARAS_MASTER_KEY_FILE")]
    MasterKeyMissing(std::path::PathBuf),
    #[error("the log names signing keys {0:?} but none of their secret files is here; nodes on one shared store are given the same signing-key folder (--signing-key-dir / LARAS_SIGNING_KEY_DIR)")]
    NoUsableSigningKey(Vec<String>),
}

/// A running ledger: everything a server or a CLI command needs.
pub struct App {
    pub data: DataDir,
    pub ledger: Ledger,
    pub store: LogStore,
    pub credentials: Arc<dyn ChannelCredentials>,
    pub api_keys: Arc<dyn ApiKeys>,
    /// The Merkle trees and signed tree heads.
    pub trees: Arc<dyn TreeStore>,
    /// This node's own runtime state in the data dir (`runtime.sqlite`): snapshots of the
    /// per-node processes (the channel directory), and beside an embedded log also the
    /// leases, checkpoints and snapshots of the once-only ones.
    pub local: Arc<SqliteRuntime>,
    /// Leases, checkpoints and snapshots for the once-only processes that follow the log:
    /// in the data dir beside an embedded log (one process holds the data dir), shared
    /// beside PostgreSQL, so the node that takes a lease over resumes where its last
    /// holder stopped.
    pub leases: Arc<dyn Leases>,
    pub checkpoints: Arc<dyn Checkpoints>,
    /// Customers' files, sealed with their contact's data key, in `<data dir>/media` (per
    /// node: beside a shared log, the node that fetched a file is the one that has it).
    pub media: MediaVault,
    /// Signs the short-lived links that serve customers' files (ADR 014); derived from
    /// the master key, so every node's links work on every node.
    pub media_link_key: SecretKey,
    pub snapshots: Arc<dyn Snapshots>,
    _lock: WriterLock,
}

/// Where the master key and the signing keys come from: files named in the settings,
/// never the database (ADR 011).
#[derive(Clone, Copy, Default)]
pub struct Secrets<'a> {
    /// The master key file outside the data dir (none: `<data dir>/master.key`).
    pub master_key_file: Option<&'a Path>,
    /// The signing keys' folder outside the data dir (none: `<data dir>/signing`).
    pub signing_key_dir: Option<&'a Path>,
}

/// The state beside the log, by where the log is.
struct SharedState {
    keys: Arc<dyn ContactKeys>,
    credentials: Arc<dyn ChannelCredentials>,
    api_keys: Arc<dyn ApiKeys>,
    trees: Arc<dyn TreeStore>,
    leases: Arc<dyn Leases>,
    checkpoints: Arc<dyn Checkpoints>,
    snapshots: Arc<dyn Snapshots>,
    media: Arc<dyn MediaStore>,
}

impl SharedState {
    fn embedded(data: &DataDir, master: SecretKey) -> Result<Self, AppError> {
        let runtime = Arc::new(SqliteRuntime::open(&data.runtime())?);
        Ok(Self {
            credentials: Arc::new(SqliteCredentials::open(&data.credentials(), &master)?),
            api_keys: Arc::new(SqliteApiKeys::open(&data.access())?),
            trees: Arc::new(SqliteTreeStore::open(&data.audit())?),
            keys: Arc::new(SqliteKeyStore::open(&data.keys(), master)?),
            leases: runtime.clone(),
            checkpoints: runtime.clone(),
            snapshots: runtime,
            media: Arc::new(FolderMediaStore::open(data.media())?),
        })
    }

    fn postgres(shared: PgShared, master: SecretKey) -> Result<Self, AppError> {
        let runtime = Arc::new(PgRuntime::new(shared.clone()));
        Ok(Self {
            media: Arc::new(PgMediaStore::new(shared.clone())),
            credentials: Arc::new(PgCredentials::new(shared.clone(), &master)),
            api_keys: Arc::new(PgApiKeys::new(shared.clone())),
            trees: Arc::new(PgTreeStore::new(shared.clone())),
            keys: Arc::new(PgKeyStore::open(shared, master).map_err(|e| match e {
                laras_commands::keys::KeyError::Corrupt => AppError::Shared(SharedStateError::OtherMasterKey),
                other => other.into(),
            })?),
            leases: runtime.clone(),
            checkpoints: runtime.clone(),
            snapshots: runtime,
        })
    }
}

impl App {
    /// [`open_at`](Self::open_at) on the embedded log.
    pub async fn open(root: &Path, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        Self::open_with(root, &LogLocation::Embedded, Secrets::default(), clock).await
    }

    /// Opens the data dir, the log and the master key named by the settings.
    pub async fn from_settings(settings: &Settings, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        let secrets = Secrets {
            master_key_file: settings.master_key_file.as_deref(),
            signing_key_dir: settings.signing_key_dir.as_deref(),
        };
        Self::open_with(&settings.data_dir, &settings.log, secrets, clock).await
    }

    /// [`open_with`](Self::open_with) with the master key in the data dir.
    pub async fn open_at(root: &Path, log: &LogLocation, clock: Arc<dyn Clock>) -> Result<Self, AppError> {
        Self::open_with(root, log, Secrets::default(), clock).await
    }

    /// Opens (creating on first start) the data dir for writing and the log at `log`:
    /// generates the master key (in `master_key_file` when given, outside the data dir)
    /// and the first signing key if there are none, and records the first key in the log.
    pub async fn open_with(
        root: &Path,
        log: &LogLocation,
        secrets: Secrets<'_>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, AppError> {
        let data = DataDir::create(root)?.with_signing_dir(secrets.signing_key_dir);
        let lock = data.lock_for_writing()?;
        // On a shared database, nodes starting together take turns from here until the log
        // names its signing key: the first makes the keys, the others find them.
        let (media_link_key, shared, introduction) = match log {
            LogLocation::Embedded => {
                let master = load_master_key(&data, secrets.master_key_file, data.keys().exists())?;
                (media_link_key(&master), SharedState::embedded(&data, master)?, None)
            }
            LogLocation::Postgres(url) => {
                let pg = PgShared::open(url)?;
                let introduction = pg.introduce()?;
                let master = load_master_key(&data, secrets.master_key_file, pg.holds_wrapped_keys()?)?;
                (media_link_key(&master), SharedState::postgres(pg, master)?, Some(introduction))
            }
        };
        let SharedState { keys, credentials, api_keys, trees, leases, checkpoints, snapshots, media } = shared;
        let store = log.open(&data).await?;
        let files = data.signing_keys()?;
        // Until the log says otherwise, any key on disk will do (it is recorded below).
        let provisional = files.first().cloned().unwrap_or_else(|| LedgerSigningKey::generate(&mut rand::rngs::OsRng));
        let ledger = Ledger::new(store.port(), keys, Arc::new(LedgerSigner::new(provisional)), clock);
        let history = ledger.key_history().await?;
        if history.is_empty() {
            // A new key is written only for a log that has none: a node joining a shared
            // log must be given the log's key, never make one of its own (ADR 011).
            if files.is_empty() {
                data.store_signing_key(&ledger.signer.active())?;
            }
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
        if let Some(introduction) = introduction {
            introduction.finish()?;
        }
        let finished = ledger.finish_pending_erasures().await?;
        if finished > 0 {
            tracing::info!(finished, "completed erasures interrupted by a restart");
        }
        let local = Arc::new(SqliteRuntime::open(&data.runtime())?);
        let media = MediaVault { store: media, keys: ledger.keys.clone() };
        Ok(Self {
            data,
            ledger,
            store,
            credentials,
            api_keys,
            trees,
            local,
            leases,
            checkpoints,
            media,
            media_link_key,
            snapshots,
            _lock: lock,
        })
    }

    /// Flushes the writer: every acknowledged append is on disk when this returns.
    pub async fn close(self) {
        self.store.close().await;
    }
}

/// The master key: created (mode 0600) on first start, refused when others could read it.
/// A missing key file is created only while no key is wrapped yet (a fresh data dir or
/// database): otherwise a wrong path (or a forgotten `LARAS_MASTER_KEY_FILE`) would start a
/// second key and leave every wrapped key unreadable.
fn load_master_key(data: &DataDir, external: Option<&Path>, keys_exist: bool) -> Result<SecretKey, AppError> {
    let path = external.map(Path::to_path_buf).unwrap_or_else(|| data.master_key());
    if path.exists() {
        ensure_private(&path)?;
    } else if keys_exist {
        return Err(AppError::MasterKeyMissing(path));
    }
    Ok(MasterKeyFile::load_or_create(&path)?)
}
