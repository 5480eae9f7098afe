//! `verifyPrescription`: whether a pharmacy may dispense a prescription now, every reason it may not, and the
//! proof of the content hash against the id — one statement, its `asOf` and credentials cached per version
//! of the index.

use crate::as_of::{self, as_of};
use crate::cache::{CredentialNow, CredentialStep, Credentials, Version};
use crate::db::Db;
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::model::{
    as_of_sql, prescription_fields, FailureReason, PrescriptionContentInput, PrescriptionRow, Verification,
    VerificationFailure,
};
use crate::scalars::{Address, Bytes32};
use crate::schema::{state, State};
use alloy::primitives::{Address as EthAddress, B256};
use async_graphql::Context;
use chrono::{DateTime, Utc};
use medledger_core::{
    bindings::IPrescriptions::RxTerms,
    dispense::{self, ContentCheck, Credential, OpenFill},
    eip712::{domain, prescription_id},
    schedule,
};
use std::sync::Arc;

/// What `verifyPrescription` reads: the prescription, the checkpoint (the index's version), and, when
/// `fresh`, the `asOf` time and the credentials in the same snapshot.
#[derive(sqlx::FromRow)]
struct VerifyRow {
    #[sqlx(flatten)]
    rx: PrescriptionRow,
    cp_number: Option<i64>,
    cp_hash: Option<Vec<u8>>,
    /// The address of the contract that emitted `PrescriptionIssued`.
    contract: Option<Address>,
    open_dispensed: Option<i64>,
    open_opened_at: Option<DateTime<Utc>>,
    /// Whether the columns below were read (else they are `NULL`).
    fresh: Option<bool>,
    as_of_time: Option<DateTime<Utc>>,
    prescriber_kind: Option<String>,
    prescriber_status: Option<String>,
    prescriber_expires_at: Option<DateTime<Utc>>,
    prescriber_updated_block: Option<i64>,
    prescriber_schedules: Option<i16>,
    pharmacy_kind: Option<String>,
    pharmacy_status: Option<String>,
    pharmacy_expires_at: Option<DateTime<Utc>>,
    pharmacy_updated_block: Option<i64>,
    pharmacy_schedules: Option<i16>,
    history_block: Option<Vec<i64>>,
    history_status: Option<Vec<Option<String>>>,
    history_expires_at: Option<Vec<Option<DateTime<Utc>>>>,
}

impl VerifyRow {
    fn version(&self) -> Option<Version> {
        Version::of(self.cp_number, self.cp_hash.as_ref())
    }

    fn credentials(&self) -> Credentials {
        let now = |kind: &Option<String>,
                   status: &Option<String>,
                   expires_at,
                   updated_block,
                   schedules: Option<i16>| {
            Some(CredentialNow {
                credential: Credential {
                    kind: kind.clone()?,
                    status: status.clone()?,
                    expires_at: expires_at?,
                    // The registry's uint8 bit set; a value out of range holds no schedule (fails closed).
                    schedules: u8::try_from(schedules?).unwrap_or(0),
                },
                updated_block: updated_block?,
            })
        };
        let history = match (&self.history_block, &self.history_status, &self.history_expires_at) {
            (Some(blocks), Some(statuses), Some(expiries)) => blocks
                .iter()
                .zip(statuses)
                .zip(expiries)
                .map(|((&block_number, status), &expires_at)| CredentialStep {
                    block_number,
                    status: status.clone(),
                    expires_at,
                })
                .collect(),
            _ => Arc::from([]),
        };
        Credentials {
            prescriber: now(
                &self.prescriber_kind,
                &self.prescriber_status,
                self.prescriber_expires_at,
                self.prescriber_updated_block,
                self.prescriber_schedules,
            ),
            pharmacy: now(
                &self.pharmacy_kind,
                &self.pharmacy_status,
                self.pharmacy_expires_at,
                self.pharmacy_updated_block,
                self.pharmacy_schedules,
            ),
            history,
        }
    }
}

/// `$1` chain, `$2` rx id, `$3` pharmacy, `$4` whether to read `asOf` and the credentials whatever the
/// version, `$5`/`$6` the block number and hash of the version the cache holds (or `NULL`): a
/// [`VerifyRow`], `fresh` when `$4` or the checkpoint is another version; the prescriber's credential
/// history in chain order, as arrays. The credential lookups are `LIMIT 1` laterals, so PostgreSQL skips
/// them when not `fresh` and probes instead of hashing the table when it is small.
const VERIFY_SQL: &str = concat!(
    "SELECT ",
    prescription_fields!(),
    ", cp.block_number AS cp_number, cp.block_hash AS cp_hash, \
     (SELECT address FROM events e WHERE e.chain_id = $1 AND e.rx_id = $2 \
       AND e.event_name = 'PrescriptionIssued' ORDER BY e.block_number, e.log_index LIMIT 1) AS contract, \
     o.open_dispensed, o.open_opened_at, x.fresh, CASE WHEN x.fresh THEN ",
    as_of_sql!(),
    " END AS as_of_time, pc.kind AS prescriber_kind, pc.status AS prescriber_status, \
     pc.expires_at AS prescriber_expires_at, pc.updated_block AS prescriber_updated_block, \
     pc.schedules AS prescriber_schedules, \
     ph.kind AS pharmacy_kind, ph.status AS pharmacy_status, ph.expires_at AS pharmacy_expires_at, \
     ph.updated_block AS pharmacy_updated_block, ph.schedules AS pharmacy_schedules, \
     hs.history_block, hs.history_status, hs.history_expires_at \
     FROM prescriptions p \
     LEFT JOIN checkpoints cp ON cp.chain_id = $1 \
     CROSS JOIN LATERAL (SELECT $4::bool OR cp.block_number IS DISTINCT FROM $5::int8 \
       OR cp.block_hash IS DISTINCT FROM $6::bytea AS fresh) x \
     LEFT JOIN LATERAL (SELECT max(d.fill_dispensed) AS open_dispensed, min(d.block_time) AS open_opened_at \
       FROM dispenses d WHERE d.chain_id = $1 AND d.rx_id = $2 AND d.fill_number = p.fills_used) o ON true \
     LEFT JOIN LATERAL (SELECT kind, status, expires_at, updated_block, schedules FROM credentials \
       WHERE chain_id = $1 AND account = p.prescriber AND x.fresh LIMIT 1) pc ON true \
     LEFT JOIN LATERAL (SELECT kind, status, expires_at, updated_block, schedules FROM credentials \
       WHERE chain_id = $1 AND account = $3 AND x.fresh LIMIT 1) ph ON true \
     LEFT JOIN LATERAL (SELECT array_agg(h.block_number ORDER BY h.block_number, h.log_index) AS history_block, \
       array_agg(h.status ORDER BY h.block_number, h.log_index) AS history_status, \
       array_agg(h.expires_at ORDER BY h.block_number, h.log_index) AS history_expires_at \
       FROM credential_history h WHERE h.chain_id = $1 AND h.account = p.prescriber AND x.fresh) hs ON true \
     WHERE p.chain_id = $1 AND p.rx_id = $2"
);

/// The prescriber's status and expiry at the issuing block: the last of each its history set by then; with
/// no history, the current row when it has not changed since.
fn at_issue<'a>(rx: &PrescriptionRow, credentials: &'a Credentials) -> Option<(&'a str, DateTime<Utc>)> {
    let by_then = || credentials.history.iter().rev().filter(|h| h.block_number <= rx.issued_block);
    match (by_then().find_map(|h| h.status.as_deref()), by_then().find_map(|h| h.expires_at)) {
        (Some(status), Some(expires)) => Some((status, expires)),
        _ => match &credentials.prescriber {
            Some(c) if c.updated_block <= rx.issued_block => {
                Some((c.credential.status.as_str(), c.credential.expires_at))
            }
            _ => None,
        },
    }
}

/// Runs [`VERIFY_SQL`].
async fn verify_row(
    db: &Db,
    id: Bytes32,
    pharmacy: Address,
    force: bool,
    cached: Option<&Version>,
) -> GqlResult<Option<VerifyRow>> {
    db.count_statement();
    let mut lease = db.lease().await.gql()?;
    let row = sqlx::query_as(VERIFY_SQL)
        .bind(db.chain_id())
        .bind(id)
        .bind(pharmacy)
        .bind(force)
        .bind(cached.map(Version::number))
        .bind(cached.map(Version::hash))
        .fetch_optional(lease.conn())
        .await;
    lease.settle(row).gql()
}

/// The prescription's row and what verification needs besides, in one statement: it reads `asOf` and the
/// credentials too unless the cache holds them for its snapshot's version (a second statement reads them
/// only when the cache moved to another version meanwhile), and they are cached. `None`: no such
/// prescription.
async fn verify_inputs(
    st: &State,
    id: Bytes32,
    pharmacy: Address,
) -> GqlResult<Option<(VerifyRow, DateTime<Utc>, Credentials)>> {
    let cache = &st.cache;
    let latest = cache.latest();
    let force = match (&latest, cache.prescriber_of(&id.0)) {
        (Some(version), Some(prescriber)) => !cache.holds(version, &prescriber, &pharmacy.0),
        _ => true,
    };
    let Some(mut row) = verify_row(&st.db, id, pharmacy, force, latest.as_ref()).await? else {
        return Ok(None);
    };
    cache.remember_prescriber(id.0, &row.rx.prescriber.0);
    if row.fresh != Some(true) {
        let cached = row.version().and_then(|v| cache.credentials(&v, &row.rx.prescriber.0, &pharmacy.0));
        if let Some((as_of, credentials)) = cached {
            return Ok(Some((row, as_of, credentials)));
        }
        let Some(again) = verify_row(&st.db, id, pharmacy, true, None).await? else { return Ok(None) };
        row = again;
    }
    let credentials = row.credentials();
    let Some(as_of) = row.as_of_time else {
        // Nothing indexed to be "as of": the server's clock stands in (see `as_of`); nothing is cached.
        return Ok(Some((row, Utc::now(), credentials)));
    };
    if let Some(version) = row.version() {
        cache.remember(version, as_of, &row.rx.prescriber.0, &pharmacy.0, &credentials);
    }
    Ok(Some((row, as_of, credentials)))
}

fn secs_u32(t: DateTime<Utc>, what: &str) -> Result<u32, ApiError> {
    u32::try_from(t.timestamp()).map_err(|_| ApiError::Corrupt(format!("{what} out of uint32 range")))
}

fn terms_of(rx: &PrescriptionRow, content_hash: [u8; 32]) -> Result<RxTerms, ApiError> {
    Ok(RxTerms {
        patient: rx.patient.0.into(),
        prescriber: rx.prescriber.0.into(),
        contentHash: B256::from(content_hash),
        fills: u8::try_from(rx.fills).map_err(|_| ApiError::Corrupt("fills".into()))?,
        quantityPerFill: u32::try_from(rx.quantity_per_fill)
            .map_err(|_| ApiError::Corrupt("quantity_per_fill".into()))?,
        daysSupply: u16::try_from(rx.days_supply).map_err(|_| ApiError::Corrupt("days_supply".into()))?,
        dateWritten: secs_u32(rx.date_written, "date_written")?,
        earliestFillAt: secs_u32(rx.earliest_fill_at, "earliest_fill_at")?,
        validUntil: secs_u32(rx.valid_until, "valid_until")?,
        minFillInterval: u32::try_from(rx.min_fill_interval_secs)
            .map_err(|_| ApiError::Corrupt("min_fill_interval_secs".into()))?,
        schedule: u8::try_from(rx.schedule).map_err(|_| ApiError::Corrupt("schedule".into()))?,
        pharmacy: rx.issued_pharmacy.map_or(EthAddress::ZERO, |p| p.0.into()),
        nonce: rx.nonce.0,
        longTermCare: rx.long_term_care,
        deadline: secs_u32(rx.deadline, "deadline")?,
    })
}

/// The content hash to prove: `contentHash`, or the struct hash of `content`; both must agree when both are
/// given.
fn presented_hash(
    content_hash: Option<Bytes32>,
    content: Option<&PrescriptionContentInput>,
) -> Result<Bytes32, ApiError> {
    let hashed = content.map(|c| Bytes32(c.content().content_hash().0));
    match (content_hash, hashed) {
        (Some(given), Some(hashed)) if given != hashed => Err(ApiError::BadInput(format!(
            "`content` hashes to {hashed}, not to the `contentHash` {given} given with it"
        ))),
        (Some(h), _) | (None, Some(h)) => Ok(h),
        (None, None) => Err(ApiError::BadInput(
            "give `contentHash` or `content` (the patient copy's content) to prove the prescription".into(),
        )),
    }
}

pub(super) async fn verify(
    ctx: &Context<'_>,
    id: Bytes32,
    content_hash: Option<Bytes32>,
    given: Option<&PrescriptionContentInput>,
    pharmacy: Address,
    at: Option<DateTime<Utc>>,
) -> GqlResult<Verification> {
    let content_hash = presented_hash(content_hash, given).gql()?;
    let st = state(ctx);
    let fail = |reason, message: String| VerificationFailure { reason, message };
    let Some((row, as_of, credentials)) = verify_inputs(st, id, pharmacy).await? else {
        let as_of = as_of(ctx).await?.time;
        return Ok(Verification {
            id,
            valid: false,
            failures: vec![fail(FailureReason::UnknownPrescription, format!("no prescription has id {id}"))],
            at: at.unwrap_or(as_of),
            as_of,
            content_hash_proven: false,
            quantity_available: 0,
            schedule_table: None,
            prescription: None,
        });
    };
    as_of::prefill(ctx, Some(as_of));
    let at = at.unwrap_or(as_of);
    let rx = &row.rx;
    let open = OpenFill { dispensed: row.open_dispensed.unwrap_or(0), opened_at: row.open_opened_at };

    // The content hash: recompute the EIP-712 digest with the given content hash.
    let contract = row.contract.map(|c| c.0).or(st.config.prescriptions_address);
    let content = match contract {
        Some(contract) => {
            let chain = u64::try_from(st.db.chain_id())
                .map_err(|_| ApiError::Corrupt("chain id".into()).into_graphql())?;
            let terms = terms_of(rx, content_hash.0).gql()?;
            ContentCheck::Digest(prescription_id(&domain(chain, contract.into()), &terms) == id.0)
        }
        None => ContentCheck::Stored(rx.content_hash == content_hash),
    };
    let declared =
        u8::try_from(rx.schedule).map_err(|_| ApiError::Corrupt("schedule".into()).into_graphql())?;
    let schedule = given.map(|c| (c.rxnorm_code.as_str(), declared));
    let checks = dispense::Verify {
        pharmacy: pharmacy.0.into(),
        designated: rx.pharmacy.map(|p| p.0.into()),
        pharmacy_credential: credentials.pharmacy.as_ref().map(|c| &c.credential),
        prescriber: rx.prescriber.0.into(),
        prescriber_credential: credentials.prescriber.as_ref().map(|c| &c.credential),
        prescriber_at_issue: at_issue(rx, &credentials),
        content,
        schedule,
        declared_schedule: declared,
    };
    let (state_at, failures) = dispense::verify(&rx.facts(), open, at, &checks);
    let proven = content == ContentCheck::Digest(true);
    let schedule_checked =
        schedule.is_some() && matches!(content, ContentCheck::Digest(true) | ContentCheck::Stored(true));
    let failures: Vec<VerificationFailure> = failures.into_iter().map(Into::into).collect();
    let valid = failures.is_empty();
    Ok(Verification {
        id,
        valid,
        failures,
        at,
        as_of,
        content_hash_proven: proven,
        quantity_available: if valid { state_at.quantity_available } else { 0 },
        schedule_table: schedule_checked.then(|| schedule::table_version().to_owned()),
        prescription: Some(row.rx),
    })
}
