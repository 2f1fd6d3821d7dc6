//! Who did it: every event names its actor.

use crate::ids::{ContactId, UserId};
use serde::{Deserialize, Serialize};

/// The one responsible for an event.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// A Partner's customer, through a Meta channel.
    Customer { contact: ContactId },
    /// The AI worker; `generator` names the draft generator or process (e.g. `embedded-bm25`).
    AiWorker { generator: String },
    /// A person working for the Partner.
    PartnerUser { user: UserId },
    /// Laras itself (webhook intake, outbox, key management); `component` says which part.
    System { component: String },
}

impl Actor {
    pub fn system(component: &str) -> Self {
        Self::System { component: component.to_owned() }
    }

    /// The one-byte kind code used in canonical bytes (docs/audit-format.md).
    pub const fn kind_code(&self) -> u8 {
        match self {
            Self::Customer { .. } => 1,
            Self::AiWorker { .. } => 2,
            Self::PartnerUser { .. } => 3,
            Self::System { .. } => 4,
        }
    }

    /// The actor's identifier as text, used in canonical bytes.
    pub fn id_text(&self) -> String {
        match self {
            Self::Customer { contact } => contact.to_string(),
            Self::AiWorker { generator } => generator.clone(),
            Self::PartnerUser { user } => user.to_string(),
            Self::System { component } => component.clone(),
        }
    }

    /// Rebuilds an actor from its canonical kind code and id text. Only the canonical
    /// text is accepted (a UUID lowercase and hyphenated): the signed bytes hold the
    /// text as stored, so an id that would re-encode differently is not this actor's.
    pub fn from_parts(code: u8, id: &str) -> Option<Self> {
        let actor = Self::from_loose_parts(code, id)?;
        (actor.id_text() == id).then_some(actor)
    }

    fn from_loose_parts(code: u8, id: &str) -> Option<Self> {
        Some(match code {
            1 => Self::Customer { contact: id.parse().ok()? },
            2 => Self::AiWorker { generator: id.to_owned() },
            3 => Self::PartnerUser { user: id.parse().ok()? },
            4 => Self::System { component: id.to_owned() },
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn actors_round_trip_through_their_canonical_parts() {
        let actors = [
            Actor::Customer { contact: ContactId(Uuid::from_u128(7)) },
            Actor::AiWorker { generator: "embedded-bm25".into() },
            Actor::PartnerUser { user: UserId(Uuid::from_u128(9)) },
            Actor::system("webhook"),
        ];
        for actor in actors {
            let back = Actor::from_parts(actor.kind_code(), &actor.id_text());
            assert_eq!(back, Some(actor));
        }
        assert_eq!(Actor::from_parts(9, "x"), None);
    }

    #[test]
    fn a_uuid_id_in_any_but_its_canonical_text_is_refused() {
        let id = "0000000a-0000-4000-8000-00000000000b";
        assert!(Actor::from_parts(1, id).is_some());
        for loose in [id.to_uppercase(), id.replace('-', ""), format!("{{{id}}}"), format!("urn:uuid:{id}")] {
            assert_eq!(Actor::from_parts(1, &loose), None, "{loose}");
            assert_eq!(Actor::from_parts(3, &loose), None, "{loose}");
        }
    }
}
