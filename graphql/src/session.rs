//! The record vault's session in GraphQL: the fields that expose a patient's document metadata and access
//! log (`patient { documents accessLog }`) learn their caller from the vault's Sign-In with Ethereum session
//! (bearer token or session cookie, verified exactly as `/fhir` verifies it) and are decided by the vault's
//! own access rule ([`medledger_vault::policy::decide`], through [`Vault::search`] and
//! [`Vault::access_log`]), each decision in the vault's access log.

use crate::error::{ApiError, GqlResult, ResultExt};
use alloy::primitives::Address;
use async_graphql::Context;
#[cfg(doc)]
use medledger_vault::auth::Auth;
use medledger_vault::Vault;
use std::sync::Arc;

/// What the HTTP server attaches to each GraphQL request when the vault is mounted: the vault and the
/// request's session token, if any. The token is verified only when a field needs it.
#[derive(Clone)]
pub struct VaultSession {
    vault: Arc<Vault>,
    token: Option<String>,
}

impl std::fmt::Debug for VaultSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token.
        f.debug_struct("VaultSession").field("signed_in", &self.token.is_some()).finish()
    }
}

impl VaultSession {
    /// The session of a request whose token is `token`: find it with [`Auth::token`] in the request's
    /// headers (`Authorization: Bearer …`, else the session cookie), as `/fhir` does.
    pub const fn new(vault: Arc<Vault>, token: Option<String>) -> Self {
        Self { vault, token }
    }

    /// Whether the request carries a session token (its response must not be cached).
    pub const fn has_token(&self) -> bool {
        self.token.is_some()
    }

    /// The vault and the signed-in caller.
    pub(crate) async fn caller(ctx: &Context<'_>) -> GqlResult<(Arc<Vault>, Address)> {
        let Some(session) = ctx.data_opt::<Self>() else {
            return Err(ApiError::Unavailable {
                message: "the record vault is not served here: documents and the access log need it".into(),
                retryable: false,
            }
            .into_graphql());
        };
        let Some(token) = &session.token else {
            return Err(ApiError::Unauthenticated(
                "sign in to the record vault (GET /auth/nonce, POST /auth/login) and send its bearer token \
                 or session cookie"
                    .into(),
            )
            .into_graphql());
        };
        let caller = session.vault.auth().authenticate_token(token).await.map_err(ApiError::from).gql()?;
        Ok((session.vault.clone(), caller))
    }
}
