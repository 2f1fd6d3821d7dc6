//! Who issues a command, and which request it belongs to.

use laras_domain::actor::Actor;
use laras_domain::ids::UserId;
use uuid::Uuid;

/// Recorded on every event the command produces.
#[derive(Clone, Debug)]
pub struct CommandMeta {
    pub actor: Actor,
    /// The originating request (a webhook delivery, a GraphQL mutation).
    pub correlation_id: Uuid,
    /// What caused this command (the request, or the event a process reacted to).
    pub causation_id: Uuid,
}

impl CommandMeta {
    /// A fresh request by `actor`: correlation and causation are the same new id.
    pub fn new(actor: Actor) -> Self {
        let id = Uuid::now_v7();
        Self { actor, correlation_id: id, causation_id: id }
    }

    pub fn partner_user(user: UserId) -> Self {
        Self::new(Actor::PartnerUser { user })
    }

    pub fn system(component: &str) -> Self {
        Self::new(Actor::system(component))
    }

    /// The same request, caused by `cause` (an event id or a sub-request).
    pub fn caused_by(&self, cause: Uuid) -> Self {
        Self { actor: self.actor.clone(), correlation_id: self.correlation_id, causation_id: cause }
    }

    pub fn with_actor(&self, actor: Actor) -> Self {
        Self { actor, ..self.clone() }
    }
}
