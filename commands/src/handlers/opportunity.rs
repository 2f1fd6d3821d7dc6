//! Sales pipeline commands.

use crate::error::CommandError;
use crate::ledger::{Committed, Decided, EventIds, Ledger};
use crate::meta::CommandMeta;
use laras_domain::aggregate::opportunity::*;
use laras_domain::aggregate::partner::Partner;
use laras_domain::aggregate::Decide;
use laras_domain::ids::{OpportunityId, PartnerId};
use laras_domain::stream::StreamId;

impl Ledger {
    /// Runs a decision on an opportunity, with the Partner's pipeline beside it.
    pub async fn on_opportunity<C: Decide<State = OpportunityContext> + Sync>(
        &self,
        partner: PartnerId,
        opportunity: OpportunityId,
        command: &C,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let stream = StreamId::opportunity(opportunity);
        self.with_retry(|| async {
            let loaded = self.load_owned::<Opportunity>(partner, &stream).await?;
            let ctx = OpportunityContext {
                partner: self.load::<Partner>(&StreamId::partner(partner)).await?.state,
                opportunity: loaded.state.clone(),
            };
            let events = command.decide(&ctx, self.clock.now())?;
            self.commit(partner, vec![Decided::new(stream.clone(), &loaded, events)], meta, &EventIds::Fresh).await
        })
        .await
    }

    pub async fn open_opportunity(
        &self,
        partner: PartnerId,
        command: OpenOpportunity,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        // The contact must be this partner's.
        self.load_owned::<laras_domain::aggregate::contact::Contact>(partner, &StreamId::contact(command.contact_id))
            .await?;
        let id = command.opportunity_id;
        self.on_opportunity(partner, id, &command, meta).await
    }
}
