//! The embedded media store: sealed files in a folder of the data dir, one file per
//! object at `partner/contact/name`. A file is written whole to `tmp/`, flushed to disk,
//! then renamed into place (and its folder flushed), so a crash leaves either the whole
//! object or none; leftovers in `tmp/` are removed when the store opens.

use async_trait::async_trait;
use laras_commands::media::{MediaObject, MediaStore, MediaStoreError};
use laras_domain::ids::{ContactId, PartnerId};
use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

#[derive(Clone, Debug)]
pub struct FolderMediaStore {
    root: PathBuf,
}

fn io(e: io::Error) -> MediaStoreError {
    MediaStoreError::Io(e.kind().to_string())
}

/// Flushes a folder's entries (the rename of a file into it) to disk.
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl FolderMediaStore {
    /// Opens (creating) the store at `root`, removing what an interrupted write left.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, MediaStoreError> {
        let root = root.into();
        let tmp = root.join("tmp");
        fs::create_dir_all(&tmp).map_err(io)?;
        for entry in fs::read_dir(&tmp).map_err(io)? {
            fs::remove_file(entry.map_err(io)?.path()).map_err(io)?;
        }
        Ok(Self { root })
    }

    fn contact_dir(&self, partner: PartnerId, contact: ContactId) -> PathBuf {
        self.root.join(partner.0.to_string()).join(contact.0.to_string())
    }

    /// The object's file; None for a name that is not a content address (which could
    /// otherwise reach outside the folder).
    fn path(&self, object: &MediaObject) -> Option<PathBuf> {
        MediaObject::is_valid_name(&object.name)
            .then(|| self.contact_dir(object.partner, object.contact).join(&object.name))
    }

    async fn blocking<T: Send + 'static>(
        work: impl FnOnce() -> Result<T, MediaStoreError> + Send + 'static,
    ) -> Result<T, MediaStoreError> {
        tokio::task::spawn_blocking(work).await.map_err(|_| MediaStoreError::Io("the file task stopped".into()))?
    }
}

/// What [`FolderMediaStore::copy_into`] did: objects copied now, and found there already.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaCopied {
    pub copied: u64,
    pub already: u64,
}

impl FolderMediaStore {
    /// Every object the folder keeps (what a crash left half-written is not one).
    pub fn objects(&self) -> Result<Vec<MediaObject>, MediaStoreError> {
        Self::objects_in(&self.root)
    }

    /// [`objects`](Self::objects) of the folder at `root`, read without opening it (which
    /// would clear `tmp/` under a running server's feet): an online backup lists this way.
    pub fn objects_in(root: &Path) -> Result<Vec<MediaObject>, MediaStoreError> {
        let mut out = Vec::new();
        for partner in subdirs(root)? {
            let Ok(partner_id) = partner.file_name().to_string_lossy().parse() else { continue };
            for contact in subdirs(&partner.path())? {
                let Ok(contact_id) = contact.file_name().to_string_lossy().parse() else { continue };
                for file in fs::read_dir(contact.path()).map_err(io)? {
                    let name = file.map_err(io)?.file_name().to_string_lossy().into_owned();
                    if MediaObject::is_valid_name(&name) {
                        out.push(MediaObject { partner: PartnerId(partner_id), contact: ContactId(contact_id), name });
                    }
                }
            }
        }
        Ok(out)
    }

    /// Copies every object into `target` (another backend: `store copy`'s database), sealed
    /// as it is; objects the target already holds are left, so a rerun copies nothing twice.
    pub async fn copy_into(&self, target: &dyn MediaStore) -> Result<MediaCopied, MediaStoreError> {
        let mut done = MediaCopied::default();
        for object in self.objects()? {
            if target.len(&object).await?.is_some() {
                done.already += 1;
                continue;
            }
            // A file deleted since the listing (an erasure) is not copied.
            let Some(sealed) = self.read(&object, 0..u64::MAX).await? else { continue };
            target.put(&object, &sealed).await?;
            done.copied += 1;
        }
        Ok(done)
    }
}

/// The folders directly in `dir` (none when it does not exist).
fn subdirs(dir: &Path) -> Result<Vec<fs::DirEntry>, MediaStoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io)?;
        if entry.file_type().map_err(io)?.is_dir() {
            out.push(entry);
        }
    }
    Ok(out)
}

#[async_trait]
impl MediaStore for FolderMediaStore {
    async fn put(&self, object: &MediaObject, sealed: &[u8]) -> Result<(), MediaStoreError> {
        let path = self.path(object).ok_or(MediaStoreError::Corrupt)?;
        let tmp = self.root.join("tmp").join(format!("{}.part", uuid::Uuid::new_v4()));
        let sealed = sealed.to_vec();
        Self::blocking(move || {
            if path.exists() {
                return Ok(());
            }
            let dir = path.parent().ok_or(MediaStoreError::Corrupt)?;
            fs::create_dir_all(dir).map_err(io)?;
            let mut file = File::create(&tmp).map_err(io)?;
            let written = file.write_all(&sealed).and_then(|()| file.sync_all());
            if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
                let _ = fs::remove_file(&tmp);
                return Err(io(e));
            }
            sync_dir(dir).map_err(io)
        })
        .await
    }

    async fn len(&self, object: &MediaObject) -> Result<Option<u64>, MediaStoreError> {
        let Some(path) = self.path(object) else { return Ok(None) };
        Self::blocking(move || match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn read(&self, object: &MediaObject, range: Range<u64>) -> Result<Option<Vec<u8>>, MediaStoreError> {
        let Some(path) = self.path(object) else { return Ok(None) };
        Self::blocking(move || {
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io(e)),
            };
            let len = file.metadata().map_err(io)?.len();
            let (start, end) = (range.start.min(len), range.end.min(len));
            file.seek(SeekFrom::Start(start)).map_err(io)?;
            let mut out = vec![0; (end - start) as usize];
            file.read_exact(&mut out).map_err(io)?;
            Ok(Some(out))
        })
        .await
    }

    async fn delete(&self, object: &MediaObject) -> Result<bool, MediaStoreError> {
        let Some(path) = self.path(object) else { return Ok(false) };
        Self::blocking(move || match fs::remove_file(&path) {
            Ok(()) => {
                if let Some(dir) = path.parent() {
                    sync_dir(dir).map_err(io)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io(e)),
        })
        .await
    }

    async fn delete_contact(&self, partner: PartnerId, contact: ContactId) -> Result<usize, MediaStoreError> {
        let dir = self.contact_dir(partner, contact);
        Self::blocking(move || {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
                Err(e) => return Err(io(e)),
            };
            let mut deleted = 0;
            for entry in entries {
                fs::remove_file(entry.map_err(io)?.path()).map_err(io)?;
                deleted += 1;
            }
            fs::remove_dir(&dir).map_err(io)?;
            if let Some(parent) = dir.parent() {
                sync_dir(parent).map_err(io)?;
            }
            Ok(deleted)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contact_keys::SqliteKeyStore;
    use laras_commands::media::contract;
    use laras_domain::sealed::SecretKey;
    use std::sync::Arc;

    #[tokio::test]
    async fn the_folder_store_keeps_every_promise_of_the_port() {
        let dir = tempfile::tempdir().unwrap();
        let store = FolderMediaStore::open(dir.path().join("media")).unwrap();
        contract::put_objects_read_back_by_range(&store).await;
        contract::putting_an_object_twice_keeps_one(&store).await;
        contract::deleting_one_object_leaves_its_neighbours(&store).await;
        contract::deleting_a_contact_deletes_only_its_objects(&store).await;
    }

    #[tokio::test]
    async fn erasing_a_contact_makes_its_files_unreadable_at_once_and_deletes_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FolderMediaStore::open(dir.path().join("media")).unwrap());
        let keys =
            Arc::new(SqliteKeyStore::open(&dir.path().join("keys.sqlite"), SecretKey::from_bytes([3; 32])).unwrap());
        contract::an_erased_contacts_files_are_unreadable_at_once_then_deleted(store, keys).await;
        let left: Vec<_> = walk(&dir.path().join("media")).into_iter().filter(|p| !p.ends_with("tmp")).collect();
        assert!(left.iter().all(|p| p.is_dir()), "no file is left: {left:?}");
    }

    #[tokio::test]
    async fn the_folder_lists_its_objects_and_copies_each_once() {
        let dir = tempfile::tempdir().unwrap();
        let folder = FolderMediaStore::open(dir.path().join("media")).unwrap();
        let o = |c: u128, name: char| MediaObject {
            partner: PartnerId(uuid::Uuid::from_u128(1)),
            contact: ContactId(uuid::Uuid::from_u128(c)),
            name: name.to_string().repeat(64),
        };
        for (object, bytes) in [(o(2, 'a'), &b"one"[..]), (o(2, 'b'), b"two"), (o(3, 'a'), b"three")] {
            folder.put(&object, bytes).await.unwrap();
        }
        fs::write(dir.path().join("media/tmp/left.part"), b"half").unwrap();
        let mut listed = folder.objects().unwrap();
        listed.sort_by_key(MediaObject::key);
        assert_eq!(listed, vec![o(2, 'a'), o(2, 'b'), o(3, 'a')]);

        let target = FolderMediaStore::open(dir.path().join("target")).unwrap();
        assert_eq!(folder.copy_into(&target).await.unwrap(), MediaCopied { copied: 3, already: 0 });
        assert_eq!(folder.copy_into(&target).await.unwrap(), MediaCopied { copied: 0, already: 3 });
        assert_eq!(target.read(&o(3, 'a'), 0..100).await.unwrap().as_deref(), Some(&b"three"[..]));
    }

    #[tokio::test]
    async fn a_write_cut_off_by_a_crash_leaves_no_object_and_is_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("media");
        FolderMediaStore::open(&root).unwrap();
        fs::write(root.join("tmp").join("interrupted.part"), b"half a fi").unwrap();
        FolderMediaStore::open(&root).unwrap();
        assert_eq!(fs::read_dir(root.join("tmp")).unwrap().count(), 0);
    }

    #[tokio::test]
    async fn a_name_that_is_not_a_content_address_reaches_no_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("secret"), b"x").unwrap();
        let store = FolderMediaStore::open(dir.path().join("media")).unwrap();
        let o = MediaObject {
            partner: PartnerId(uuid::Uuid::nil()),
            contact: ContactId(uuid::Uuid::nil()),
            name: "../../../secret".into(),
        };
        assert_eq!(store.len(&o).await.unwrap(), None);
        assert!(store.put(&o, b"x").await.is_err());
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = vec![];
        for e in fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
        out
    }
}
