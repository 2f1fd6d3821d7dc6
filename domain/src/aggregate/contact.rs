//! The Contact: identities, opt-out state, erasure.

use super::{Aggregate, Decide};
use crate::blind::{BlindIndex, IdentityKind};
use crate::channel::ChannelKind;
use crate::error::DomainError;
use crate::event::{DomainEvent, OptScope, OptSignal};
use crate::ids::{ContactId, DataKeyId, NoteId};
use crate::sealed::Sealed;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Contact {
    pub id: Option<ContactId>,
    pub identities: BTreeSet<(IdentityKind, BlindIndex)>,
    /// Opt-outs by channel; the `None` key covers every channel.
    pub opt_outs: BTreeMap<Option<ChannelKind>, OptScope>,
    pub erased: bool,
    pub merged_into: Option<ContactId>,
    pub data_keys: BTreeSet<DataKeyId>,
    /// The latest sealed identifier of each kind (the outbox opens it to address a send).
    pub sealed_identities: BTreeMap<IdentityKind, Sealed>,
}

impl Contact {
    pub fn exists(&self) -> bool {
        self.id.is_some()
    }

    /// Whether a send on `channel` is blocked; `marketing` sends are also blocked by marketing-only opt-outs.
    pub fn is_opted_out(&self, channel: ChannelKind, marketing: bool) -> bool {
        [Some(channel), None].iter().any(|key| match self.opt_outs.get(key) {
            Some(OptScope::All) => true,
            Some(OptScope::Marketing) => marketing,
            None => false,
        })
    }
}

impl Aggregate for Contact {
    fn apply(&mut self, event: &DomainEvent) {
        match event {
            DomainEvent::ContactIdentified { contact_id, identity, blind_index, value, name, .. } => {
                self.id = Some(*contact_id);
                self.identities.insert((*identity, blind_index.clone()));
                self.sealed_identities.insert(*identity, value.clone());
                self.data_keys.insert(value.key);
                if let Some(name) = name {
                    self.data_keys.insert(name.key);
                }
            }
            DomainEvent::IdentitiesMerged { survivor, absorbed } if self.id == Some(*absorbed) => {
                self.merged_into = Some(*survivor);
            }
            DomainEvent::OptedOut { channel, scope, .. } => {
                // A full opt-out is never weakened to a marketing one.
                let entry = self.opt_outs.entry(*channel).or_insert(*scope);
                if *scope == OptScope::All {
                    *entry = OptScope::All;
                }
            }
            DomainEvent::OptedIn { channel: None, .. } => self.opt_outs.clear(),
            DomainEvent::OptedIn { channel: Some(c), .. } => {
                self.opt_outs.remove(&Some(*c));
            }
            DomainEvent::NoteAdded { body, .. } => {
                self.data_keys.insert(body.key);
            }
            DomainEvent::ContactErased { .. } => {
                self.erased = true;
                self.data_keys.clear();
                self.sealed_identities.clear();
            }
            _ => {}
        }
    }
}

/// Records an identifier seen for a contact. Idempotent: a known identity records nothing.
pub struct IdentifyContact {
    pub contact_id: ContactId,
    pub channel: ChannelKind,
    pub identity: IdentityKind,
    pub blind_index: BlindIndex,
    pub value: Sealed,
    pub name: Option<Sealed>,
}

impl Decide for IdentifyContact {
    type State = Contact;
    fn decide(&self, state: &Contact, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if state.identities.contains(&(self.identity, self.blind_index.clone())) && !state.erased {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::ContactIdentified {
            contact_id: self.contact_id,
            channel: self.channel,
            identity: self.identity,
            blind_index: self.blind_index.clone(),
            value: self.value.clone(),
            name: self.name.clone(),
        }])
    }
}

pub struct OptOut {
    pub channel: Option<ChannelKind>,
    pub scope: OptScope,
    pub signal: OptSignal,
}

impl Decide for OptOut {
    type State = Contact;
    fn decide(&self, state: &Contact, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_live(state)?;
        let already = state.opt_outs.get(&self.channel).is_some_and(|s| *s == OptScope::All || *s == self.scope);
        if already {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::OptedOut {
            channel: self.channel,
            scope: self.scope,
            signal: self.signal.clone(),
            at: now,
        }])
    }
}

pub struct OptIn {
    pub channel: Option<ChannelKind>,
    pub signal: OptSignal,
}

impl Decide for OptIn {
    type State = Contact;
    fn decide(&self, state: &Contact, now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_live(state)?;
        let opted_out = match self.channel {
            None => !state.opt_outs.is_empty(),
            Some(c) => state.opt_outs.contains_key(&Some(c)),
        };
        if !opted_out {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::OptedIn { channel: self.channel, signal: self.signal.clone(), at: now }])
    }
}

pub struct AddNote {
    pub note_id: NoteId,
    pub body: Sealed,
}

impl Decide for AddNote {
    type State = Contact;
    fn decide(&self, state: &Contact, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        require_live(state)?;
        Ok(vec![DomainEvent::NoteAdded { note_id: self.note_id, body: self.body.clone() }])
    }
}

/// Erases a contact: the handler destroys the listed data keys after this event is durable.
pub struct EraseContact;

impl Decide for EraseContact {
    type State = Contact;
    fn decide(&self, state: &Contact, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if !state.exists() {
            return Err(DomainError::ContactNotFound);
        }
        if state.erased {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::ContactErased { data_keys: state.data_keys.iter().copied().collect() }])
    }
}

/// Merges `absorbed` into the contact whose state is decided on (the survivor).
pub struct MergeIdentities {
    pub survivor: ContactId,
    pub absorbed: ContactId,
}

impl Decide for MergeIdentities {
    type State = Contact;
    fn decide(&self, state: &Contact, _now: Timestamp) -> Result<Vec<DomainEvent>, DomainError> {
        if self.survivor == self.absorbed {
            return Err(DomainError::MergeWithSelf);
        }
        require_live(state)?;
        if state.merged_into == Some(self.survivor) {
            return Ok(vec![]);
        }
        Ok(vec![DomainEvent::IdentitiesMerged { survivor: self.survivor, absorbed: self.absorbed }])
    }
}

fn require_live(state: &Contact) -> Result<(), DomainError> {
    if !state.exists() {
        Err(DomainError::ContactNotFound)
    } else if state.erased {
        Err(DomainError::ContactErased)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sealed::SecretKey;
    use crate::testing::{given, TEST_NOW};
    use proptest::prelude::*;
    use rand::{rngs::StdRng, SeedableRng};
    use uuid::Uuid;

    fn sealed(text: &str) -> Sealed {
        let mut rng = StdRng::seed_from_u64(1);
        Sealed::seal(DataKeyId(Uuid::from_u128(3)), &SecretKey::from_bytes([1; 32]), text.as_bytes(), &mut rng)
    }

    fn identified() -> Vec<DomainEvent> {
        vec![DomainEvent::ContactIdentified {
            contact_id: ContactId(Uuid::from_u128(2)),
            channel: ChannelKind::WhatsApp,
            identity: IdentityKind::WaId,
            blind_index: BlindIndex("ab".into()),
            value: sealed("628"),
            name: None,
        }]
    }

    fn keyword(k: &str) -> OptSignal {
        OptSignal::Keyword { keyword: k.into() }
    }

    #[test]
    fn opting_out_records_the_time_and_the_signal() {
        let cmd = OptOut { channel: Some(ChannelKind::WhatsApp), scope: OptScope::All, signal: keyword("STOP") };
        given::<Contact>(identified()).when(&cmd).then(vec![DomainEvent::OptedOut {
            channel: Some(ChannelKind::WhatsApp),
            scope: OptScope::All,
            signal: keyword("STOP"),
            at: TEST_NOW,
        }]);
    }

    #[test]
    fn opting_out_twice_records_it_once() {
        let cmd = OptOut { channel: None, scope: OptScope::All, signal: OptSignal::Manual };
        let mut history = identified();
        history.extend(given::<Contact>(history.clone()).when(&cmd).events());
        given::<Contact>(history).when(&cmd).then(vec![]);
    }

    #[test]
    fn a_marketing_opt_out_blocks_marketing_only() {
        let mut c = Contact::from_events(&identified());
        c.apply(&DomainEvent::OptedOut {
            channel: None,
            scope: OptScope::Marketing,
            signal: OptSignal::PlatformError { code: 131050 },
            at: TEST_NOW,
        });
        assert!(c.is_opted_out(ChannelKind::WhatsApp, true));
        assert!(!c.is_opted_out(ChannelKind::WhatsApp, false));
    }

    #[test]
    fn a_note_on_an_erased_contact_is_refused() {
        let mut history = identified();
        history.push(DomainEvent::ContactErased { data_keys: vec![] });
        given::<Contact>(history)
            .when(&AddNote { note_id: NoteId(Uuid::nil()), body: sealed("x") })
            .then_err(DomainError::ContactErased);
    }

    #[test]
    fn erasing_lists_every_data_key_the_contact_used() {
        let events = given::<Contact>(identified()).when(&EraseContact).events();
        assert_eq!(events, vec![DomainEvent::ContactErased { data_keys: vec![DataKeyId(Uuid::from_u128(3))] }]);
    }

    #[test]
    fn a_known_identity_is_not_recorded_again() {
        let cmd = IdentifyContact {
            contact_id: ContactId(Uuid::from_u128(2)),
            channel: ChannelKind::WhatsApp,
            identity: IdentityKind::WaId,
            blind_index: BlindIndex("ab".into()),
            value: sealed("628"),
            name: None,
        };
        given::<Contact>(identified()).when(&cmd).then(vec![]);
    }

    proptest! {
        /// Any sequence of opt-outs and opt-ins leaves the contact opted out on a channel
        /// exactly when the last relevant signal for that channel (or for all) was an opt-out.
        #[test]
        fn opt_state_follows_the_last_signal(ops in proptest::collection::vec((any::<bool>(), proptest::option::of(0usize..4)), 0..30)) {
            let mut contact = Contact::from_events(&identified());
            let mut model: BTreeMap<Option<ChannelKind>, bool> = BTreeMap::new();
            for (out, ch) in ops {
                let channel = ch.map(|i| ChannelKind::ALL[i]);
                let events = if out {
                    OptOut { channel, scope: OptScope::All, signal: OptSignal::Manual }.decide(&contact, TEST_NOW).unwrap()
                } else {
                    OptIn { channel, signal: OptSignal::Manual }.decide(&contact, TEST_NOW).unwrap()
                };
                for e in &events { contact.apply(e); }
                match (out, channel) {
                    (true, key) => { model.insert(key, true); }
                    (false, None) => model.clear(),
                    (false, key) => { model.remove(&key); }
                }
            }
            for c in ChannelKind::ALL {
                let expected = model.get(&Some(c)).copied().unwrap_or(false) || model.get(&None).copied().unwrap_or(false);
                prop_assert_eq!(contact.is_opted_out(c, false), expected);
            }
        }
    }
}
