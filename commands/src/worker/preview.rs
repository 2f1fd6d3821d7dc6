//! "Ask Laras": what the AI worker would propose to a customer's question, asked by a
//! person without a customer, a conversation or anything recorded. It runs the worker's
//! own decision ([`AiWorker::proposal`]) against the Partner's knowledge, so the answer
//! is the draft a real message would get (without the conversation's earlier turns).

use super::{AiWorker, GeneratedDraft, Passage, WorkerError};
use laras_domain::event::DeclineReason;
use laras_domain::ids::PartnerId;
use laras_domain::policy::keywords::{self, KeywordSignal};

/// What the worker decided for one question.
pub(super) struct Proposal {
    /// The articles retrieved for the question, best first.
    pub passages: Vec<Passage>,
    pub outcome: Result<GeneratedDraft, DeclineReason>,
}

impl Proposal {
    pub(super) fn unavailable(passages: Vec<Passage>, e: &WorkerError) -> Proposal {
        tracing::warn!(error = %e, "the draft generator failed; a person takes over");
        Proposal { passages, outcome: Err(DeclineReason::GeneratorUnavailable) }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PreviewOutcome {
    /// The draft a person would be asked to approve (or autopilot would send).
    Draft(GeneratedDraft),
    /// No draft: off topic, too little support in the knowledge, or the generator failed.
    Declined(DeclineReason),
    /// The text is an opt-out or opt-in keyword: the customer's choice is recorded, not answered.
    Keyword(KeywordSignal),
}

/// The answer to "ask Laras".
#[derive(Clone, Debug, PartialEq)]
pub struct Preview {
    pub outcome: PreviewOutcome,
    /// The articles retrieved for the question, best first.
    pub passages: Vec<Passage>,
}

impl AiWorker {
    /// What the worker would propose if a customer of `partner` wrote `question` now.
    /// Reads the Partner's knowledge and calls the generator; writes nothing.
    pub async fn preview(&self, partner: PartnerId, question: &str) -> Preview {
        if let Some((signal, _)) = keywords::detect(question) {
            return Preview { outcome: PreviewOutcome::Keyword(signal), passages: Vec::new() };
        }
        let proposal = self.proposal(partner, question, None).await;
        let outcome = match proposal.outcome {
            Ok(draft) => PreviewOutcome::Draft(draft),
            Err(reason) => PreviewOutcome::Declined(reason),
        };
        Preview { outcome, passages: proposal.passages }
    }
}
