//! Partner commands: onboarding, channels, approval modes, knowledge.

use crate::error::CommandError;
use crate::ledger::{Committed, Ledger};
use crate::meta::CommandMeta;
use laras_domain::aggregate::article::{Article, PublishArticle, RetireArticle};
use laras_domain::aggregate::partner::*;
use laras_domain::ids::{ArticleId, PartnerId};
use laras_domain::stream::StreamId;

impl Ledger {
    pub async fn onboard_partner(
        &self,
        command: OnboardPartner,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        let partner = command.partner_id;
        self.execute::<Partner, _>(partner, StreamId::partner(partner), &command, meta).await
    }

    pub async fn mark_channel_needs_reauthorisation(
        &self,
        partner: PartnerId,
        command: MarkChannelNeedsReauthorisation,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.execute::<Partner, _>(partner, StreamId::partner(partner), &command, meta).await
    }

    pub async fn set_approval_mode(
        &self,
        partner: PartnerId,
        command: SetApprovalMode,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.execute::<Partner, _>(partner, StreamId::partner(partner), &command, meta).await
    }

    pub async fn set_follow_up_policy(
        &self,
        partner: PartnerId,
        command: SetFollowUpPolicy,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.execute::<Partner, _>(partner, StreamId::partner(partner), &command, meta).await
    }

    /// Names a witness whose cosignatures of the Partner's tree heads are accepted.
    pub async fn register_witness(
        &self,
        partner: PartnerId,
        command: laras_domain::aggregate::witnesses::RegisterWitness,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.execute::<Partner, _>(partner, StreamId::partner(partner), &command, meta).await
    }

    pub async fn partner(&self, partner: PartnerId) -> Result<Partner, CommandError> {
        Ok(self.load::<Partner>(&StreamId::partner(partner)).await?.state)
    }

    pub async fn publish_article(
        &self,
        partner: PartnerId,
        command: PublishArticle,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.require_partner(partner).await?;
        self.execute::<Article, _>(partner, StreamId::article(command.article_id), &command, meta).await
    }

    pub async fn retire_article(
        &self,
        partner: PartnerId,
        article: ArticleId,
        meta: &CommandMeta,
    ) -> Result<Committed, CommandError> {
        self.execute::<Article, _>(partner, StreamId::article(article), &RetireArticle, meta).await
    }

    pub(crate) async fn require_partner(&self, partner: PartnerId) -> Result<Partner, CommandError> {
        let state = self.partner(partner).await?;
        if !state.is_onboarded() {
            return Err(laras_domain::error::DomainError::PartnerNotOnboarded.into());
        }
        Ok(state)
    }
}
