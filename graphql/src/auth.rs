//! Who is calling: a Partner's API key (with its role) or the admin token.

use crate::error::{ApiError, Code};
use async_graphql::Context;
use laras_commands::access::{ApiKey, ApiKeys, Role};
use laras_commands::CommandMeta;
use laras_domain::actor::Actor;
use laras_domain::ids::{derived_uuid, PartnerId, UserId};
use subtle::ConstantTimeEq;

/// The authenticated caller of one request (or one websocket connection).
#[derive(Clone, Debug)]
pub enum Caller {
    /// `LARAS_ADMIN_TOKEN`: creates Partners and their keys; reads no Partner's data.
    Admin,
    Key(ApiKey),
}

/// What `Authorization` said.
pub enum Presented<'a> {
    None,
    Bearer(&'a str),
    Malformed,
}

pub fn presented(header: Option<&str>) -> Presented<'_> {
    match header {
        None => Presented::None,
        // RFC 9110 §11.1: the scheme is case-insensitive.
        Some(h) => match h.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
                Presented::Bearer(token.trim())
            }
            _ => Presented::Malformed,
        },
    }
}

/// Resolves a bearer token to a caller; None when it is neither the admin token nor a live key.
pub fn authenticate(token: &str, admin_token: Option<&str>, keys: &dyn ApiKeys) -> Result<Option<Caller>, ApiError> {
    if let Some(admin) = admin_token {
        if bool::from(token.as_bytes().ct_eq(admin.as_bytes())) {
            return Ok(Some(Caller::Admin));
        }
    }
    Ok(keys.authenticate(token)?.map(Caller::Key))
}

impl Caller {
    /// The Partner whose data this caller may touch, if its role is one of `allowed`.
    pub fn partner(&self, allowed: &[Role]) -> Result<(PartnerId, &ApiKey), ApiError> {
        match self {
            Self::Admin => Err(ApiError::forbidden("the admin token manages Partners; use a Partner's API key")),
            Self::Key(key) if allowed.contains(&key.role) => Ok((key.partner, key)),
            Self::Key(key) => Err(ApiError::forbidden(format!("a {} key may not do this", key.role.as_str()))),
        }
    }
}

/// The partner user an API key acts as: stable per key, so the audit trail names the key.
pub fn user_of(key: &ApiKey) -> UserId {
    UserId(derived_uuid("laras.api-key", &[key.id.as_bytes()]))
}

/// A command issued through the API by `key`.
pub fn meta_for(key: &ApiKey) -> CommandMeta {
    CommandMeta::new(Actor::PartnerUser { user: user_of(key) })
}

/// The caller of the request in `ctx`.
pub fn caller<'a>(ctx: &'a Context<'_>) -> Result<&'a Caller, async_graphql::Error> {
    ctx.data_opt::<Caller>().ok_or_else(|| ApiError::unauthenticated().into_graphql())
}

pub const READERS: &[Role] = &[Role::Owner, Role::Agent, Role::Auditor];
pub const WORKERS: &[Role] = &[Role::Owner, Role::Agent];
pub const OWNERS: &[Role] = &[Role::Owner];
pub const AUDIT: &[Role] = &[Role::Owner, Role::Auditor];

/// The Partner of the caller in `ctx`, if its role is one of `allowed`.
pub fn partner_in<'a>(ctx: &'a Context<'_>, allowed: &[Role]) -> async_graphql::Result<(PartnerId, &'a ApiKey)> {
    caller(ctx)?.partner(allowed).map_err(ApiError::into_graphql)
}

pub fn require_admin(ctx: &Context<'_>) -> async_graphql::Result<()> {
    match caller(ctx)? {
        Caller::Admin => Ok(()),
        Caller::Key(_) => Err(ApiError::new(Code::Forbidden, "only the admin token may do this").into_graphql()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn key(role: Role) -> ApiKey {
        ApiKey { id: "lrs_0011223344556677".into(), partner: PartnerId(Uuid::from_u128(1)), role, label: String::new() }
    }

    #[test]
    fn roles_gate_what_a_key_may_do() {
        assert!(Caller::Key(key(Role::Owner)).partner(OWNERS).is_ok());
        assert_eq!(Caller::Key(key(Role::Agent)).partner(OWNERS).unwrap_err().code, Code::Forbidden);
        assert_eq!(Caller::Key(key(Role::Auditor)).partner(WORKERS).unwrap_err().code, Code::Forbidden);
        assert!(Caller::Key(key(Role::Auditor)).partner(AUDIT).is_ok());
        assert_eq!(Caller::Admin.partner(READERS).unwrap_err().code, Code::Forbidden);
    }

    #[test]
    fn bearer_headers_are_parsed_strictly() {
        assert!(matches!(presented(None), Presented::None));
        assert!(matches!(presented(Some("Bearer abc")), Presented::Bearer("abc")));
        assert!(matches!(presented(Some("Basic abc")), Presented::Malformed));
        assert!(matches!(presented(Some("Bearer ")), Presented::Malformed));
        assert!(matches!(presented(Some("bearer abc")), Presented::Bearer("abc")));
        assert!(matches!(presented(Some("BEARER abc")), Presented::Bearer("abc")));
        assert!(matches!(presented(Some("Bearerabc")), Presented::Malformed));
    }

    #[test]
    fn each_key_acts_as_its_own_stable_user() {
        let a = key(Role::Owner);
        let mut b = key(Role::Owner);
        b.id = "lrs_8899aabbccddeeff".into();
        assert_eq!(user_of(&a), user_of(&a));
        assert_ne!(user_of(&a), user_of(&b));
    }
}
