//! The prescription document: a FHIR-MedicationRequest-like JSON object, its parsing with errors that name
//! the line, column and field, its rules, and its conversion to the contract's content and terms.

use super::error::RxError;
use alloy::primitives::{Address, B256, U256};
use chrono::{DateTime, TimeDelta, Utc};
use medledger_core::eip712::{Prescription, PrescriptionContent};
use serde::{Deserialize, Serialize};
use std::num::NonZeroU32;

/// The coding system of RxNorm concept identifiers (RxCUI), as FHIR names it.
pub const RXNORM_SYSTEM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

/// Schedule II: no refills, partial fills within 30 days of the date written or the earliest fill date
/// (`Prescriptions.SCHEDULE_II_MAX_VALIDITY`, 21 CFR 1306.13(b)).
const SCHEDULE_II_MAX_DAYS: i64 = 30;
/// Schedule II for a long-term-care or terminally ill patient: 60 days (21 CFR 1306.13(b)).
const SCHEDULE_II_LTCF_MAX_DAYS: i64 = 60;
/// Schedule II: the supply ends within 90 days of the date written (21 CFR 1306.12(b)).
const SCHEDULE_II_SERIES_MAX_DAYS: i64 = 90;
/// Schedules III–V: valid at most 180 days from the date written (21 CFR 1306.22, 1306.23).
const SCHEDULE_III_V_MAX_DAYS: i64 = 180;
/// How long the signed terms may wait to be issued when the document sets no `issueDeadline`.
const DEFAULT_ISSUE_WINDOW_DAYS: i64 = 7;
/// Schedules III–IV: at most 5 refills (6 fills).
const SCHEDULE_III_IV_MAX_REPEATS: u8 = 5;

/// A prescription as a doctor writes it: the subset of FHIR `MedicationRequest` the contract needs, with
/// Ethereum accounts for the patient, the prescriber and the optional designated pharmacy.
///
/// Unknown fields are rejected (a misspelt field must not be silently dropped from a prescription).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MedicationRequest {
    /// Always `"MedicationRequest"`.
    pub resource_type: ResourceType,
    /// When the doctor wrote it: the signed date written (`RxTerms.dateWritten`), from which every validity
    /// limit counts. Default: when the prescription is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored_on: Option<DateTime<Utc>>,
    /// The signed terms must be issued on chain before this (`RxTerms.deadline`). Default: 7 days after
    /// `authoredOn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue_deadline: Option<DateTime<Utc>>,
    /// Schedule II only: the patient is in a long-term-care facility or terminally ill, so partial fills may
    /// run 60 days instead of 30 (21 CFR 1306.13(b)).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub long_term_care: bool,
    /// The patient.
    pub subject: Subject,
    /// The prescriber (the account that signs).
    pub requester: Party,
    /// The drug.
    pub medication: Medication,
    /// How to take it: one or more instructions, joined by newlines in the signed content.
    pub dosage_instruction: Vec<Dosage>,
    /// Quantity, repeats, validity, dispense interval, designated pharmacy.
    pub dispense_request: DispenseRequest,
    /// Whether a generic may be substituted (default: allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub substitution: Option<Substitution>,
}

/// The FHIR resource type; only `MedicationRequest` exists here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResourceType {
    /// A medication request (prescription).
    MedicationRequest,
}

/// The patient: name and identifier go into the signed (off-chain) content, the account on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    /// The patient's name.
    pub display: String,
    /// The patient's identifier (medical record number, insurance id, …).
    pub identifier: String,
    /// The patient's Ethereum account (who granted the prescriber consent).
    #[serde(deserialize_with = "medledger_core::address::deserialize")]
    pub account: Address,
}

/// A prescriber or pharmacy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Party {
    /// The name (informational, not signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// The Ethereum account.
    #[serde(deserialize_with = "medledger_core::address::deserialize")]
    pub account: Address,
}

/// The drug: an RxNorm coding, its name and strength, and its controlled-substance schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Medication {
    /// Codings; exactly one must be RxNorm ([`RXNORM_SYSTEM`]).
    pub coding: Vec<Coding>,
    /// The drug's name as printed for the patient.
    pub text: String,
    /// The strength, e.g. `"500 mg"`.
    pub strength: String,
    /// US DEA schedule `"II"`, `"III"`, `"IV"` or `"V"`; absent for a non-controlled drug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controlled_substance_schedule: Option<Schedule>,
}

/// One code of a coding system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Coding {
    /// The system URI.
    pub system: String,
    /// The code (for RxNorm: the RxCUI, digits only).
    pub code: String,
    /// The code's display name (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
}

/// A controlled-substance schedule (US DEA). Schedule I drugs cannot be prescribed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Schedule {
    /// Schedule II: one fill, valid 30 days.
    II,
    /// Schedule III: at most 5 refills, valid 180 days.
    III,
    /// Schedule IV: at most 5 refills, valid 180 days.
    IV,
    /// Schedule V.
    V,
}

impl Schedule {
    /// The contract's number for the schedule.
    pub const fn number(self) -> u8 {
        match self {
            Self::II => 2,
            Self::III => 3,
            Self::IV => 4,
            Self::V => 5,
        }
    }
}

/// A dosage instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Dosage {
    /// The instruction as the patient reads it.
    pub text: String,
}

/// What the pharmacy may dispense, how often and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DispenseRequest {
    /// The quantity of one fill.
    pub quantity: Quantity,
    /// Refills after the first fill (default 0).
    #[serde(default)]
    pub number_of_repeats_allowed: u8,
    /// When fills are allowed: `start` (default: when the prescription is created) and `end`.
    #[serde(default)]
    pub validity_period: Period,
    /// Instead of `validityPeriod.end`: how long after `start` the prescription stays valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity_duration: Option<Duration>,
    /// The minimum time between the start of one fill and the start of the next (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispense_interval: Option<Duration>,
    /// How long one fill lasts (`RxTerms.daysSupply`, whole days rounded up); required for a controlled
    /// substance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_supply_duration: Option<Duration>,
    /// The designated pharmacy; absent means any licensed pharmacy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<Party>,
}

/// An amount with its unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Quantity {
    /// Units per fill, at least 1.
    pub value: NonZeroU32,
    /// The unit, e.g. `"capsule"`.
    pub unit: String,
}

/// A time period (RFC 3339 timestamps).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Period {
    /// The first instant (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// The last instant (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
}

/// A duration in UCUM time units (`s`, `min`, `h`, `d`, `wk`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Duration {
    /// How many units.
    pub value: u32,
    /// The unit.
    pub unit: TimeUnit,
}

/// A UCUM time unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimeUnit {
    /// Seconds.
    #[serde(rename = "s")]
    Second,
    /// Minutes.
    #[serde(rename = "min")]
    Minute,
    /// Hours.
    #[serde(rename = "h")]
    Hour,
    /// Days.
    #[serde(rename = "d")]
    Day,
    /// Weeks.
    #[serde(rename = "wk")]
    Week,
}

impl Duration {
    /// The duration in seconds, if it fits 32 bits (the contract's width).
    pub fn seconds(self) -> Option<u32> {
        let unit = match self.unit {
            TimeUnit::Second => 1,
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3_600,
            TimeUnit::Day => 86_400,
            TimeUnit::Week => 604_800,
        };
        self.value.checked_mul(unit)
    }
}

/// Whether a substitute may be dispensed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Substitution {
    /// `true`: a generic may be dispensed.
    pub allowed_boolean: bool,
}

fn invalid(path: &str, message: impl Into<String>) -> RxError {
    RxError::Invalid { path: path.into(), message: message.into() }
}

fn non_empty(path: &str, value: &str) -> Result<(), RxError> {
    if value.trim().is_empty() {
        return Err(invalid(path, "must not be empty"));
    }
    Ok(())
}

fn timestamp(path: &str, t: DateTime<Utc>) -> Result<u32, RxError> {
    u32::try_from(t.timestamp())
        .map_err(|_| invalid(path, format!("{} is outside 1970-01-01 .. 2106-02-07", t.to_rfc3339())))
}

impl MedicationRequest {
    /// Parses and checks a document. JSON errors name the line, column and field path; rule errors the
    /// field path.
    pub fn parse(text: &str) -> Result<Self, RxError> {
        let doc: Self = super::parse_json("prescription document", text)?;
        doc.check()?;
        Ok(doc)
    }

    /// The drug's RxNorm code (RxCUI).
    pub fn rxnorm_code(&self) -> Result<&str, RxError> {
        let mut rxnorm = self.medication.coding.iter().filter(|c| c.system == RXNORM_SYSTEM);
        match (rxnorm.next(), rxnorm.next()) {
            (Some(c), None) => Ok(&c.code),
            (None, _) => Err(invalid(
                "medication.coding",
                format!("no RxNorm coding (a coding with system \"{RXNORM_SYSTEM}\")"),
            )),
            (Some(_), Some(_)) => Err(invalid("medication.coding", "more than one RxNorm coding")),
        }
    }

    /// The contract's schedule number: 0 (not controlled) or 2..5.
    pub fn schedule(&self) -> u8 {
        self.medication.controlled_substance_schedule.map_or(0, Schedule::number)
    }

    /// Checks the rules that do not depend on the time of issue.
    pub fn check(&self) -> Result<(), RxError> {
        non_empty("subject.display", &self.subject.display)?;
        non_empty("subject.identifier", &self.subject.identifier)?;
        if self.subject.account.is_zero() {
            return Err(invalid("subject.account", "must not be the zero address"));
        }
        if self.requester.account.is_zero() {
            return Err(invalid("requester.account", "must not be the zero address"));
        }
        if self.dispense_request.performer.as_ref().is_some_and(|p| p.account.is_zero()) {
            return Err(invalid(
                "dispenseRequest.performer.account",
                "must not be the zero address (leave performer out for any pharmacy)",
            ));
        }
        let code = self.rxnorm_code()?;
        if code.is_empty() || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid(
                "medication.coding.code",
                format!("RxNorm code {code:?} is not an RxCUI (digits)"),
            ));
        }
        non_empty("medication.text", &self.medication.text)?;
        non_empty("medication.strength", &self.medication.strength)?;
        non_empty("dispenseRequest.quantity.unit", &self.dispense_request.quantity.unit)?;
        if self.dosage_instruction.is_empty() {
            return Err(invalid("dosageInstruction", "at least one instruction is needed"));
        }
        for (i, d) in self.dosage_instruction.iter().enumerate() {
            non_empty(&format!("dosageInstruction[{i}].text"), &d.text)?;
        }
        let dr = &self.dispense_request;
        let repeats = dr.number_of_repeats_allowed;
        let max_repeats = match self.medication.controlled_substance_schedule {
            Some(Schedule::II) => 0,
            Some(Schedule::III | Schedule::IV) => SCHEDULE_III_IV_MAX_REPEATS,
            _ => u8::MAX - 1,
        };
        if repeats > max_repeats {
            let why = match self.medication.controlled_substance_schedule {
                Some(s) => format!("schedule {s:?} allows at most {max_repeats} repeats, got {repeats}"),
                None => format!("at most {max_repeats} repeats, got {repeats}"),
            };
            return Err(invalid("dispenseRequest.numberOfRepeatsAllowed", why));
        }
        match (dr.validity_period.end, dr.validity_duration) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "dispenseRequest.validityDuration",
                    "give either validityPeriod.end or validityDuration, not both",
                ))
            }
            (None, None) => {
                return Err(invalid(
                    "dispenseRequest.validityPeriod.end",
                    "missing: give validityPeriod.end or validityDuration",
                ))
            }
            (None, Some(d)) => {
                if d.seconds().is_none_or(|s| s == 0) {
                    return Err(invalid(
                        "dispenseRequest.validityDuration",
                        "must be between 1 s and 136 years",
                    ));
                }
            }
            (Some(_), None) => {}
        }
        if let (Some(start), Some(end)) = (dr.validity_period.start, dr.validity_period.end) {
            if start >= end {
                return Err(invalid("dispenseRequest.validityPeriod", "start must be before end"));
            }
        }
        if dr.dispense_interval.is_some_and(|d| d.seconds().is_none()) {
            return Err(invalid("dispenseRequest.dispenseInterval", "longer than 2^32 seconds"));
        }
        self.check_controlled(code)
    }

    /// The days' supply (`RxTerms.daysSupply`): `expectedSupplyDuration` in whole days, rounded up.
    pub fn days_supply(&self) -> Result<u16, RxError> {
        let Some(d) = self.dispense_request.expected_supply_duration else { return Ok(0) };
        let secs = d
            .seconds()
            .ok_or_else(|| invalid("dispenseRequest.expectedSupplyDuration", "longer than 2^32 seconds"))?;
        u16::try_from(secs.div_ceil(86_400))
            .map_err(|_| invalid("dispenseRequest.expectedSupplyDuration", "more than 65,535 days"))
    }

    /// The controlled-substance rules that do not depend on the time, and the schedule declared against the
    /// bundled controlled-substance table (issue 19: the chain cannot see the drug).
    fn check_controlled(&self, code: &str) -> Result<(), RxError> {
        if let Err(m) = medledger_core::schedule::check_declared(code, self.schedule()) {
            return Err(invalid("medication.controlledSubstanceSchedule", m.message));
        }
        let schedule = self.medication.controlled_substance_schedule;
        if self.long_term_care && schedule != Some(Schedule::II) {
            return Err(invalid(
                "longTermCare",
                "applies to schedule II prescriptions only (21 CFR 1306.13(b))",
            ));
        }
        let Some(schedule) = schedule else { return Ok(()) };
        let days = self.days_supply()?;
        if days == 0 {
            return Err(invalid(
                "dispenseRequest.expectedSupplyDuration",
                format!("required for a schedule {schedule:?} drug (the days one fill lasts)"),
            ));
        }
        if self.dispense_request.performer.is_none() {
            return Err(invalid(
                "dispenseRequest.performer",
                format!(
                    "a schedule {schedule:?} prescription is sent to one pharmacy (it may be transferred once)"
                ),
            ));
        }
        let repeats = self.dispense_request.number_of_repeats_allowed;
        if matches!(schedule, Schedule::III | Schedule::IV) && repeats > 0 {
            let interval = self.dispense_request.dispense_interval.and_then(Duration::seconds).unwrap_or(0);
            let required = u32::from(days) * 86_400 * 3 / 4;
            if interval < required {
                return Err(invalid(
                    "dispenseRequest.dispenseInterval",
                    format!(
                        "refills of a schedule {schedule:?} drug must be at least 3/4 of the {days}-day supply \
                         apart ({required} s), got {interval} s"
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The document with its validity made absolute as of `now`: `start` defaults to `now`, a
    /// `validityDuration` becomes `validityPeriod.end`; checks that it is still valid at `now` and that the
    /// validity respects the schedule's limit counted from `now` (the contract counts from the block of
    /// issue, which is later).
    pub fn resolved(&self, now: DateTime<Utc>) -> Result<Self, RxError> {
        self.check()?;
        let mut doc = self.clone();
        let now = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let written = *doc.authored_on.get_or_insert(now);
        if written > now {
            return Err(invalid("authoredOn", format!("{} is in the future", written.to_rfc3339())));
        }
        let deadline =
            *doc.issue_deadline.get_or_insert(written + TimeDelta::days(DEFAULT_ISSUE_WINDOW_DAYS));
        if deadline <= now {
            return Err(invalid("issueDeadline", format!("{} is already past", deadline.to_rfc3339())));
        }
        timestamp("authoredOn", written)?;
        timestamp("issueDeadline", deadline)?;
        let long_term_care = doc.long_term_care;
        let days_supply = doc.days_supply()?;
        let dr = &mut doc.dispense_request;
        let start = *dr.validity_period.start.get_or_insert(now);
        if let Some(d) = dr.validity_duration.take() {
            let secs = d.seconds().unwrap_or(u32::MAX);
            dr.validity_period.end = Some(start + TimeDelta::seconds(secs.into()));
        }
        let end =
            dr.validity_period.end.ok_or_else(|| invalid("dispenseRequest.validityPeriod.end", "missing"))?;
        timestamp("dispenseRequest.validityPeriod.start", start)?;
        timestamp("dispenseRequest.validityPeriod.end", end)?;
        if end <= now {
            return Err(invalid(
                "dispenseRequest.validityPeriod.end",
                format!("{} is already past", end.to_rfc3339()),
            ));
        }
        // The contract's limits, counted from the date written (21 CFR 1306.12(b), .13(b), .22, .23).
        let (from, days) = match doc.medication.controlled_substance_schedule {
            Some(Schedule::II) => {
                let supply_end = start + TimeDelta::days(days_supply.into());
                if supply_end > written + TimeDelta::days(SCHEDULE_II_SERIES_MAX_DAYS) {
                    return Err(invalid(
                        "dispenseRequest.expectedSupplyDuration",
                        format!(
                            "a schedule II supply must end within {SCHEDULE_II_SERIES_MAX_DAYS} days of the date \
                             written (21 CFR 1306.12(b))"
                        ),
                    ));
                }
                let days = if long_term_care { SCHEDULE_II_LTCF_MAX_DAYS } else { SCHEDULE_II_MAX_DAYS };
                (Some(start.max(written)), days)
            }
            Some(Schedule::III | Schedule::IV | Schedule::V) => (Some(written), SCHEDULE_III_V_MAX_DAYS),
            None => (None, 0),
        };
        if let (Some(from), Some(s)) = (from, doc.medication.controlled_substance_schedule) {
            if end > from + TimeDelta::days(days) {
                return Err(invalid(
                    "dispenseRequest.validityPeriod.end",
                    format!(
                        "schedule {s:?} prescriptions are valid at most {days} days from {}",
                        from.to_rfc3339()
                    ),
                ));
            }
        }
        doc.check()?;
        Ok(doc)
    }

    /// The signed clinical content with `salt`.
    pub fn content(&self, salt: B256) -> Result<PrescriptionContent, RxError> {
        Ok(PrescriptionContent {
            patientName: self.subject.display.clone(),
            patientIdentifier: self.subject.identifier.clone(),
            rxnormCode: self.rxnorm_code()?.to_owned(),
            drugName: self.medication.text.clone(),
            strength: self.medication.strength.clone(),
            dosageInstructions: self
                .dosage_instruction
                .iter()
                .map(|d| d.text.as_str())
                .collect::<Vec<_>>()
                .join("\n"),
            quantity: self.dispense_request.quantity.value.get(),
            unit: self.dispense_request.quantity.unit.clone(),
            substitutionAllowed: self.substitution.is_none_or(|s| s.allowed_boolean),
            salt,
        })
    }

    /// The EIP-712 `Prescription` the prescriber signs. The document must be [resolved](Self::resolved)
    /// (absolute validity period).
    pub fn prescription(&self, salt: B256, nonce: U256) -> Result<Prescription, RxError> {
        self.check()?;
        let dr = &self.dispense_request;
        let (Some(start), Some(end), None) =
            (dr.validity_period.start, dr.validity_period.end, dr.validity_duration)
        else {
            return Err(invalid(
                "dispenseRequest.validityPeriod",
                "needs both start and end (and no validityDuration) in a prescription ready to sign",
            ));
        };
        let (Some(written), Some(deadline)) = (self.authored_on, self.issue_deadline) else {
            return Err(invalid(
                "authoredOn",
                "needs authoredOn and issueDeadline in a prescription ready to sign (resolve it first)",
            ));
        };
        Ok(Prescription {
            patient: self.subject.account,
            prescriber: self.requester.account,
            content: self.content(salt)?,
            fills: dr.number_of_repeats_allowed + 1,
            quantityPerFill: dr.quantity.value.get(),
            daysSupply: self.days_supply()?,
            dateWritten: timestamp("authoredOn", written)?,
            earliestFillAt: timestamp("dispenseRequest.validityPeriod.start", start)?,
            validUntil: timestamp("dispenseRequest.validityPeriod.end", end)?,
            minFillInterval: dr.dispense_interval.and_then(Duration::seconds).unwrap_or(0),
            schedule: self.schedule(),
            longTermCare: self.long_term_care,
            pharmacy: dr.performer.as_ref().map_or(Address::ZERO, |p| p.account),
            nonce,
            deadline: timestamp("issueDeadline", deadline)?,
        })
    }
}
