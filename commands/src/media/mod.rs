//! Customers' files: the media store port, the vault that seals and opens files with the
//! contact's data key, and the process that fetches inbound files (`fetch/`).

#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod fetch;
mod memory;
mod reply;
mod source;
mod store;
mod vault;

pub use fetch::{MediaError, MediaFetchProcess, MediaFetcher, MediaSettings, Wanted, MEDIA_FETCH};
pub use memory::MemoryMediaStore;
pub use reply::{discard_reply_file, keep_reply_file, Upload};
pub use source::{FetchedFile, MediaRequest, MediaSource, SourceError};
pub use store::{MediaObject, MediaStore, MediaStoreError};
pub use vault::{MediaVault, OpenedMedia, VaultError};
