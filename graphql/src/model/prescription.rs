//! Prescriptions, their fills and dispenses, time-dependent status and verification.

use super::CredentialRow;
use crate::as_of::as_of;
use crate::error::GqlResult;
use crate::loaders::{CredentialOf, DispensesOf};
use crate::scalars::{Address, BigInt, Bytes32};
use crate::schema::state;
use async_graphql::{ComplexObject, Context, Enum, InputObject, SimpleObject};
use chrono::{DateTime, Utc};
use medledger_core::dispense::{self, OpenFill};
use medledger_core::eip712::PrescriptionContent;
use sqlx::{Postgres, QueryBuilder};

/// The fields of a [`PrescriptionRow`] (numerics as text; the two derived quantities computed).
macro_rules! prescription_fields {
    () => {
        "rx_id, patient, prescriber, content_hash, issued_pharmacy, pharmacy, fills, quantity_per_fill, \
         earliest_fill_at, valid_until, min_fill_interval_secs, schedule, nonce::text AS nonce, relayer, relayed, \
         issued_block, issued_at, issued_tx, fills_used, quantity_dispensed::text AS quantity_dispensed, \
         fills::int8 * quantity_per_fill AS total_authorized, \
         greatest(fills::numeric * quantity_per_fill - quantity_dispensed, 0)::int8 AS remaining_quantity, \
         dispense_count, last_dispensed_at, last_dispense_pharmacy, cancelled, cancel_reason, cancelled_at, \
         days_supply, date_written, long_term_care, deadline, transferred, cancelled_by, short_supply_until"
    };
}
pub(crate) use prescription_fields;

/// The columns of `prescriptions` (numerics as text).
pub(crate) const PRESCRIPTION_COLUMNS: &str =
    concat!("SELECT ", prescription_fields!(), " FROM prescriptions WHERE ");

/// The columns of `dispenses` (numerics as text).
pub(crate) const DISPENSE_COLUMNS: &str =
    "SELECT block_number, log_index, rx_id, patient, pharmacy, fill_number, \
    quantity, fill_dispensed, total_dispensed::text AS total_dispensed, dispense_hash, block_time, tx_hash \
    FROM dispenses WHERE ";

/// A prescription: its signed terms, where it stands, its fills and dispenses.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Prescription", complex)]
pub(crate) struct PrescriptionRow {
    /// The rxId: the EIP-712 digest of the signed terms.
    #[graphql(name = "id")]
    pub(crate) rx_id: Bytes32,
    /// The patient.
    pub(crate) patient: Address,
    /// The issuing prescriber.
    pub(crate) prescriber: Address,
    /// EIP-712 struct hash of the off-chain clinical content.
    pub(crate) content_hash: Bytes32,
    /// The pharmacy designated at issue (null = any pharmacy).
    pub(crate) issued_pharmacy: Option<Address>,
    /// The pharmacy designated now (null = any pharmacy).
    pub(crate) pharmacy: Option<Address>,
    /// Fills authorised (1 + refills).
    pub(crate) fills: i16,
    /// Fills started so far.
    pub(crate) fills_used: i16,
    /// Units per fill.
    pub(crate) quantity_per_fill: i64,
    /// `fills × quantityPerFill`.
    pub(crate) total_authorized: i64,
    /// Units dispensed so far.
    pub(crate) quantity_dispensed: BigInt,
    /// Units left over all fills (`totalAuthorized - quantityDispensed`).
    pub(crate) remaining_quantity: i64,
    /// The first fill may start at or after this time.
    pub(crate) earliest_fill_at: DateTime<Utc>,
    /// No dispense at or after this time (the signed term; see `shortSupplyUntil`).
    pub(crate) valid_until: DateTime<Utc>,
    /// When the prescriber wrote and signed it: every validity limit counts from it.
    pub(crate) date_written: DateTime<Utc>,
    /// Days one fill lasts (0 for a non-controlled drug that did not state it).
    pub(crate) days_supply: i32,
    /// Schedule II for a long-term-care or terminally ill patient: partial fills may run 60 days
    /// (21 CFR 1306.13(b)).
    pub(crate) long_term_care: bool,
    /// The signed terms had to be issued on chain before this time.
    pub(crate) deadline: DateTime<Utc>,
    /// Whether the controlled substance's one transfer between pharmacies was used (21 CFR 1306.08(e),
    /// 1306.25).
    pub(crate) transferred: bool,
    /// After a schedule II short-supply partial fill: the balance must be dispensed before this time
    /// (21 CFR 1306.13(a)); null otherwise.
    pub(crate) short_supply_until: Option<DateTime<Utc>>,
    /// Who cancelled it: `prescriber`, `patient` or `registrar` (null while not cancelled).
    pub(crate) cancelled_by: Option<String>,
    /// Seconds between the start of one fill and the start of the next.
    pub(crate) min_fill_interval_secs: i64,
    /// Controlled-substance schedule: 0 (none) or 2–5.
    pub(crate) schedule: i16,
    /// The prescriber's nonce.
    pub(crate) nonce: BigInt,
    /// Who submitted the issuing transaction.
    pub(crate) relayer: Address,
    /// Whether it was issued by a relayer with the prescriber's signature.
    pub(crate) relayed: bool,
    /// The block it was issued in.
    pub(crate) issued_block: i64,
    /// When it was issued.
    pub(crate) issued_at: DateTime<Utc>,
    /// The issuing transaction.
    pub(crate) issued_tx: Bytes32,
    /// How many dispenses were recorded.
    pub(crate) dispense_count: i64,
    /// When it was last dispensed.
    pub(crate) last_dispensed_at: Option<DateTime<Utc>>,
    /// The pharmacy of the last dispense.
    pub(crate) last_dispense_pharmacy: Option<Address>,
    /// Whether the prescriber cancelled it.
    pub(crate) cancelled: bool,
    /// The cancellation's reason code.
    pub(crate) cancel_reason: Option<i32>,
    /// When it was cancelled.
    pub(crate) cancelled_at: Option<DateTime<Utc>>,
    /// The dispenses, when read along with the row (root lookups); else they are batch-loaded.
    #[sqlx(skip)]
    #[graphql(skip)]
    pub(crate) prefetched: Option<std::sync::Arc<Vec<DispenseRow>>>,
}

/// A dispense recorded by a pharmacy.
#[derive(Debug, Clone, sqlx::FromRow, SimpleObject)]
#[graphql(name = "Dispense", complex)]
pub(crate) struct DispenseRow {
    /// The prescription.
    pub(crate) rx_id: Bytes32,
    /// The prescription's patient.
    pub(crate) patient: Address,
    /// The dispensing pharmacy.
    pub(crate) pharmacy: Address,
    /// The fill it belongs to, from 1.
    pub(crate) fill_number: i16,
    /// Units dispensed.
    pub(crate) quantity: i64,
    /// Units dispensed in that fill so far, this one included.
    pub(crate) fill_dispensed: i64,
    /// Units dispensed over the whole prescription so far, this one included.
    pub(crate) total_dispensed: BigInt,
    /// Salted hash of the pharmacy's dispensing record.
    pub(crate) dispense_hash: Bytes32,
    /// The block.
    pub(crate) block_number: i64,
    /// The log index in the block.
    pub(crate) log_index: i32,
    /// The block's time.
    #[graphql(name = "timestamp")]
    pub(crate) block_time: DateTime<Utc>,
    /// The transaction.
    pub(crate) tx_hash: Bytes32,
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
    /// The schedule the terms declare is not the controlled-substance table's schedule of the content's
    /// RxNorm code (checked only when the content itself is given and proven).
    ScheduleMismatch,
    /// The prescriber's credential no longer holds the prescription's schedule (the registrar removed it):
    /// the contract refuses with `Prescriptions__PrescriberLacksSchedule`.
    PrescriberLacksSchedule,
    /// The pharmacy's registration does not hold the prescription's schedule: the contract refuses with
    /// `Prescriptions__PharmacyLacksSchedule`.
    PharmacyLacksSchedule,
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
    /// Whether a dispense is possible at that moment (pharmacy and credentials, their schedules included,
    /// aside: `verifyPrescription` checks those).
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
    async fn dispense_rows(&self, ctx: &Context<'_>) -> GqlResult<Vec<DispenseRow>> {
        if let Some(rows) = &self.prefetched {
            return Ok(rows.as_ref().clone());
        }
        let key = DispensesOf(self.rx_id);
        Ok(state(ctx).loader.load_one(key).await.map_err(|e| e.clone_gql())?.unwrap_or_default())
    }
}

#[ComplexObject]
impl PrescriptionRow {
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
        state(ctx).loader.load_one(CredentialOf(self.prescriber)).await.map_err(|e| e.clone_gql())
    }
}

#[ComplexObject]
impl DispenseRow {
    /// The prescription dispensed against.
    async fn prescription(&self, ctx: &Context<'_>) -> GqlResult<Option<PrescriptionRow>> {
        state(ctx).loader.load_one(self.rx_id).await.map_err(|e| e.clone_gql())
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
    /// The version of the controlled-substance table the declared schedule was checked against; null when
    /// no `content` was given or it was not proven (the schedule was not checked).
    pub(crate) schedule_table: Option<String>,
    /// The prescription, when known.
    pub(crate) prescription: Option<PrescriptionRow>,
}

/// The clinical content of a prescription as the prescriber signed it (the patient copy's `content`): given
/// to `verifyPrescription`, it is hashed (its EIP-712 struct hash is the content hash), proven against the id,
/// and its RxNorm code's schedule checked against the declared one. Used for that answer only: never stored
/// or logged.
#[derive(Debug, Clone, InputObject)]
pub(crate) struct PrescriptionContentInput {
    /// The patient's name.
    pub(crate) patient_name: String,
    /// The patient's identifier.
    pub(crate) patient_identifier: String,
    /// The RxNorm code (RxCUI) of the drug.
    pub(crate) rxnorm_code: String,
    /// The drug's name.
    pub(crate) drug_name: String,
    /// The strength.
    pub(crate) strength: String,
    /// The dosage instructions.
    pub(crate) dosage_instructions: String,
    /// The quantity (uint32).
    pub(crate) quantity: u32,
    /// The quantity's unit.
    pub(crate) unit: String,
    /// Whether substitution is allowed.
    pub(crate) substitution_allowed: bool,
    /// The 32-byte salt.
    pub(crate) salt: Bytes32,
}

impl PrescriptionContentInput {
    /// The EIP-712 `PrescriptionContent` these fields are.
    pub(crate) fn content(&self) -> PrescriptionContent {
        PrescriptionContent {
            patientName: self.patient_name.clone(),
            patientIdentifier: self.patient_identifier.clone(),
            rxnormCode: self.rxnorm_code.clone(),
            drugName: self.drug_name.clone(),
            strength: self.strength.clone(),
            dosageInstructions: self.dosage_instructions.clone(),
            quantity: self.quantity,
            unit: self.unit.clone(),
            substitutionAllowed: self.substitution_allowed,
            salt: self.salt.0.into(),
        }
    }
}

/// Which prescriptions to list.
#[derive(Debug, Clone, Default, InputObject)]
pub(crate) struct PrescriptionFilter {
    /// Only open ones: not cancelled, with quantity left, and before their end as of the latest indexed block
    /// (`validUntil`, or the 72-hour balance deadline of a schedule II short-supply partial fill when earlier;
    /// the end itself excluded).
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
            // `open_until` = least(valid_until, short_supply_until), stored (migration 0009); the end is
            // exclusive, as `dispense::evaluate` has it.
            qb.push(" AND NOT cancelled AND open_until > ").push_bind(as_of);
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
