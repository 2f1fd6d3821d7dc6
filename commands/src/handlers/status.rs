//! Delivery statuses from the platform. The conversation is derived from the customer the
//! status is about, so no look-up table is needed; statuses move forward only.

use crate::error::CommandError;
use crate::handlers::inbound::SenderIdentity;
use crate::ledger::{Committed, Ledger};
use crate::meta::CommandMeta;
use crate::outbox::{SendRef, WA_MARKETING_OPT_OUT, WA_WINDOW_CLOSED};
use laras_domain::channel::ChannelKind;
use laras_domain::error::DomainError;
use laras_domain::event::SendEvidence;
use laras_domain::event::{DeliveryStatus, OptScope, OptSignal, ThreadRef};
use laras_domain::ids::PartnerId;
use laras_domain::time::Timestamp;

#[derive(Clone, Debug)]
pub struct IncomingStatus {
    pub channel: ChannelKind,
    pub account_id: String,
    /// The customer the message went to.
    pub recipient: SenderIdentity,
    pub platform_message_id: String,
    pub status: DeliveryStatus,
    pub at: Timestamp,
    /// The send's reference, when the platform echoed it (`biz_opaque_callback_data`).
    pub send_ref: Option<SendRef>,
}

impl Ledger {
    /// Records a status; a failure that says the window closed (131047) or that the
    /// customer stopped marketing messages (131050) is recorded as that, too.
    pub async fn record_status(
        &self,
        partner: PartnerId,
        status: IncomingStatus,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let contact = self.contact_id_for(partner, status.recipient.kind, &status.recipient.value);
        let conversation =
            self.conversation_id_for(partner, status.channel, &status.account_id, contact, &ThreadRef::Direct);
        // The platform has the message: a send in doubt is settled before its status lands.
        let confirmed = match status.send_ref {
            Some(send_ref) => {
                self.confirm_sent(
                    partner,
                    send_ref,
                    &status.platform_message_id,
                    status.at,
                    SendEvidence::StatusWebhook,
                    meta,
                )
                .await?
            }
            None => Committed::default(),
        };
        let state = self.conversation(partner, conversation).await?;
        let contact = state.contact.ok_or(DomainError::ConversationNotFound)?;
        let mut committed = self
            .record_delivery_status(
                partner,
                conversation,
                &status.platform_message_id,
                status.status.clone(),
                status.at,
                meta,
            )
            .await?;
        let extra = match status.status {
            DeliveryStatus::Failed { code: WA_WINDOW_CLOSED, .. } => {
                self.mark_window_closed(partner, conversation, WA_WINDOW_CLOSED, status.at, meta).await?
            }
            DeliveryStatus::Failed { code: WA_MARKETING_OPT_OUT, .. } => {
                let signal = OptSignal::PlatformError { code: WA_MARKETING_OPT_OUT };
                self.opt_out(partner, contact, Some(status.channel), OptScope::Marketing, signal, meta).await?
            }
            _ => Committed::default(),
        };
        committed.positions.extend(extra.positions);
        committed.positions.extend(confirmed.positions);
        Ok(committed)
    }
}

/// Messenger / Instagram: everything sent to this customer up to `watermark` was
/// delivered or read.
#[derive(Clone, Debug)]
pub struct IncomingWatermark {
    pub channel: ChannelKind,
    pub account_id: String,
    pub customer: SenderIdentity,
    pub status: DeliveryStatus,
    pub watermark: Timestamp,
}

impl Ledger {
    /// Moves every send up to the watermark forward (statuses never move back).
    pub async fn record_watermark(
        &self,
        partner: PartnerId,
        w: IncomingWatermark,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let contact = self.contact_id_for(partner, w.customer.kind, &w.customer.value);
        let conversation = self.conversation_id_for(partner, w.channel, &w.account_id, contact, &ThreadRef::Direct);
        let command =
            laras_domain::aggregate::conversation::RecordWatermark { status: w.status, watermark: w.watermark };
        self.on_conversation(partner, conversation, &command, meta).await
    }
}
