//! DataLoader batching: one SQL statement per batch of keys, so nested lists never issue a query per row.

use crate::db::Db;
use crate::error::ApiError;
use crate::model::{AsOf, CredentialRow, DispenseRow, PrescriptionRow, RecordRow, AS_OF_SQL};
use crate::scalars::{Address, Bytes32};
use async_graphql::dataloader::Loader;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

/// A loader error shared by every waiter of a batch.
#[derive(Debug, Clone)]
pub(crate) struct SharedError(Arc<ApiError>);

impl SharedError {
    /// The GraphQL error (internal details are logged and hidden).
    pub(crate) fn clone_gql(&self) -> async_graphql::Error {
        let copy = match &*self.0 {
            ApiError::Database(e) => {
                tracing::error!(target: "medledger::graphql", error = %e, "batched database query failed");
                ApiError::Corrupt("batched query failed".into())
            }
            other => other.cloned(),
        };
        copy.into_graphql()
    }
}

impl From<ApiError> for SharedError {
    fn from(e: ApiError) -> Self {
        Self(Arc::new(e))
    }
}

/// Key: the credential of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct CredentialOf(pub(crate) Address);

/// Key: every dispense of a prescription, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct DispensesOf(pub(crate) Bytes32);

/// Key: the records of an episode, in chain order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct RecordsOf {
    pub(crate) episode: i64,
    pub(crate) include_hidden: bool,
}

/// Key: the `asOf` time (latest indexed block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AsOfKey;

/// Every batch loader of the schema.
pub(crate) struct Loaders {
    pub(crate) db: Db,
}

impl Loader<CredentialOf> for Loaders {
    type Value = CredentialRow;
    type Error = SharedError;

    async fn load(&self, keys: &[CredentialOf]) -> Result<HashMap<CredentialOf, CredentialRow>, SharedError> {
        let accounts: Vec<Address> = keys.iter().map(|k| k.0).collect();
        let mut qb = Db::sql(crate::model::CREDENTIAL_COLUMNS);
        qb.push("chain_id = ").push_bind(self.db.chain_id());
        qb.push(" AND account = ANY(").push_bind(accounts).push(")");
        let rows: Vec<CredentialRow> = self.db.all(qb).await?;
        Ok(rows.into_iter().map(|r| (CredentialOf(r.account), r)).collect())
    }
}

impl Loader<Bytes32> for Loaders {
    type Value = PrescriptionRow;
    type Error = SharedError;

    async fn load(&self, keys: &[Bytes32]) -> Result<HashMap<Bytes32, PrescriptionRow>, SharedError> {
        let mut qb = Db::sql(crate::model::PRESCRIPTION_COLUMNS);
        qb.push("chain_id = ").push_bind(self.db.chain_id());
        qb.push(" AND rx_id = ANY(").push_bind(keys.to_vec()).push(")");
        let rows: Vec<PrescriptionRow> = self.db.all(qb).await?;
        Ok(rows.into_iter().map(|r| (r.rx_id, r)).collect())
    }
}

impl Loader<DispensesOf> for Loaders {
    type Value = Vec<DispenseRow>;
    type Error = SharedError;

    async fn load(
        &self,
        keys: &[DispensesOf],
    ) -> Result<HashMap<DispensesOf, Vec<DispenseRow>>, SharedError> {
        let ids: Vec<Bytes32> = keys.iter().map(|k| k.0).collect();
        let mut qb = Db::sql(crate::model::DISPENSE_COLUMNS);
        qb.push("chain_id = ").push_bind(self.db.chain_id());
        qb.push(" AND rx_id = ANY(").push_bind(ids).push(") ORDER BY block_number, log_index");
        let rows: Vec<DispenseRow> = self.db.all(qb).await?;
        let mut out: HashMap<DispensesOf, Vec<DispenseRow>> = HashMap::new();
        for r in rows {
            out.entry(DispensesOf(r.rx_id)).or_default().push(r);
        }
        Ok(out)
    }
}

impl Loader<RecordsOf> for Loaders {
    type Value = Vec<RecordRow>;
    type Error = SharedError;

    async fn load(&self, keys: &[RecordsOf]) -> Result<HashMap<RecordsOf, Vec<RecordRow>>, SharedError> {
        let episodes: Vec<i64> = keys.iter().map(|k| k.episode).collect();
        let mut qb = Db::sql(crate::model::RECORD_COLUMNS);
        qb.push("chain_id = ").push_bind(self.db.chain_id());
        qb.push(" AND episode_id = ANY(").push_bind(episodes).push(") ORDER BY episode_id, record_index");
        let rows: Vec<RecordRow> = self.db.all(qb).await?;
        let mut out: HashMap<RecordsOf, Vec<RecordRow>> = HashMap::new();
        for key in keys {
            let list = rows
                .iter()
                .filter(|r| r.episode_id == key.episode && (key.include_hidden || !r.hidden))
                .cloned()
                .collect();
            out.insert(*key, list);
        }
        Ok(out)
    }
}

impl Loader<AsOfKey> for Loaders {
    type Value = AsOf;
    type Error = SharedError;

    async fn load(&self, _keys: &[AsOfKey]) -> Result<HashMap<AsOfKey, AsOf>, SharedError> {
        let time: Option<DateTime<Utc>> = self.db.scalar_for_chain(&format!("SELECT {AS_OF_SQL}")).await?;
        // Before the first checkpoint there is nothing to be "as of": the server's clock stands in.
        let as_of = AsOf { time: time.unwrap_or_else(Utc::now) };
        Ok(HashMap::from([(AsOfKey, as_of)]))
    }
}
