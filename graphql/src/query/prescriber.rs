//! A prescriber's view: its credential, the consents patients granted it, the prescriptions it issued.

use super::lists::{consents, page, prescriptions};
use crate::error::GqlResult;
use crate::loaders::CredentialOf;
use crate::model::{ConsentFilter, ConsentRow, CredentialRow, PrescriptionFilter, PrescriptionRow};
use crate::page::Conn;
use crate::scalars::Address;
use crate::schema::state;
use async_graphql::{Context, Object};

/// A prescriber (doctor).
pub(crate) struct Prescriber(pub(super) Address);

/// A prescriber's view.
#[Object]
impl Prescriber {
    /// The prescriber's address.
    async fn address(&self) -> Address {
        self.0
    }
    /// Its own credential, if registered.
    async fn credential(&self, ctx: &Context<'_>) -> GqlResult<Option<CredentialRow>> {
        state(ctx).loader.load_one(CredentialOf(self.0)).await.map_err(|e| e.clone_gql())
    }
    /// Consents patients granted to it: all, active, expiring soon, or emergency access.
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn consents(
        &self,
        ctx: &Context<'_>,
        filter: Option<ConsentFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<ConsentRow>> {
        consents(ctx, "grantee", self.0, filter.unwrap_or_default(), page(first, after, last, before)).await
    }
    /// Prescriptions it issued, oldest first, each with its status.
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn prescriptions(
        &self,
        ctx: &Context<'_>,
        filter: Option<PrescriptionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<PrescriptionRow>> {
        let filter = filter.unwrap_or_default();
        prescriptions(ctx, "prescriber", self.0, filter, page(first, after, last, before)).await
    }
}
