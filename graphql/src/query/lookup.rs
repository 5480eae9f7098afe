//! `prescription(id)`: one prescription with its dispenses and the request's `asOf` in one statement.

use crate::as_of;
use crate::cache::Version;
use crate::db::Db;
use crate::error::{GqlResult, ResultExt};
use crate::model::{as_of_sql, prescription_fields, DispenseRow, PrescriptionRow};
use crate::scalars::{Address, BigInt, Bytes32};
use crate::schema::state;
use async_graphql::Context;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A prescription with the latest indexed block's time and one of its dispenses (none: all `None`).
#[derive(sqlx::FromRow)]
struct RxDispenseRow {
    #[sqlx(flatten)]
    rx: PrescriptionRow,
    cp_number: Option<i64>,
    cp_hash: Option<Vec<u8>>,
    as_of_time: Option<DateTime<Utc>>,
    d_block_number: Option<i64>,
    d_log_index: Option<i32>,
    d_pharmacy: Option<Address>,
    d_fill_number: Option<i16>,
    d_quantity: Option<i64>,
    d_fill_dispensed: Option<i64>,
    d_total_dispensed: Option<BigInt>,
    d_dispense_hash: Option<Bytes32>,
    d_block_time: Option<DateTime<Utc>>,
    d_tx_hash: Option<Bytes32>,
}

impl RxDispenseRow {
    /// The dispense of this row, if it has one.
    fn dispense(&self) -> Option<DispenseRow> {
        Some(DispenseRow {
            block_number: self.d_block_number?,
            log_index: self.d_log_index?,
            rx_id: self.rx.rx_id,
            patient: self.rx.patient,
            pharmacy: self.d_pharmacy?,
            fill_number: self.d_fill_number?,
            quantity: self.d_quantity?,
            fill_dispensed: self.d_fill_dispensed?,
            total_dispensed: self.d_total_dispensed?,
            dispense_hash: self.d_dispense_hash?,
            block_time: self.d_block_time?,
            tx_hash: self.d_tx_hash?,
        })
    }
}

/// `$1` chain, `$2` rx id, `$3`/`$4` the block number and hash of the version whose `asOf` the cache holds
/// (or `NULL`): the prescription, the checkpoint (the index's version), the request's `asOf` when the
/// checkpoint is another version (else `NULL`), and its dispenses oldest first, one row per dispense (one
/// row with no dispense when it has none).
const RX_BY_ID_SQL: &str = concat!(
    "SELECT ",
    prescription_fields!(),
    ", cp.block_number AS cp_number, cp.block_hash AS cp_hash, \
     CASE WHEN cp.block_number IS DISTINCT FROM $3::int8 OR cp.block_hash IS DISTINCT FROM $4::bytea THEN ",
    as_of_sql!(),
    " END AS as_of_time, d.* FROM (SELECT * FROM prescriptions WHERE chain_id = $1 AND rx_id = $2) p \
     LEFT JOIN checkpoints cp ON cp.chain_id = $1 \
     LEFT JOIN LATERAL (SELECT block_number AS d_block_number, log_index AS d_log_index, \
       pharmacy AS d_pharmacy, fill_number AS d_fill_number, quantity AS d_quantity, \
       fill_dispensed AS d_fill_dispensed, total_dispensed::text AS d_total_dispensed, \
       dispense_hash AS d_dispense_hash, block_time AS d_block_time, tx_hash AS d_tx_hash \
       FROM dispenses WHERE chain_id = $1 AND rx_id = $2) d ON true \
     ORDER BY d.d_block_number, d.d_log_index"
);

/// The rows of [`RX_BY_ID_SQL`], `asOf` read unless the snapshot is of version `cached`.
async fn rx_rows(db: &Db, id: Bytes32, cached: Option<&Version>) -> GqlResult<Vec<RxDispenseRow>> {
    db.count_statement();
    let mut lease = db.lease().await.gql()?;
    let rows = sqlx::query_as(RX_BY_ID_SQL)
        .bind(db.chain_id())
        .bind(id)
        .bind(cached.map(Version::number))
        .bind(cached.map(Version::hash))
        .fetch_all(lease.conn())
        .await;
    lease.settle(rows).gql()
}

/// One prescription with its dispenses and the request's `asOf`, in one statement: `asOf` comes from the
/// cache when the statement's snapshot is of the version the cache holds, else from the statement (a second
/// statement reads it only when the cache moved to another version meanwhile). A root lookup gains nothing
/// from batching but its delay.
pub(super) async fn rx_by_id(ctx: &Context<'_>, id: Bytes32) -> GqlResult<Option<PrescriptionRow>> {
    let st = state(ctx);
    let mut rows = rx_rows(&st.db, id, st.cache.latest().as_ref()).await?;
    let version = rows.first().and_then(|r| Version::of(r.cp_number, r.cp_hash.as_ref()));
    let read = rows.first().and_then(|r| r.as_of_time);
    match (version, read) {
        (Some(version), Some(time)) => {
            st.cache.remember_as_of(version, time);
            as_of::prefill(ctx, Some(time));
        }
        (Some(version), None) => match st.cache.as_of(&version) {
            Some(time) => as_of::prefill(ctx, Some(time)),
            None => {
                rows = rx_rows(&st.db, id, None).await?;
                if let Some(first) = rows.first() {
                    if let (Some(v), Some(t)) =
                        (Version::of(first.cp_number, first.cp_hash.as_ref()), first.as_of_time)
                    {
                        st.cache.remember_as_of(v, t);
                    }
                    as_of::prefill(ctx, first.as_of_time);
                }
            }
        },
        // Nothing indexed yet (or no such prescription): `asOf` as for any query.
        (None, _) => {}
    }
    let mut rows = rows.into_iter();
    let Some(first) = rows.next() else { return Ok(None) };
    let dispenses: Vec<DispenseRow> =
        first.dispense().into_iter().chain(rows.filter_map(|r| r.dispense())).collect();
    Ok(Some(PrescriptionRow { prefetched: Some(Arc::new(dispenses)), ..first.rx }))
}
