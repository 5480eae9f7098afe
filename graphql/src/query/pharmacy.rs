//! A pharmacy's view: its credential, its queue of open prescriptions, its dispensing history.

use super::lists::{dispense_key, page, prescriptions, sizes, where_fn, DISPENSES};
use crate::error::GqlResult;
use crate::error::ResultExt;
use crate::loaders::CredentialOf;
use crate::model::{CredentialRow, DispenseRow, PrescriptionFilter, PrescriptionRow};
use crate::page::{paginate, Conn};
use crate::scalars::Address;
use crate::schema::state;
use async_graphql::{Context, Object};

/// A pharmacy (any address; see `credential` for whether it is a registered pharmacy).
pub(crate) struct Pharmacy(pub(super) Address);

/// A pharmacy's view.
#[Object]
impl Pharmacy {
    /// The pharmacy's address.
    async fn address(&self) -> Address {
        self.0
    }
    /// Its credential, if registered.
    async fn credential(&self, ctx: &Context<'_>) -> GqlResult<Option<CredentialRow>> {
        state(ctx).loader.load_one(CredentialOf(self.0)).await.map_err(|e| e.clone_gql())
    }
    /// Prescriptions designated to it, oldest first; by default only open ones (`filter.openOnly` defaults
    /// to true here).
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn queue(
        &self,
        ctx: &Context<'_>,
        filter: Option<PrescriptionFilter>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<PrescriptionRow>> {
        let mut filter = filter.unwrap_or_default();
        filter.open_only = Some(filter.open_only.unwrap_or(true));
        prescriptions(ctx, "pharmacy", self.0, filter, page(first, after, last, before)).await
    }
    /// Its dispensing history, ordered by (block, log index).
    #[graphql(complexity = "crate::page::complexity(first, last, child_complexity)")]
    async fn dispenses(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> GqlResult<Conn<DispenseRow>> {
        let who = self.0;
        let filter = where_fn(move |qb| {
            qb.push(" AND pharmacy = ").push_bind(who);
        });
        paginate(
            &state(ctx).db,
            sizes(ctx),
            &DISPENSES,
            page(first, after, last, before),
            filter,
            dispense_key,
        )
        .await
        .gql()
    }
}
