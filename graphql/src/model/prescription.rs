//! Prescriptions, their fills and dispenses, time-dependent status and verification.

use super::{addr, b32, opt_addr, CredentialRow};
use crate::error::{ApiError, GqlResult, ResultExt};
use crate::loaders::{CredentialOf, DispensesOf};
use crate::scalars::{Address, BigInt, Bytes32};
use crate::schema::{as_of, state};
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use medledger_core::dispense::{self, OpenFill};
use sqlx::{Postgres, QueryBuilder};

/// The fields of a [`PrescriptionRow`] (numerics as text).
macro_rules! prescription_fields {
    () => {
        "rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy, fills, quantity_per_fill, \
         earliest_fill_at, valid_until, min_fill_interval_secs, schedule, nonce::text AS nonce, relayer, relayed, \
         issued_block, issued_at, issued_tx, fills_used, quantity_dispensed::text AS quantity_dispensed, \
         dispense_count, last_dispensed_at, last_dispense_pharmacy, cancelled, cancel_reason, cancelled_at, \
         days_supply, date_written, long_term_care, deadline, transferred, cancelled_by, short_supply_until"
    };
}
pub(crate) use prescription_fields;

/// The columns of `prescriptions` (numerics as text).
pub(crate) const PRESCRIPTION_COLUMNS: &str =
    concat!("SELECT ", prescription_fields!(), " FROM prescriptions WHERE ");

/// The columns of `dispenses` (numerics as text).
pub(crate) const DISPENSE_COLUMNS: &str = "SELECT block_number, log_index, rx_id, pharmacy, fill_number, \
    quantity, fill_dispensed, total_dispensed::text AS total_dispensed, dispense_hash, block_time, tx_hash \
    FROM dispenses WHERE ";

/// A row of `prescriptions`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct PrescriptionRow {
    pub(crate) rx_id: Vec<u8>,
    pub(crate) patient: Vec<u8>,
    pub(crate) prescriber: Vec<u8>,
    pub(crate) content_hash: Vec<u8>,
    pub(crate) issued_pharmacy: Option<Vec<u8>>,
    pub(crate) pharmacy: Option<Vec<u8>>,
    pub(crate) fills: i16,
    pub(crate) quantity_per_fill: i64,
    pub(crate) earliest_fill_at: DateTime<Utc>,
    pub(crate) valid_until: DateTime<Utc>,
    pub(crate) min_fill_interval_secs: i64,
    pub(crate) schedule: i16,
    pub(crate) nonce: String,
    pub(crate) relayer: Vec<u8>,
    pub(crate) relayed: bool,
    pub(crate) issued_block: i64,
    pub(crate) issued_at: DateTime<Utc>,
    pub(crate) issued_tx: Vec<u8>,
    pub(crate) fills_used: i16,
    pub(crate) quantity_dispensed: String,
    pub(crate) dispense_count: i64,
    pub(crate) last_dispensed_at: Option<DateTime<Utc>>,
    pub(crate) last_dispense_pharmacy: Option<Vec<u8>>,
    pub(crate) cancelled: bool,
    pub(crate) cancel_reason: Option<i32>,
    pub(crate) cancelled_at: Option<DateTime<Utc>>,
    pub(crate) days_supply: i32,
    pub(crate) date_written: DateTime<Utc>,
    pub(crate) long_term_care: bool,
    pub(crate) deadline: DateTime<Utc>,
    pub(crate) transferred: bool,
    pub(crate) cancelled_by: Option<String>,
    pub(crate) short_supply_until: Option<DateTime<Utc>>,
    /// The dispenses, when read along with the row (root lookups); else they are batch-loaded.
    #[sqlx(skip)]
    pub(crate) prefetched: Option<std::sync::Arc<Vec<DispenseRow>>>,
}

/// A row of `dispenses`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DispenseRow {
    pub(crate) block_number: i64,
    pub(crate) log_index: i32,
    pub(crate) rx_id: Vec<u8>,
    pub(crate) pharmacy: Vec<u8>,
    pub(crate) fill_number: i16,
    pub(crate) quantity: i64,
    pub(crate) fill_dispensed: i64,
    pub(crate) total_dispensed: String,
    pub(crate) dispense_hash: Vec<u8>,
    pub(crate) block_time: DateTime<Utc>,
    pub(crate) tx_hash: Vec<u8>,
}

/// Where a prescription stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "dispense::Status")]
pub(crate) enum PrescriptionStatus {
    /// Cancelled by the prescriber.
    Cancelled,
    /// Every fill has been dispensed in full.
    Completed,
    /// Past `validUntil` with quantity left.
    Expired,
    /// A dispense is possible now (an open fill can be completed or a new fill opened).
    Fillable,
    /// Not yet fillable: before `earliestFillAt` or the minimum interval since the last fill's start.
    Waiting,
}

/// Why a prescription may not be dispensed (as the Prescriptions contract would refuse it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(remote = "dispense::Refusal")]
pub(crate) enum FailureReason {
    /// No prescription has this id.
    UnknownPrescription,
    /// The prescriber cancelled it.
    Cancelled,
    /// Past `validUntil`.
    Expired,
    /// Before `earliestFillAt` (no fill yet).
    NotYetFillable,
    /// The last fill started less than `minFillIntervalSecs` ago.
    FillIntervalNotElapsed,
    /// Every fill has been dispensed in full.
    NothingLeft,
    /// Another pharmacy is designated.
    OtherPharmacyDesignated,
    /// The pharmacy's credential is not active (or not a pharmacy credential).
    PharmacyCredentialNotActive,
    /// The prescriber's credential was not active when the prescription was issued.
    PrescriberCredentialNotActiveAtIssue,
    /// The prescriber's credential is not active now.
    PrescriberCredentialNotActiveNow,
    /// The content hash does not match the prescription (the EIP-712 digest recomputed from the stored terms
    /// and the given content hash is not the id).
    ContentHashMismatch,
}

/// One reason a verification fails, with a human-readable explanation.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct VerificationFailure {
    /// The machine-readable reason.
    pub(crate) reason: FailureReason,
    /// What exactly is wrong.
    pub(crate) message: String,
}

impl From<dispense::Failure> for VerificationFailure {
    fn from(f: dispense::Failure) -> Self {
        Self { reason: f.reason.into(), message: f.message }
    }
}

/// The time-dependent state of a prescription at one moment.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct PrescriptionState {
    /// The moment evaluated (the latest indexed block's time unless another was asked for).
    pub(crate) as_of: DateTime<Utc>,
    /// The status at that moment.
    pub(crate) status: PrescriptionStatus,
    /// Whether a dispense is possible at that moment (pharmacy and credentials aside).
    pub(crate) fillable: bool,
    /// When the next fill may start (null while a fill is open and incomplete, or no fills are left).
    pub(crate) next_fill_at: Option<DateTime<Utc>>,
    /// Units that may be dispensed at that moment (the rest of the open fill, or a whole new fill).
    pub(crate) quantity_available: i64,
    /// Why a dispense is not possible at that moment (empty when fillable).
    pub(crate) reasons: Vec<VerificationFailure>,
}

impl From<dispense::State> for PrescriptionState {
    fn from(s: dispense::State) -> Self {
        Self {
            as_of: s.as_of,
            status: s.status.into(),
            fillable: s.fillable,
            next_fill_at: s.next_fill_at,
            quantity_available: s.quantity_available,
            reasons: s.reasons.into_iter().map(Into::into).collect(),
        }
    }
}

/// One fill: the dispenses between its opening and its completion.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct Fill {
    /// The fill's number, from 1.
    pub(crate) number: i32,
    /// When the fill was opened (its first dispense).
    pub(crate) opened_at: DateTime<Utc>,
    /// Units dispensed in this fill.
    pub(crate) dispensed: i64,
    /// Units left in this fill.
    pub(crate) remaining: i64,
    /// Whether the fill is complete.
    pub(crate) complete: bool,
    /// Its dispenses, oldest first.
    pub(crate) dispenses: Vec<DispenseRow>,
}

/// The open fill among a prescription's `dispenses` (in order).
pub(crate) fn open_fill(rx: &PrescriptionRow, dispenses: &[DispenseRow]) -> OpenFill {
    let open = || dispenses.iter().filter(|d| d.fill_number == rx.fills_used);
    OpenFill {
        dispensed: open().map(|d| d.fill_dispensed).max().unwrap_or(0),
        opened_at: open().next().map(|d| d.block_time),
    }
}

impl PrescriptionRow {
    /// What the dispense rule needs of the row.
    pub(crate) fn facts(&self) -> dispense::Rx {
        dispense::Rx {
            fills: self.fills,
            fills_used: self.fills_used,
            quantity_per_fill: self.quantity_per_fill,
            earliest_fill_at: self.earliest_fill_at,
            valid_until: self.short_supply_until.map_or(self.valid_until, |d| d.min(self.valid_until)),
            min_fill_interval_secs: self.min_fill_interval_secs,
            issued_at: self.issued_at,
            last_dispensed_at: self.last_dispensed_at,
            cancelled: self.cancelled,
        }
    }
}

impl PrescriptionRow {
    /// The id as `Bytes32`.
    pub(crate) fn key(&self) -> GqlResult<Bytes32> {
        b32(&self.rx_id)
    }

    async fn dispense_rows(&self, ctx: &Context<'_>) -> GqlResult<Vec<DispenseRow>> {
        if let Some(rows) = &self.prefetched {
            return Ok(rows.as_ref().clone());
        }
        let key = DispensesOf(self.key()?);
        Ok(state(ctx).loader.load_one(key).await.map_err(|e| e.clone_gql())?.unwrap_or_default())
    }

    fn authorized(&self) -> i64 {
        i64::from(self.fills) * self.quantity_per_fill
    }

    fn dispensed(&self) -> GqlResult<BigInt> {
        self.quantity_dispensed
            .parse::<BigInt>()
            .map_err(|_| ApiError::Corrupt("quantity_dispensed".into()))
            .gql()
    }
}

/// A prescription: its signed terms, where it stands, its fills and dispenses.
#[Object(name = "Prescription")]
impl PrescriptionRow {
    /// The rxId: the EIP-712 digest of the signed terms.
    async fn id(&self) -> GqlResult<Bytes32> {
        self.key()
    }
    /// The patient.
    async fn patient(&self) -> GqlResult<Address> {
        addr(&self.patient)
    }
    /// The issuing prescriber.
    async fn prescriber(&self) -> GqlResult<Address> {
        addr(&self.prescriber)
    }
    /// EIP-712 struct hash of the off-chain clinical content.
    async fn content_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.content_hash)
    }
    /// The pharmacy designated at issue (null = any pharmacy).
    async fn issued_pharmacy(&self) -> GqlResult<Option<Address>> {
        opt_addr(self.issued_pharmacy.as_ref())
    }
    /// The pharmacy designated now (null = any pharmacy).
    async fn pharmacy(&self) -> GqlResult<Option<Address>> {
        opt_addr(self.pharmacy.as_ref())
    }
    /// Fills authorised (1 + refills).
    async fn fills(&self) -> i32 {
        self.fills.into()
    }
    /// Fills started so far.
    async fn fills_used(&self) -> i32 {
        self.fills_used.into()
    }
    /// Units per fill.
    async fn quantity_per_fill(&self) -> i64 {
        self.quantity_per_fill
    }
    /// `fills × quantityPerFill`.
    async fn total_authorized(&self) -> i64 {
        self.authorized()
    }
    /// Units dispensed so far.
    async fn quantity_dispensed(&self) -> GqlResult<BigInt> {
        self.dispensed()
    }
    /// Units left over all fills (`totalAuthorized - quantityDispensed`).
    async fn remaining_quantity(&self) -> GqlResult<i64> {
        let dispensed = i64::try_from(self.dispensed()?.0).unwrap_or(i64::MAX);
        Ok((self.authorized() - dispensed).max(0))
    }
    /// The first fill may start at or after this time.
    async fn earliest_fill_at(&self) -> DateTime<Utc> {
        self.earliest_fill_at
    }
    /// No dispense at or after this time (the signed term; see `shortSupplyUntil`).
    async fn valid_until(&self) -> DateTime<Utc> {
        self.valid_until
    }
    /// When the prescriber wrote and signed it: every validity limit counts from it.
    async fn date_written(&self) -> DateTime<Utc> {
        self.date_written
    }
    /// Days one fill lasts (0 for a non-controlled drug that did not state it).
    async fn days_supply(&self) -> i32 {
        self.days_supply
    }
    /// Schedule II for a long-term-care or terminally ill patient: partial fills may run 60 days
    /// (21 CFR 1306.13(b)).
    async fn long_term_care(&self) -> bool {
        self.long_term_care
    }
    /// The signed terms had to be issued on chain before this time.
    async fn deadline(&self) -> DateTime<Utc> {
        self.deadline
    }
    /// Whether the controlled substance's one transfer between pharmacies was used (21 CFR 1306.08(e),
    /// 1306.25).
    async fn transferred(&self) -> bool {
        self.transferred
    }
    /// After a schedule II short-supply partial fill: the balance must be dispensed before this time
    /// (21 CFR 1306.13(a)); null otherwise.
    async fn short_supply_until(&self) -> Option<DateTime<Utc>> {
        self.short_supply_until
    }
    /// Who cancelled it: `prescriber`, `patient` or `registrar` (null while not cancelled).
    async fn cancelled_by(&self) -> Option<&str> {
        self.cancelled_by.as_deref()
    }
    /// Seconds between the start of one fill and the start of the next.
    async fn min_fill_interval_secs(&self) -> i64 {
        self.min_fill_interval_secs
    }
    /// Controlled-substance schedule: 0 (none) or 2–5.
    async fn schedule(&self) -> i32 {
        self.schedule.into()
    }
    /// The prescriber's nonce.
    async fn nonce(&self) -> GqlResult<BigInt> {
        self.nonce.parse::<BigInt>().map_err(|_| ApiError::Corrupt("nonce".into())).gql()
    }
    /// Who submitted the issuing transaction.
    async fn relayer(&self) -> GqlResult<Address> {
        addr(&self.relayer)
    }
    /// Whether it was issued by a relayer with the prescriber's signature.
    async fn relayed(&self) -> bool {
        self.relayed
    }
    /// The block it was issued in.
    async fn issued_block(&self) -> i64 {
        self.issued_block
    }
    /// When it was issued.
    async fn issued_at(&self) -> DateTime<Utc> {
        self.issued_at
    }
    /// The issuing transaction.
    async fn issued_tx(&self) -> GqlResult<Bytes32> {
        b32(&self.issued_tx)
    }
    /// How many dispenses were recorded.
    async fn dispense_count(&self) -> i64 {
        self.dispense_count
    }
    /// When it was last dispensed.
    async fn last_dispensed_at(&self) -> Option<DateTime<Utc>> {
        self.last_dispensed_at
    }
    /// The pharmacy of the last dispense.
    async fn last_dispense_pharmacy(&self) -> GqlResult<Option<Address>> {
        opt_addr(self.last_dispense_pharmacy.as_ref())
    }
    /// Whether the prescriber cancelled it.
    async fn cancelled(&self) -> bool {
        self.cancelled
    }
    /// The cancellation's reason code.
    async fn cancel_reason(&self) -> Option<i32> {
        self.cancel_reason
    }
    /// When it was cancelled.
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.cancelled_at
    }
    /// The status as of the latest indexed block's time.
    async fn status(&self, ctx: &Context<'_>) -> GqlResult<PrescriptionStatus> {
        let (at, dispenses) = futures::try_join!(as_of(ctx), self.dispense_rows(ctx))?;
        Ok(dispense::evaluate(&self.facts(), open_fill(self, &dispenses), at.time).status.into())
    }
    /// The full time-dependent state at `at` (default: the latest indexed block's time).
    async fn state(&self, ctx: &Context<'_>, at: Option<DateTime<Utc>>) -> GqlResult<PrescriptionState> {
        let (as_of, dispenses) = futures::try_join!(as_of(ctx), self.dispense_rows(ctx))?;
        Ok(dispense::evaluate(&self.facts(), open_fill(self, &dispenses), at.unwrap_or(as_of.time)).into())
    }
    /// Every dispense, oldest first.
    async fn dispenses(&self, ctx: &Context<'_>) -> GqlResult<Vec<DispenseRow>> {
        self.dispense_rows(ctx).await
    }
    /// The fills started so far with their dispenses.
    async fn fill_details(&self, ctx: &Context<'_>) -> GqlResult<Vec<Fill>> {
        let mut fills: Vec<Fill> = Vec::new();
        for d in self.dispense_rows(ctx).await? {
            let number = i32::from(d.fill_number);
            match fills.last_mut() {
                Some(f) if f.number == number => {
                    f.dispensed = f.dispensed.max(d.fill_dispensed);
                    f.dispenses.push(d);
                }
                _ => fills.push(Fill {
                    number,
                    opened_at: d.block_time,
                    dispensed: d.fill_dispensed,
                    remaining: 0,
                    complete: false,
                    dispenses: vec![d],
                }),
            }
        }
        for f in &mut fills {
            f.remaining = (self.quantity_per_fill - f.dispensed).max(0);
            f.complete = f.remaining == 0;
        }
        Ok(fills)
    }
    /// The prescriber's credential (current state).
    async fn prescriber_credential(&self, ctx: &Context<'_>) -> GqlResult<Option<CredentialRow>> {
        let key = CredentialOf(addr(&self.prescriber)?);
        state(ctx).loader.load_one(key).await.map_err(|e| e.clone_gql())
    }
}

/// A dispense recorded by a pharmacy.
#[Object(name = "Dispense")]
impl DispenseRow {
    /// The prescription.
    async fn rx_id(&self) -> GqlResult<Bytes32> {
        b32(&self.rx_id)
    }
    /// The dispensing pharmacy.
    async fn pharmacy(&self) -> GqlResult<Address> {
        addr(&self.pharmacy)
    }
    /// The fill it belongs to, from 1.
    async fn fill_number(&self) -> i32 {
        self.fill_number.into()
    }
    /// Units dispensed.
    async fn quantity(&self) -> i64 {
        self.quantity
    }
    /// Units dispensed in that fill so far, this one included.
    async fn fill_dispensed(&self) -> i64 {
        self.fill_dispensed
    }
    /// Units dispensed over the whole prescription so far, this one included.
    async fn total_dispensed(&self) -> GqlResult<BigInt> {
        self.total_dispensed.parse::<BigInt>().map_err(|_| ApiError::Corrupt("total_dispensed".into())).gql()
    }
    /// Salted hash of the pharmacy's dispensing record.
    async fn dispense_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.dispense_hash)
    }
    /// The block.
    async fn block_number(&self) -> i64 {
        self.block_number
    }
    /// The log index in the block.
    async fn log_index(&self) -> i32 {
        self.log_index
    }
    /// The block's time.
    async fn timestamp(&self) -> DateTime<Utc> {
        self.block_time
    }
    /// The transaction.
    async fn tx_hash(&self) -> GqlResult<Bytes32> {
        b32(&self.tx_hash)
    }
    /// The prescription dispensed against.
    async fn prescription(&self, ctx: &Context<'_>) -> GqlResult<Option<PrescriptionRow>> {
        state(ctx).loader.load_one(b32(&self.rx_id)?).await.map_err(|e| e.clone_gql())
    }
}

/// The outcome of `verifyPrescription`.
#[derive(Debug, Clone, SimpleObject)]
pub(crate) struct Verification {
    /// The prescription asked about.
    pub(crate) id: Bytes32,
    /// `true` when nothing prevents the pharmacy from dispensing now.
    pub(crate) valid: bool,
    /// Every reason it fails (empty when valid).
    pub(crate) failures: Vec<VerificationFailure>,
    /// The moment evaluated (`at`, default the latest indexed block's time).
    pub(crate) at: DateTime<Utc>,
    /// The latest indexed block's time: the prescription's state is as of this moment.
    pub(crate) as_of: DateTime<Utc>,
    /// Whether the content hash was proven by recomputing the EIP-712 digest from the stored terms.
    pub(crate) content_hash_proven: bool,
    /// Units the pharmacy may dispense now (0 when invalid).
    pub(crate) quantity_available: i64,
    /// The prescription, when known.
    pub(crate) prescription: Option<PrescriptionRow>,
}

/// Which prescriptions to list.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct PrescriptionFilter {
    /// Only open ones: not cancelled, not past `validUntil` (as of the latest indexed block) and with
    /// quantity left.
    pub(crate) open_only: Option<bool>,
    /// Only this controlled-substance schedule.
    pub(crate) schedule: Option<i32>,
    /// Issued at or after this time.
    pub(crate) issued_from: Option<DateTime<Utc>>,
    /// Issued at or before this time.
    pub(crate) issued_to: Option<DateTime<Utc>>,
}

impl PrescriptionFilter {
    /// Pushes the conditions; `as_of` decides expiry.
    pub(crate) fn push(&self, qb: &mut QueryBuilder<'static, Postgres>, as_of: DateTime<Utc>) {
        if self.open_only.unwrap_or(false) {
            qb.push(" AND NOT cancelled AND valid_until >= ").push_bind(as_of);
            qb.push(" AND quantity_dispensed < fills::numeric * quantity_per_fill");
        }
        if let Some(s) = self.schedule {
            qb.push(" AND schedule = ").push_bind(s as i16);
        }
        if let Some(t) = self.issued_from {
            qb.push(" AND issued_at >= ").push_bind(t);
        }
        if let Some(t) = self.issued_to {
            qb.push(" AND issued_at <= ").push_bind(t);
        }
    }
}
