//! Online backups of the embedded store, and their restore.
//!
//! A backup is one uncompressed tar file (mode 0600: it holds key material):
//!
//! ```text
//! laras-backup.json   format version, creation time, SHA-256 of every other member
//! runtime.sqlite      processes' checkpoints, snapshots and leases
//! readmodels.sqlite   …each SQLite file as a `VACUUM INTO` snapshot
//! audit.sqlite
//! ledger.sqlite
//! keys.sqlite
//! credentials.sqlite
//! access.sqlite
//! master.key          only when the master key lives in the data dir
//! signing/<id>.key
//! media/<partner>/<contact>/<sha256>   customers' files, sealed as they are kept
//! ```
//!
//! It needs no writer lock: every file is in WAL mode, so a `VACUUM INTO` is a read
//! transaction that sees one committed state while the server keeps writing. The files
//! are copied in dependency order so that the restored store is consistent: what is
//! derived from the log (processes' checkpoints, read models, Merkle trees) is copied *before* the log, so it is
//! at most behind it and catches up on the first start; what the log needs (contact data
//! keys, signing keys, and the media files the log's `MediaStored` events name, each kept
//! before its event is recorded) is copied *after* it, so it covers every event in the copy. The
//! search index and the AI worker's knowledge index are left out: they are rebuilt from
//! the log on the first start.

use crate::data_dir::{ensure_private, DataDir, DataDirError};
use laras_adapters::media_folder::FolderMediaStore;
use laras_commands::media::MediaObject;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const MANIFEST: &str = "laras-backup.json";
pub const FORMAT: u32 = 1;
const LEDGER: &str = "ledger.sqlite";

/// Derived files first, then the log, then what the log refers to (see the module comment).
const SQLITE_FILES: [&str; 7] = [
    "runtime.sqlite",
    "readmodels.sqlite",
    "audit.sqlite",
    "ledger.sqlite",
    "keys.sqlite",
    "credentials.sqlite",
    "access.sqlite",
];

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot snapshot {path}: {source}")]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    #[error("{0} already exists; a backup never overwrites a file")]
    OutExists(PathBuf),
    #[error("{0} is not empty; restore only into a new or empty directory")]
    NotEmpty(PathBuf),
    #[error("{0} is not a laras backup: {1}")]
    NotABackup(PathBuf, String),
    #[error("backup member {0} does not match its checksum; the file is damaged")]
    Damaged(String),
}

/// What the manifest records about the backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub created_at_ms: i64,
    /// False when the master key lives outside the data dir: the restore then needs it separately.
    pub master_key_included: bool,
    /// Member name to lowercase hex SHA-256.
    pub files: std::collections::BTreeMap<String, String>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.to_path_buf(), source }
}

/// Writes a backup of `data` to `out` (a new file) while a server may be writing.
/// `master_key` is the key file in use when it lives outside the data dir; it is left out.
pub fn backup(data: &DataDir, out: &Path, external_master_key: bool, now_ms: i64) -> Result<Manifest, BackupError> {
    if out.exists() {
        return Err(BackupError::OutExists(out.to_path_buf()));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let staging = tempfile::Builder::new().prefix(".laras-backup-").tempdir_in(&parent).map_err(io(&parent))?;
    // The staging dir holds key copies: keep it private like the data dir's key files.
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700)).map_err(io(staging.path()))?;
    let mut members: Vec<String> = Vec::new();
    for name in SQLITE_FILES {
        let source = data.root().join(name);
        if source.exists() {
            snapshot(&source, &staging.path().join(name))?;
            members.push(name.to_owned());
        }
        if name == LEDGER {
            members.extend(copy_media(data, staging.path())?);
        }
    }
    let master = data.master_key();
    let master_key_included = !external_master_key && master.exists();
    if master_key_included {
        ensure_private(&master)?;
        copy_private(&master, &staging.path().join("master.key"))?;
        members.push("master.key".into());
    }
    std::fs::create_dir(staging.path().join("signing")).map_err(io(staging.path()))?;
    for key in data.signing_key_files()? {
        ensure_private(&key)?;
        let name = format!("signing/{}", file_name(&key));
        copy_private(&key, &staging.path().join(&name))?;
        members.push(name);
    }
    let mut files = std::collections::BTreeMap::new();
    for name in &members {
        files.insert(name.clone(), sha256_file(&staging.path().join(name))?);
    }
    let manifest = Manifest { format: FORMAT, created_at_ms: now_ms, master_key_included, files };
    let json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| BackupError::Io { path: PathBuf::from(MANIFEST), source: std::io::Error::other(e) })?;
    std::fs::write(staging.path().join(MANIFEST), json).map_err(io(staging.path()))?;

    // Written beside `out` and renamed into place: a reader never sees half a backup.
    let partial = staging.path().join("backup.tar.partial");
    let file = OpenOptions::new().create_new(true).write(true).mode(0o600).open(&partial).map_err(io(&partial))?;
    let mut tar = tar::Builder::new(file);
    tar.mode(tar::HeaderMode::Deterministic);
    for name in std::iter::once(MANIFEST).chain(members.iter().map(String::as_str)) {
        tar.append_path_with_name(staging.path().join(name), name).map_err(io(&partial))?;
    }
    let file = tar.into_inner().map_err(io(&partial))?;
    file.sync_all().map_err(io(&partial))?;
    drop(file);
    std::fs::hard_link(&partial, out).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            BackupError::OutExists(out.to_path_buf())
        } else {
            BackupError::Io { path: out.to_path_buf(), source: e }
        }
    })?;
    File::open(&parent).and_then(|d| d.sync_all()).map_err(io(&parent))?;
    Ok(manifest)
}

/// Copies the sealed media files into `staging/media/`, returning their member names. A
/// file erased since the listing is simply not there any more.
fn copy_media(data: &DataDir, staging: &Path) -> Result<Vec<String>, BackupError> {
    let root = data.media();
    let objects = FolderMediaStore::objects_in(&root)
        .map_err(|e| BackupError::Io { path: root.clone(), source: std::io::Error::other(e) })?;
    let mut members = Vec::new();
    for object in objects {
        let name = format!("media/{}", object.key());
        let source = root.join(object.key());
        let bytes = match std::fs::read(&source) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(BackupError::Io { path: source, source: e }),
        };
        let target = staging.join(&name);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_private(&target, &bytes)?;
        members.push(name);
    }
    Ok(members)
}

/// One consistent copy of a live SQLite file (a read transaction; no lock on writers).
fn snapshot(source: &Path, target: &Path) -> Result<(), BackupError> {
    let err = |e: rusqlite::Error| BackupError::Sqlite { path: source.to_path_buf(), source: e };
    let conn = rusqlite::Connection::open(source).map_err(err)?;
    conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(err)?;
    let target_text = target.to_str().ok_or_else(|| BackupError::Io {
        path: target.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not UTF-8"),
    })?;
    conn.execute("VACUUM INTO ?1", [target_text]).map_err(err)?;
    std::fs::set_permissions(target, std::fs::Permissions::from_mode(0o600)).map_err(io(target))?;
    Ok(())
}

fn copy_private(source: &Path, target: &Path) -> Result<(), BackupError> {
    let bytes = std::fs::read(source).map_err(io(source))?;
    write_private(target, &bytes)
}

fn write_private(target: &Path, bytes: &[u8]) -> Result<(), BackupError> {
    let mut file = OpenOptions::new().create_new(true).write(true).mode(0o600).open(target).map_err(io(target))?;
    file.write_all(bytes).map_err(io(target))?;
    file.sync_all().map_err(io(target))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn sha256_file(path: &Path) -> Result<String, BackupError> {
    let mut file = File::open(path).map_err(io(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(io(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A member name the restore accepts: one of the known files, or `signing/<name>.key`.
fn allowed_member(name: &str) -> bool {
    if name == MANIFEST || name == "master.key" || SQLITE_FILES.contains(&name) {
        return true;
    }
    if let Some(object) = name.strip_prefix("media/") {
        return is_media_member(object);
    }
    match name.strip_prefix("signing/") {
        Some(key) => {
            key.ends_with(".key")
                && !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                && !key.starts_with('.')
        }
        None => false,
    }
}

/// `partner/contact/name`: two UUIDs and a content address, so a member never leaves `media/`.
fn is_media_member(object: &str) -> bool {
    let parts: Vec<&str> = object.split('/').collect();
    matches!(parts.as_slice(), [partner, contact, name]
        if partner.parse::<uuid::Uuid>().is_ok()
            && contact.parse::<uuid::Uuid>().is_ok()
            && MediaObject::is_valid_name(name))
}

/// Restores `file` into `target` (new or empty): every member checked against the
/// manifest before anything lands in `target`.
pub fn restore(file: &Path, target: &Path) -> Result<Manifest, BackupError> {
    let not_a_backup = |why: String| BackupError::NotABackup(file.to_path_buf(), why);
    match std::fs::read_dir(target) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(target.to_path_buf()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BackupError::Io { path: target.to_path_buf(), source: e }),
    }
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let staging = tempfile::Builder::new().prefix(".laras-restore-").tempdir_in(&parent).map_err(io(&parent))?;
    std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o700)).map_err(io(staging.path()))?;
    std::fs::create_dir(staging.path().join("signing")).map_err(io(staging.path()))?;

    let archive_file = File::open(file).map_err(io(file))?;
    let mut archive = tar::Archive::new(archive_file);
    let mut seen: Vec<String> = Vec::new();
    for entry in archive.entries().map_err(|e| not_a_backup(e.to_string()))? {
        let mut entry = entry.map_err(|e| not_a_backup(e.to_string()))?;
        let name = entry.path().map_err(|e| not_a_backup(e.to_string()))?.to_string_lossy().into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular || !allowed_member(&name) || seen.contains(&name) {
            return Err(not_a_backup(format!("unexpected member {name:?}")));
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(|e| not_a_backup(e.to_string()))?;
        let staged = staging.path().join(&name);
        if let Some(dir) = staged.parent() {
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        write_private(&staged, &bytes)?;
        seen.push(name);
    }
    let manifest_path = staging.path().join(MANIFEST);
    let manifest: Manifest = std::fs::read(&manifest_path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| not_a_backup(format!("no readable {MANIFEST}")))?;
    if manifest.format != FORMAT {
        return Err(not_a_backup(format!("format {} (this laras reads {FORMAT})", manifest.format)));
    }
    for (name, digest) in &manifest.files {
        if !allowed_member(name) || !seen.contains(name) {
            return Err(not_a_backup(format!("{name} is listed but missing")));
        }
        if &sha256_file(&staging.path().join(name))? != digest {
            return Err(BackupError::Damaged(name.clone()));
        }
    }
    if let Some(extra) = seen.iter().find(|n| n.as_str() != MANIFEST && !manifest.files.contains_key(*n)) {
        return Err(not_a_backup(format!("{extra} is not in the manifest")));
    }
    if !manifest.files.contains_key("ledger.sqlite") {
        return Err(not_a_backup("no ledger.sqlite".into()));
    }
    std::fs::remove_file(&manifest_path).map_err(io(&manifest_path))?;
    // An empty target dir is replaced by the staged one in a single rename.
    if target.exists() {
        std::fs::remove_dir(target).map_err(io(target))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, target).map_err(io(target))?;
    File::open(&parent).and_then(|d| d.sync_all()).map_err(io(&parent))?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_data_dir(root: &Path) -> DataDir {
        let data = DataDir::create(root).unwrap();
        let conn = rusqlite::Connection::open(data.ledger()).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; CREATE TABLE events (position INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO events (body) VALUES ('one'), ('two');",
        )
        .unwrap();
        write_private(&data.master_key(), &[7; 32]).unwrap();
        data.store_signing_key(&laras_domain::signing::LedgerSigningKey::from_secret([5; 32])).unwrap();
        data
    }

    #[test]
    fn a_backup_restores_the_same_rows_and_keys_with_private_modes() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_data_dir(&dir.path().join("data"));
        let out = dir.path().join("b.tar");
        let manifest = backup(&data, &out, false, 1).unwrap();
        assert!(manifest.master_key_included);
        assert_eq!(std::fs::metadata(&out).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(matches!(backup(&data, &out, false, 2), Err(BackupError::OutExists(_))));

        let restored = dir.path().join("restored");
        restore(&out, &restored).unwrap();
        let conn = rusqlite::Connection::open(restored.join("ledger.sqlite")).unwrap();
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 2);
        assert_eq!(std::fs::read(restored.join("master.key")).unwrap(), vec![7; 32]);
        let again = DataDir::existing(&restored).unwrap();
        assert_eq!(again.signing_keys().unwrap().len(), 1);
        for f in [restored.join("master.key"), again.signing_key_files().unwrap()[0].clone()] {
            assert_eq!(std::fs::metadata(&f).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert!(!restored.join(MANIFEST).exists());
    }

    #[test]
    fn customers_files_are_backed_up_after_the_log_and_restored_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_data_dir(&dir.path().join("data"));
        let (partner, contact) = (uuid::Uuid::from_u128(1), uuid::Uuid::from_u128(2));
        let folder = data.media().join(partner.to_string()).join(contact.to_string());
        std::fs::create_dir_all(&folder).unwrap();
        let name = "ab".repeat(32);
        std::fs::write(folder.join(&name), b"sealed photo").unwrap();
        std::fs::create_dir_all(data.media().join("tmp")).unwrap();
        std::fs::write(data.media().join("tmp").join("half.part"), b"half").unwrap();
        let out = dir.path().join("b.tar");
        let manifest = backup(&data, &out, false, 1).unwrap();
        let member = format!("media/{partner}/{contact}/{name}");
        assert!(manifest.files.contains_key(&member), "{:?}", manifest.files.keys());
        assert_eq!(manifest.files.keys().filter(|k| k.starts_with("media/")).count(), 1, "no half-written file");

        let restored = dir.path().join("restored");
        restore(&out, &restored).unwrap();
        let file = restored.join(&member);
        assert_eq!(std::fs::read(&file).unwrap(), b"sealed photo");
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn an_external_master_key_is_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_data_dir(&dir.path().join("data"));
        let out = dir.path().join("b.tar");
        let manifest = backup(&data, &out, true, 1).unwrap();
        assert!(!manifest.master_key_included && !manifest.files.contains_key("master.key"));
        let restored = dir.path().join("restored");
        restore(&out, &restored).unwrap();
        assert!(!restored.join("master.key").exists());
    }

    #[test]
    fn restore_refuses_a_non_empty_dir_and_writes_nothing_there() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_data_dir(&dir.path().join("data"));
        let out = dir.path().join("b.tar");
        backup(&data, &out, false, 1).unwrap();
        let target = dir.path().join("busy");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep.txt"), b"x").unwrap();
        assert!(matches!(restore(&out, &target), Err(BackupError::NotEmpty(_))));
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 1);
        // An empty dir is fine.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        restore(&out, &empty).unwrap();
        assert!(empty.join("ledger.sqlite").exists());
    }

    #[test]
    fn a_damaged_backup_is_refused_and_the_target_stays_absent() {
        let dir = tempfile::tempdir().unwrap();
        let data = sample_data_dir(&dir.path().join("data"));
        let out = dir.path().join("b.tar");
        backup(&data, &out, false, 1).unwrap();
        let mut bytes = std::fs::read(&out).unwrap();
        // Flip a byte inside the master key's contents (its 32 bytes of 7s).
        let at = bytes.windows(32).position(|w| w == [7u8; 32]).unwrap();
        bytes[at] ^= 1;
        let damaged = dir.path().join("damaged.tar");
        std::fs::write(&damaged, &bytes).unwrap();
        let target = dir.path().join("restored");
        assert!(matches!(restore(&damaged, &target), Err(BackupError::Damaged(name)) if name == "master.key"));
        assert!(!target.exists());
        std::fs::write(&damaged, b"not a tar at all").unwrap();
        assert!(restore(&damaged, &target).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn members_outside_the_layout_are_not_accepted() {
        for ok in ["ledger.sqlite", "master.key", "signing/abc_-1.key", MANIFEST] {
            assert!(allowed_member(ok), "{ok}");
        }
        let (p, c, n) = (uuid::Uuid::nil(), uuid::Uuid::max(), "0f".repeat(32));
        assert!(allowed_member(&format!("media/{p}/{c}/{n}")));
        let traversal = format!("media/{p}/../{n}");
        let short = format!("media/{p}/{c}/abc");
        let deep = format!("media/{p}/{c}/{n}/x");
        for bad in [
            "../x",
            "/etc/passwd",
            "signing/../../x.key",
            "signing/.key",
            "other.sqlite",
            "signing/a/b.key",
            &traversal,
            &short,
            &deep,
        ] {
            assert!(!allowed_member(bad), "{bad}");
        }
    }
}
