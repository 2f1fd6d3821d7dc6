//! Customers' files: the media store port, the vault that seals and opens files with the
//! contact's data key, and the process that fetches inbound files (`fetch/`).

#[cfg(any(test, feature = "contract"))]
pub mod contract;
mod memory;
mod store;
mod vault;

pub use memory::MemoryMediaStore;
pub use store::{MediaObject, MediaStore, MediaStoreError};
pub use vault::{MediaVault, OpenedMedia, VaultError};
