//! Messenger's handover protocol: which app holds a customer's thread. While another app
//! holds it (a person in the Page inbox, another bot), Laras records and does not answer.

use crate::error::CommandError;
use crate::handlers::inbound::{Recorded, SenderIdentity};
use crate::ledger::{EventIds, Ledger};
use crate::meta::CommandMeta;
use laras_domain::aggregate::conversation::RecordThreadControl;
use laras_domain::channel::ChannelKind;
use laras_domain::ids::PartnerId;
use laras_domain::time::Timestamp;

/// `pass_thread_control` (to Laras) or `take_thread_control` (from Laras) for one customer.
#[derive(Clone, Debug)]
pub struct IncomingThreadControl {
    pub channel: ChannelKind,
    pub account_id: String,
    pub customer: SenderIdentity,
    pub held_by_laras: bool,
    /// The other app (the one passing to Laras, or taking from it).
    pub app_id: Option<String>,
    pub at: Timestamp,
}

impl Ledger {
    /// Moves the thread's holder; a move to where it already is records nothing.
    pub async fn record_thread_control(
        &self,
        partner: PartnerId,
        control: IncomingThreadControl,
        meta: &CommandMeta,
    ) -> Result<Recorded, CommandError> {
        self.require_connected_account(partner, control.channel, &control.account_id).await?;
        let who = self.who(partner, &control.customer, &[]).await?;
        let origin = self.direct_origin(partner, control.channel, &control.account_id, who.contact);
        let record = RecordThreadControl {
            origin: origin.clone(),
            held_by_laras: control.held_by_laras,
            app_id: control.app_id.clone(),
            at: control.at,
        };
        let ids = EventIds::DerivedFrom(format!(
            "{}:{}:thread-control:{}:{}:{}",
            control.channel, control.account_id, who.contact, control.held_by_laras, control.at.0
        ));
        let committed = self.record_signal(partner, &origin, &who, &record, None, &ids, meta).await?;
        Ok(Recorded { contact_id: who.contact, conversation_id: origin.conversation_id, committed })
    }
}
