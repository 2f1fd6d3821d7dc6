//! The promises of the key, access, credential and tree ports, written once and run
//! against every backend (SQLite in the data dir, PostgreSQL shared by nodes). `open`
//! gives a new handle on the same storage each call: a reopen, or another node.

use laras_commands::access::{AccessError, ApiKeys, Role};
use laras_commands::audit::{Leaf, TreeBatch, TreeStore};
use laras_commands::credentials::{AccessToken, ChannelCredentials, CredentialError};
use laras_commands::keys::ContactKeys;
use laras_commands::runtime::Fence;
use laras_domain::channel::ChannelKind;
use laras_domain::ids::{ContactId, EventId, PartnerId};
use laras_domain::merkle::CompletedNode;
use laras_domain::sealed::Sealed;
use laras_domain::signing::KeyId;
use laras_domain::time::Timestamp;
use laras_domain::tree_head::TreeHead;
use std::sync::Arc;
use uuid::Uuid;

fn partner() -> PartnerId {
    PartnerId(Uuid::new_v4())
}

pub fn contact_keys(open: &(dyn Fn() -> Arc<dyn ContactKeys> + Sync)) {
    let (p, c) = (partner(), ContactId(Uuid::new_v4()));

    // A key survives a reopen and opens what it sealed.
    let (id, key) = open().data_key_for(p, c).expect("first key");
    let sealed = Sealed::seal(id, &key, b"Jl. Mawar 5", &mut rand::rngs::OsRng);
    let store = open();
    assert_eq!(store.data_key_for(p, c).expect("again").0, id, "the same live key");
    let key = store.data_key(id).expect("read").expect("known key");
    assert_eq!(sealed.open(&key).expect("opens"), b"Jl. Mawar 5");

    // Erasure: the intent is pending until the keys are destroyed, then gone for good.
    store.begin_erasure(c).expect("begin");
    assert!(open().pending_erasures().expect("pending").contains(&c));
    assert_eq!(store.destroy_contact_keys(c).expect("destroy"), 1);
    assert!(store.data_key(id).expect("read").is_none());
    assert!(open().data_key(id).expect("read").is_none(), "gone for every handle");
    assert!(!store.pending_erasures().expect("pending").contains(&c));
    assert_ne!(store.data_key_for(p, c).expect("fresh").0, id, "a later message gets a fresh key");

    // An abandoned erasure leaves the key alone.
    let other = ContactId(Uuid::new_v4());
    let (kept, _) = store.data_key_for(p, other).expect("key");
    store.begin_erasure(other).expect("begin");
    store.abandon_erasure(other).expect("abandon");
    assert!(!store.pending_erasures().expect("pending").contains(&other));
    assert!(store.data_key(kept).expect("read").is_some());

    // Racing first uses, on one handle or several, end with one key.
    let racer = ContactId(Uuid::new_v4());
    let ids: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let handle = if i % 2 == 0 { store.clone() } else { open() };
                s.spawn(move || handle.data_key_for(p, racer).expect("key").0)
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");

    // Blind-index keys: stable for a Partner, different between Partners.
    assert_eq!(store.blind_index_key(p), open().blind_index_key(p));
    assert_ne!(store.blind_index_key(p), store.blind_index_key(partner()));
    assert!(store.data_key(laras_domain::ids::DataKeyId(Uuid::new_v4())).expect("read").is_none());
}

pub fn api_keys(open: &dyn Fn() -> Arc<dyn ApiKeys>) {
    let keys = open();
    let p = partner();
    let (key, secret) = keys.create(p, Role::Agent, "desk").expect("create");
    let found = open().authenticate(secret.expose()).expect("auth").expect("known on every handle");
    assert_eq!((found.clone(), found.role), (key.clone(), Role::Agent));
    // One character off, a truncated key, another shape: all unknown.
    let mut wrong = secret.expose().to_owned();
    let last = wrong.pop().map(|c| if c == 'A' { 'B' } else { 'A' }).unwrap_or('A');
    wrong.push(last);
    assert_eq!(keys.authenticate(&wrong).expect("auth"), None);
    assert_eq!(keys.authenticate(&secret.expose()[..20]).expect("auth"), None);
    assert_eq!(keys.authenticate("Bearer nonsense").expect("auth"), None);

    // Listing in creation order; only its Partner can revoke a key.
    let (second, second_secret) = keys.create(p, Role::Owner, "").expect("create");
    assert_eq!(open().list(p).expect("list"), vec![key.clone(), second.clone()]);
    assert!(!keys.revoke(partner(), &second.id).expect("revoke"));
    assert!(keys.authenticate(second_secret.expose()).expect("auth").is_some());
    assert!(keys.revoke(p, &second.id).expect("revoke"));
    assert!(!keys.revoke(p, &second.id).expect("revoke twice"), "already revoked");
    assert_eq!(open().authenticate(second_secret.expose()).expect("auth"), None);
    assert_eq!(keys.list(p).expect("list"), vec![key]);

    assert_eq!(keys.create(partner(), Role::Owner, &"x".repeat(201)).unwrap_err(), AccessError::BadLabel);
}

/// `open(master)`: a handle whose tokens are sealed under a master key of byte `master`.
pub fn channel_credentials(open: &dyn Fn(u8) -> Arc<dyn ChannelCredentials>) {
    let a = partner();
    let creds = open(1);
    creds.store(a, ChannelKind::WhatsApp, &AccessToken::new("EAAG-secret-token")).expect("store");
    let token = open(1).token(a, ChannelKind::WhatsApp).expect("read");
    assert_eq!(token, Some(AccessToken::new("EAAG-secret-token")));
    assert_eq!(format!("{:?}", token), "Some(AccessToken(***))");
    creds.store(a, ChannelKind::WhatsApp, &AccessToken::new("EAAG-newer")).expect("replace");
    assert_eq!(open(1).token(a, ChannelKind::WhatsApp).expect("read"), Some(AccessToken::new("EAAG-newer")));

    // Bound to Partner and channel, and to the master key.
    assert_eq!(creds.token(partner(), ChannelKind::WhatsApp).expect("read"), None);
    assert_eq!(creds.token(a, ChannelKind::Instagram).expect("read"), None);
    assert_eq!(open(2).token(a, ChannelKind::WhatsApp), Err(CredentialError::Corrupt));

    assert_eq!(creds.store(a, ChannelKind::Threads, &AccessToken::new("has space")), Err(CredentialError::Malformed));
    assert_eq!(creds.token(a, ChannelKind::Threads).expect("read"), None, "a refused token changes nothing");
    creds.store(a, ChannelKind::Threads, &AccessToken::new("tok")).expect("store");
    creds.remove(a, ChannelKind::Threads).expect("remove");
    assert_eq!(open(1).token(a, ChannelKind::Threads).expect("read"), None);
}

fn head(partner: PartnerId, size: u64, at: i64) -> TreeHead {
    TreeHead {
        partner,
        tree_size: size,
        root_hash: [size as u8; 32],
        timestamp: Timestamp(at),
        key_id: KeyId("ed25519:0011223344556677".into()),
        signature: [7; 64],
    }
}

pub fn tree_store(open: &dyn Fn() -> Arc<dyn TreeStore>) {
    let trees = open();
    let start = trees.checkpoint().expect("checkpoint");
    let (a, b) = (partner(), partner());
    let leaf = |partner, index, position| Leaf { partner, index, position, event_id: EventId(Uuid::new_v4()) };
    let leaves = vec![leaf(a, 0, start + 1), leaf(a, 1, start + 2), leaf(b, 0, start + 3)];
    let node = CompletedNode { level: 1, index: 0, hash: [9; 32] };
    trees
        .write(TreeBatch {
            up_to: start + 3,
            leaves: leaves.clone(),
            nodes: vec![(a, node)],
            heads: vec![head(a, 2, 100)],
            fence: Fence::UNLEASED,
        })
        .expect("write");

    let again = open();
    assert_eq!(again.checkpoint().expect("checkpoint"), start + 3);
    let states = again.trees().expect("trees");
    assert_eq!((states[&a].size, states[&a].head_size, states[&a].head_at), (2, 2, Some(Timestamp(100))));
    assert_eq!((states[&b].size, states[&b].head_size, states[&b].head_at), (1, 0, None));
    assert_eq!(again.node(a, 1, 0).expect("node"), Some([9; 32]));
    assert_eq!(again.node(a, 1, 1).expect("node"), None);
    assert_eq!(again.node(b, 1, 0).expect("node"), None, "nodes are per Partner");
    assert_eq!(again.leaves(a, 0, 10).expect("leaves"), leaves[..2].to_vec());
    assert_eq!(again.leaves(a, 1, 1).expect("leaves"), leaves[1..2].to_vec());
    assert_eq!(again.leaf_of_event(a, leaves[1].event_id).expect("leaf"), Some(1));
    assert_eq!(again.leaf_of_event(b, leaves[1].event_id).expect("leaf"), None);

    // Heads come back oldest first, with what was signed.
    trees.store_head(&head(a, 2, 200), Fence::UNLEASED).expect("head");
    assert_eq!(again.heads(a).expect("heads"), vec![head(a, 2, 100), head(a, 2, 200)]);
    assert_eq!(again.trees().expect("trees")[&a].head_at, Some(Timestamp(200)));
    assert!(again.heads(b).expect("heads").is_empty());

    // Cosignatures: one per witness and tree state, a later one replacing an earlier.
    let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]);
    let named = |timestamp| laras_commands::cosignatures::NamedCosignature {
        witness_name: "w.example".into(),
        cosignature: laras_domain::cosignature::Cosignature::sign(a, 2, [9; 32], timestamp, &key),
    };
    trees.store_cosignature(&named(10)).expect("cosignature");
    trees.store_cosignature(&named(20)).expect("a later cosignature");
    trees.store_cosignature(&named(15)).expect("an older one is ignored");
    assert_eq!(again.cosignatures(a).expect("cosignatures"), vec![named(20)]);
    assert!(again.cosignatures(b).expect("cosignatures").is_empty());
}
