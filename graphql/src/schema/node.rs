//! Relay's `Node`: every object a client may fetch again by its id alone.
//!
//! A global id is base64url without padding (RFC 4648 §5) of `<Type>:<local id>`, e.g.
//! `Contact:0190a000-…`; a draft's local id is `<conversation id>/<draft id>`, because a
//! draft lives in its conversation. The local ids are the ones every other field and
//! mutation takes (`conversationId`, `contactId`, …); those arguments accept a global id
//! as well, so an object's `id` can be passed where its local id is asked for.

use super::read::{Contact, Opportunity};
use super::thread::{Conversation, Draft};
use crate::error::ApiError;
use async_graphql::{Interface, ID};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// An object with a global id, fetched again with `node(id:)`.
#[derive(Interface)]
#[allow(clippy::large_enum_variant)]
#[graphql(field(
    name = "id",
    ty = "&ID",
    desc = "The global id: base64url (no padding) of `<Type>:<local id>`. Opaque to clients; \
            `node(id:)` takes it, and so does every argument that asks for this object's local id."
))]
pub enum Node {
    Conversation(Conversation),
    Contact(Contact),
    Opportunity(Opportunity),
    Draft(Draft),
}

/// The types a global id may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeType {
    Conversation,
    Contact,
    Opportunity,
    Draft,
}

impl NodeType {
    const ALL: [NodeType; 4] = [Self::Conversation, Self::Contact, Self::Opportunity, Self::Draft];

    fn name(self) -> &'static str {
        match self {
            Self::Conversation => "Conversation",
            Self::Contact => "Contact",
            Self::Opportunity => "Opportunity",
            Self::Draft => "Draft",
        }
    }
}

pub fn global_id(of: NodeType, local: &str) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{}:{local}", of.name())))
}

/// The type and local id a global id names; None when it is not one.
pub fn decode(id: &str) -> Option<(NodeType, String)> {
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(id).ok()?).ok()?;
    let (name, local) = text.split_once(':')?;
    let of = NodeType::ALL.into_iter().find(|t| t.name() == name)?;
    Some((of, local.to_owned()))
}

/// A global id, or BAD_INPUT.
pub fn parse(id: &ID) -> Result<(NodeType, String), ApiError> {
    decode(id).ok_or_else(|| ApiError::bad_input("id is not a global id (see `Node.id`)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_ids_round_trip_and_others_are_refused() {
        let local = "0190a000-0000-7000-8000-000000000001";
        for of in NodeType::ALL {
            assert_eq!(decode(&global_id(of, local)), Some((of, local.to_owned())));
        }
        assert_eq!(decode(local), None, "a local id is not a global one");
        assert_eq!(decode(&URL_SAFE_NO_PAD.encode("Partner:x")), None, "not a node type");
        assert_eq!(decode("!!"), None);
    }
}
