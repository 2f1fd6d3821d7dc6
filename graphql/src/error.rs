//! Errors as a Partner sees them: a message and a stable code in `extensions.code`.

use async_graphql::ErrorExtensions;
use laras_commands::access::AccessError;
use laras_commands::account_proof::ProofError;
use laras_commands::credentials::CredentialError;
use laras_commands::CommandError;
use laras_domain::error::DomainError;

/// The stable error codes of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    Conflict,
    PolicyRefused,
    BadInput,
    Timeout,
    Internal,
    /// The query text is not GraphQL.
    ParseFailed,
    /// The query does not fit the schema.
    ValidationFailed,
    /// The query would cost more than a request may (refused before it runs).
    TooComplex,
    RateLimited,
    PayloadTooLarge,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::PolicyRefused => "POLICY_REFUSED",
            Self::BadInput => "BAD_INPUT",
            Self::Timeout => "TIMEOUT",
            Self::Internal => "INTERNAL",
            Self::ParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::ValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::TooComplex => "QUERY_TOO_COMPLEX",
            Self::RateLimited => "RATE_LIMITED",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    /// Extra machine-readable detail (a refusal reason, a ledger position).
    pub detail: Vec<(&'static str, async_graphql::Value)>,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), detail: Vec::new() }
    }
    pub fn bad_input(message: impl Into<String>) -> Self {
        Self::new(Code::BadInput, message)
    }
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "not found")
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(Code::Unauthenticated, "send `Authorization: Bearer <api key>`")
    }
    fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        // The cause goes to the log; the caller gets no internals.
        tracing::error!(error = %e, "{what} failed");
        Self::new(Code::Internal, format!("{what} failed; see the server log"))
    }

    pub fn into_graphql(self) -> async_graphql::Error {
        let code = self.code.as_str();
        async_graphql::Error::new(self.message).extend_with(|_, ext| {
            ext.set("code", code);
            for (k, v) in self.detail {
                ext.set(k, v);
            }
        })
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        use DomainError::*;
        let code = match &e {
            BadInput { .. } | UnknownStage(_) | MergeWithSelf => Code::BadInput,
            PartnerNotOnboarded | ConversationNotFound | ContactNotFound | DraftNotFound(_) | SendNotFound(_)
            | OpportunityNotFound | ArticleNotFound => Code::NotFound,
            ChannelNotConnected { .. } => Code::PolicyRefused,
            PartnerAlreadyOnboarded
            | ContactErased
            | DraftAlreadyDecided(_)
            | DraftAlreadySent(_)
            | SendAlreadySettled(_)
            | SendInDoubt { .. }
            | SendNotInDoubt(_)
            | SendNotHeld(_)
            | OpportunityAlreadyOpen
            | OpportunityClosed
            | AlreadyInStage(_)
            | ArticleRetired
            | KeyAlreadyActive
            | WitnessAlreadyRegistered => Code::Conflict,
        };
        Self::new(code, e.to_string())
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Domain(d) => d.into(),
            CommandError::PolicyRefused { reason, position } => {
                let mut err = Self::new(Code::PolicyRefused, format!("refused by policy: {reason}"));
                let reason = serde_json::to_value(&reason).unwrap_or_default();
                err.detail.push(("reason", async_graphql::Value::from_json(reason).unwrap_or_default()));
                if let Some(p) = position {
                    err.detail.push(("position", async_graphql::Value::from(p)));
                }
                err
            }
            CommandError::ForeignStream => Self::not_found(),
            CommandError::AccountHeld { position } => {
                let mut err = Self::new(Code::Conflict, e.to_string());
                if let Some(p) = position {
                    err.detail.push(("position", async_graphql::Value::from(p)));
                }
                err
            }
            CommandError::Proof(ProofError::Unreachable(cause)) => {
                // The cause goes to the log; the caller learns that nothing was recorded.
                tracing::warn!(error = %cause, "the Graph API could not be reached to prove an account");
                Self::new(
                    Code::Internal,
                    "the platform could not be reached to prove the account; nothing was recorded, try again",
                )
            }
            CommandError::Proof(proof) => Self::bad_input(proof.to_string()),
            CommandError::Contention { .. } => Self::new(Code::Conflict, e.to_string()),
            other => Self::internal("the command", other),
        }
    }
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::BadLabel => Self::bad_input(e.to_string()),
            AccessError::Storage(_) => Self::internal("the key store", e),
        }
    }
}

impl From<CredentialError> for ApiError {
    fn from(e: CredentialError) -> Self {
        match e {
            CredentialError::Malformed => Self::bad_input(e.to_string()),
            other => Self::internal("the credential store", other),
        }
    }
}

/// Converts any error the API knows into a GraphQL error with its code.
pub trait OrApi<T> {
    fn api(self) -> async_graphql::Result<T>;
}

impl<T, E: Into<ApiError>> OrApi<T> for Result<T, E> {
    fn api(self) -> async_graphql::Result<T> {
        self.map_err(|e| e.into().into_graphql())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use laras_domain::event::RefusalReason;

    fn code_of(e: impl Into<ApiError>) -> &'static str {
        e.into().code.as_str()
    }

    #[test]
    fn command_errors_map_to_stable_codes() {
        assert_eq!(code_of(CommandError::ForeignStream), "NOT_FOUND");
        assert_eq!(code_of(CommandError::Domain(DomainError::ConversationNotFound)), "NOT_FOUND");
        assert_eq!(code_of(CommandError::Domain(DomainError::bad_input("x", "y"))), "BAD_INPUT");
        assert_eq!(code_of(CommandError::Domain(DomainError::OpportunityClosed)), "CONFLICT");
        assert_eq!(code_of(CommandError::Contention { attempts: 8 }), "CONFLICT");
        assert_eq!(code_of(CommandError::AccountHeld { position: Some(3) }), "CONFLICT");
        assert_eq!(code_of(CommandError::Proof(ProofError::NotControlled)), "BAD_INPUT");
        assert_eq!(code_of(CommandError::Proof(ProofError::TokenInvalid { code: 190 })), "BAD_INPUT");
        assert_eq!(code_of(CommandError::Proof(ProofError::Unreachable("x".into()))), "INTERNAL");
        let refused = CommandError::PolicyRefused { reason: RefusalReason::OptedOut, position: Some(9) };
        let e = ApiError::from(refused);
        assert_eq!(e.code, Code::PolicyRefused);
        assert!(e.detail.iter().any(|(k, _)| *k == "position"));
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let e = ApiError::from(AccessError::Storage("disk /secret/path full".into()));
        assert_eq!(e.code, Code::Internal);
        assert!(!e.message.contains("/secret/path"));
    }
}
