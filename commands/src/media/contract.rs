//! The promises every media-store backend keeps, as one suite: the in-memory store runs
//! it here, the folder store in `adapters`, and an object-store backend would too.
//! Each check panics with what went wrong (it is a test).

use super::store::{MediaObject, MediaStore};
use super::vault::MediaVault;
use crate::keys::ContactKeys;
use laras_domain::ids::{ContactId, PartnerId};
use std::sync::Arc;
use uuid::Uuid;

fn object(partner: u128, contact: u128, name: char) -> MediaObject {
    MediaObject {
        partner: PartnerId(Uuid::from_u128(partner)),
        contact: ContactId(Uuid::from_u128(contact)),
        name: name.to_string().repeat(64),
    }
}

/// A put object reads back whole and by range, with its length; a missing one is None.
pub async fn put_objects_read_back_by_range(store: &dyn MediaStore) {
    let o = object(1, 2, 'a');
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
    assert_eq!(store.len(&o).await.unwrap(), None);
    assert_eq!(store.read(&o, 0..10).await.unwrap(), None);
    store.put(&o, &bytes).await.unwrap();
    assert_eq!(store.len(&o).await.unwrap(), Some(10_000));
    assert_eq!(store.read(&o, 0..10_000).await.unwrap().as_deref(), Some(&bytes[..]));
    assert_eq!(store.read(&o, 5_000..5_010).await.unwrap().as_deref(), Some(&bytes[5_000..5_010]));
    assert_eq!(store.read(&o, 9_990..20_000).await.unwrap().as_deref(), Some(&bytes[9_990..]));
    // The same object under another Partner or contact is another object.
    assert_eq!(store.len(&object(9, 2, 'a')).await.unwrap(), None);
    assert_eq!(store.len(&object(1, 9, 'a')).await.unwrap(), None);
}

/// Putting an object again (a retried fetch) keeps one copy, unchanged.
pub async fn putting_an_object_twice_keeps_one(store: &dyn MediaStore) {
    let o = object(1, 2, 'b');
    store.put(&o, b"first").await.unwrap();
    store.put(&o, b"first").await.unwrap();
    assert_eq!(store.read(&o, 0..100).await.unwrap().as_deref(), Some(&b"first"[..]));
}

/// Deleting one object deletes it alone; deleting it again answers that it was not kept.
pub async fn deleting_one_object_leaves_its_neighbours(store: &dyn MediaStore) {
    let (gone, kept) = (object(5, 6, 'e'), object(5, 6, 'f'));
    store.put(&gone, b"refused reply").await.unwrap();
    store.put(&kept, b"sent reply").await.unwrap();
    assert!(store.delete(&gone).await.unwrap());
    assert_eq!(store.len(&gone).await.unwrap(), None);
    assert_eq!(store.read(&kept, 0..100).await.unwrap().as_deref(), Some(&b"sent reply"[..]));
    assert!(!store.delete(&gone).await.unwrap());
}

/// Deleting a contact's objects deletes all of them and nothing of anyone else's.
pub async fn deleting_a_contact_deletes_only_its_objects(store: &dyn MediaStore) {
    let (mine, also_mine, neighbour, other_partner) =
        (object(3, 4, 'c'), object(3, 4, 'd'), object(3, 5, 'c'), object(6, 4, 'c'));
    for o in [&mine, &also_mine, &neighbour, &other_partner] {
        store.put(o, b"sealed").await.unwrap();
    }
    assert_eq!(store.delete_contact(mine.partner, mine.contact).await.unwrap(), 2);
    assert_eq!(store.len(&mine).await.unwrap(), None);
    assert_eq!(store.len(&also_mine).await.unwrap(), None);
    assert_eq!(store.len(&neighbour).await.unwrap(), Some(6));
    assert_eq!(store.len(&other_partner).await.unwrap(), Some(6));
    assert_eq!(store.delete_contact(mine.partner, mine.contact).await.unwrap(), 0);
}

/// Through the vault: kept bytes are sealed at rest, open by range, and after the
/// contact's keys are destroyed open for no one at once, before their files are deleted.
pub async fn an_erased_contacts_files_are_unreadable_at_once_then_deleted(
    store: Arc<dyn MediaStore>,
    keys: Arc<dyn ContactKeys>,
) {
    let vault = MediaVault { store: store.clone(), keys: keys.clone() };
    let (partner, contact) = (PartnerId(Uuid::from_u128(7)), ContactId(Uuid::from_u128(8)));
    let (key, _) = keys.data_key_for(partner, contact).unwrap();
    let photo: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 253) as u8).collect();
    let name = vault.keep(partner, contact, key, &photo).await.unwrap().expect("the key exists");
    assert!(MediaObject::is_valid_name(&name));
    let o = MediaObject { partner, contact, name };
    let at_rest = store.read(&o, 0..u64::MAX).await.unwrap().unwrap();
    assert!(!at_rest.windows(32).any(|w| w == &photo[70_000..70_032]), "the file is sealed at rest");
    let opened = vault.open(&o).await.unwrap().expect("opens before erasure");
    assert_eq!(opened.len(), 150_000);
    assert_eq!(vault.read(&opened, 65_530..65_545).await.unwrap().as_deref(), Some(&photo[65_530..65_545]));
    assert_eq!(vault.read(&opened, 0..150_000).await.unwrap().as_deref(), Some(&photo[..]));

    keys.begin_erasure(contact).unwrap();
    keys.destroy_contact_keys(contact).unwrap();
    assert!(store.len(&o).await.unwrap().is_some(), "still on disk, not yet deleted");
    assert!(vault.open(&o).await.unwrap().is_none(), "unreadable as soon as the key is gone");
    assert!(vault.keep(partner, contact, key, &photo).await.unwrap().is_none(), "nothing new is kept");
    assert_eq!(store.delete_contact(partner, contact).await.unwrap(), 1);
    assert_eq!(store.len(&o).await.unwrap(), None);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::MemoryMediaStore;
    use crate::memory::MemoryKeys;

    #[tokio::test]
    async fn the_memory_store_keeps_every_promise() {
        let store = MemoryMediaStore::default();
        put_objects_read_back_by_range(&store).await;
        putting_an_object_twice_keeps_one(&store).await;
        deleting_one_object_leaves_its_neighbours(&store).await;
        deleting_a_contact_deletes_only_its_objects(&store).await;
        an_erased_contacts_files_are_unreadable_at_once_then_deleted(Arc::new(store), Arc::new(MemoryKeys::default()))
            .await;
    }
}
