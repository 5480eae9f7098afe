//! `prescriptions`: a prescription's terms as issued and its dispensing so far, and `dispenses` (one row per
//! dispense).
//!
//! The contract's rules the fold mirrors: an rxId is issued once with every term in its event; a dispense
//! either completes part of the open fill or opens the next one, and its event carries the fill number and
//! the totals, which the row takes as they are; the patient may change the designated pharmacy (the zero
//! address: any pharmacy); the issuing prescriber may cancel. Expiry and the fill interval are no events:
//! where a prescription stands at a time is `medledger_core::dispense`'s to evaluate from the stored row.

use super::Ev;
use crate::error::IndexerError;
use chrono::{DateTime, Utc};

/// A row of `prescriptions` (`numeric` columns as decimal text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Prescription {
    pub(super) rx_id: Vec<u8>,
    pub(super) patient: Vec<u8>,
    pub(super) prescriber: Vec<u8>,
    pub(super) content_hash: Vec<u8>,
    pub(super) issued_pharmacy: Option<Vec<u8>>,
    pub(super) pharmacy: Option<Vec<u8>>,
    pub(super) fills: i16,
    pub(super) quantity_per_fill: i64,
    pub(super) earliest_fill_at: DateTime<Utc>,
    pub(super) valid_until: DateTime<Utc>,
    pub(super) min_fill_interval_secs: i64,
    pub(super) schedule: i16,
    pub(super) nonce: String,
    pub(super) relayer: Vec<u8>,
    pub(super) relayed: bool,
    pub(super) issued_block: i64,
    pub(super) issued_at: DateTime<Utc>,
    pub(super) issued_tx: Vec<u8>,
    pub(super) fills_used: i16,
    pub(super) quantity_dispensed: String,
    pub(super) dispense_count: i64,
    pub(super) last_dispensed_at: Option<DateTime<Utc>>,
    pub(super) last_dispense_pharmacy: Option<Vec<u8>>,
    pub(super) cancelled: bool,
    pub(super) cancel_reason: Option<i32>,
    pub(super) cancelled_at: Option<DateTime<Utc>>,
    pub(super) updated_block: i64,
    pub(super) days_supply: i32,
    pub(super) date_written: DateTime<Utc>,
    pub(super) long_term_care: bool,
    pub(super) deadline: DateTime<Utc>,
    pub(super) transferred: bool,
    pub(super) cancelled_by: Option<String>,
    pub(super) short_supply_until: Option<DateTime<Utc>>,
}

/// One row of `dispenses`.
#[derive(Debug)]
pub(super) struct Dispense {
    pub(super) block_number: i64,
    pub(super) log_index: i32,
    pub(super) rx_id: Vec<u8>,
    /// The prescription's patient (the event does not carry it: the fold's prescription row does).
    pub(super) patient: Vec<u8>,
    pub(super) pharmacy: Vec<u8>,
    pub(super) fill_number: i16,
    pub(super) quantity: i64,
    pub(super) fill_dispensed: i64,
    pub(super) total_dispensed: String,
    pub(super) dispense_hash: Vec<u8>,
    pub(super) block_time: DateTime<Utc>,
    pub(super) tx_hash: Vec<u8>,
}

/// The `dispenses` row of a `PrescriptionDispensed` event of a prescription of `patient`.
pub(super) fn dispense(e: &Ev<'_>, patient: Vec<u8>) -> Result<Dispense, IndexerError> {
    Ok(Dispense {
        block_number: e.block_number,
        log_index: e.log_index,
        rx_id: e.rx_id.ok_or_else(|| e.bad("rxId"))?.to_vec(),
        patient,
        pharmacy: e.bytes("pharmacy")?,
        fill_number: e.small("fillNumber")?,
        quantity: e.int("quantity")?,
        fill_dispensed: e.int("fillDispensed")?,
        total_dispensed: e.decimal("totalDispensed")?,
        dispense_hash: e.bytes("dispenseHash")?,
        block_time: e.block_time,
        tx_hash: e.tx_hash.to_vec(),
    })
}

pub(super) fn fold_prescription(row: &mut Option<Prescription>, e: &Ev<'_>) -> Result<(), IndexerError> {
    if e.event_name == "PrescriptionIssued" {
        let (prescriber, relayer) = (e.bytes("prescriber")?, e.bytes("relayer")?);
        let pharmacy = e.address_or_none("pharmacy")?;
        let previous = row.take();
        let mut rx = Prescription {
            rx_id: e.rx_id.ok_or_else(|| e.bad("rxId"))?.to_vec(),
            patient: e.bytes("patient")?,
            relayed: relayer != prescriber,
            prescriber,
            content_hash: e.bytes("contentHash")?,
            issued_pharmacy: pharmacy.clone(),
            pharmacy,
            fills: e.small("fills")?,
            quantity_per_fill: e.int("quantityPerFill")?,
            earliest_fill_at: e.time("earliestFillAt")?,
            valid_until: e.time("validUntil")?,
            min_fill_interval_secs: e.int("minFillInterval")?,
            schedule: e.small("schedule")?,
            nonce: e.decimal("nonce")?,
            relayer,
            issued_block: e.block_number,
            issued_at: e.block_time,
            issued_tx: e.tx_hash.to_vec(),
            fills_used: 0,
            quantity_dispensed: "0".to_owned(),
            dispense_count: 0,
            last_dispensed_at: None,
            last_dispense_pharmacy: None,
            cancelled: false,
            cancel_reason: None,
            cancelled_at: None,
            updated_block: e.block_number,
            days_supply: i32::try_from(e.int("daysSupply")?).map_err(|_| e.bad("daysSupply"))?,
            date_written: e.time("dateWritten")?,
            long_term_care: e.flag("longTermCare")?,
            deadline: e.time("deadline")?,
            transferred: false,
            cancelled_by: None,
            short_supply_until: None,
        };
        // An rxId is issued once; should a node ever say otherwise, later changes still count.
        if let Some(p) = previous {
            rx = Prescription {
                pharmacy: p.pharmacy,
                fills_used: p.fills_used,
                quantity_dispensed: p.quantity_dispensed,
                dispense_count: p.dispense_count,
                last_dispensed_at: p.last_dispensed_at,
                last_dispense_pharmacy: p.last_dispense_pharmacy,
                cancelled: p.cancelled,
                cancel_reason: p.cancel_reason,
                cancelled_at: p.cancelled_at,
                updated_block: p.updated_block.max(e.block_number),
                transferred: p.transferred,
                cancelled_by: p.cancelled_by,
                short_supply_until: p.short_supply_until,
                ..rx
            };
        }
        *row = Some(rx);
        return Ok(());
    }
    // Nothing precedes an rxId's issue.
    let Some(rx) = row else { return Ok(()) };
    match e.event_name {
        "PharmacyChanged" => {
            rx.pharmacy = e.address_or_none("pharmacy")?;
            rx.transferred |= e.flag("transfer")?;
        }
        // 21 CFR 1306.13(a): a short-supply partial fill moves the end to the 72-hour balance deadline.
        "ShortSupplyBalanceDue" => rx.short_supply_until = Some(e.time("validUntil")?),
        "PrescriptionDispensed" => {
            rx.fills_used = e.small("fillNumber")?;
            rx.quantity_dispensed = e.decimal("totalDispensed")?;
            rx.dispense_count += 1;
            rx.last_dispensed_at = Some(e.block_time);
            rx.last_dispense_pharmacy = Some(e.bytes("pharmacy")?);
        }
        "PrescriptionCancelled" => {
            rx.cancelled = true;
            rx.cancel_reason = e.opt_int4("reasonCode")?;
            rx.cancelled_at = Some(e.block_time);
            rx.cancelled_by = Some(
                match e.small("role")? {
                    0 => "prescriber",
                    1 => "patient",
                    2 => "registrar",
                    _ => return Err(e.bad("role")),
                }
                .to_owned(),
            );
        }
        _ => return Ok(()),
    }
    rx.updated_block = rx.updated_block.max(e.block_number);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::event::fixture::{
        addr, block_time, fold, hex, history, tx_hash, word, Case, Log, T0,
    };
    use medledger_core::dispense::{self as rule, OpenFill, Status};
    use serde_json::{json, Value};

    const PRESCRIBER: u8 = 0xd0;
    const PHARMACY: u8 = 0xf1;
    const OTHER_PHARMACY: u8 = 0xf2;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    fn rx() -> Vec<u8> {
        word(0x5a)
    }

    /// `Prescriptions.<event>` of the prescription in `block`.
    fn log(event: &'static str, block: i64, mut args: Value) -> Log {
        args["rxId"] = hex(&rx());
        let mut l = Log::new("Prescriptions", event, rx(), args).at(block);
        l.rx_id = Some(rx());
        l
    }
    /// Issued in block 1 by `relayer` for `pharmacy` (0: any): 3 fills of 30, valid 30 days from T0, fills 7
    /// days apart.
    fn issued(pharmacy: u8, relayer: u8) -> Log {
        let args = json!({"patient": hex(&addr(0xaa)), "prescriber": hex(&addr(PRESCRIBER)),
                          "contentHash": hex(&word(0xc0)), "pharmacy": hex(&addr(pharmacy)), "fills": 3,
                          "quantityPerFill": 30, "earliestFillAt": T0, "validUntil": T0 + 30 * 86_400,
                          "minFillInterval": 7 * 86_400, "schedule": 0,
                          "nonce": "340282366920938463463374607431768211455", "relayer": hex(&addr(relayer)),
                          "dateWritten": T0 - 86_400, "daysSupply": 30, "longTermCare": false,
                          "deadline": T0 + 7 * 86_400});
        log("PrescriptionIssued", 1, args)
    }
    /// A dispense by `pharmacy`, as the contract reports it: the fill it belongs to, the units of this
    /// dispense, of the fill so far and of the whole prescription so far.
    fn dispensed(block: i64, pharmacy: u8, fill: i64, quantity: i64, fill_total: i64, total: &str) -> Log {
        let args = json!({"pharmacy": hex(&addr(pharmacy)), "fillNumber": fill, "quantity": quantity,
                          "fillDispensed": fill_total, "totalDispensed": total, "dispenseHash": hex(&word(0xd1))});
        log("PrescriptionDispensed", block, args)
    }
    fn pharmacy_changed(block: i64, to: u8, from: u8) -> Log {
        moved(block, to, from, false)
    }
    /// A pharmacy change; `transfer`: the controlled substance's one transfer (21 CFR 1306.08(e), 1306.25).
    fn moved(block: i64, to: u8, from: u8, transfer: bool) -> Log {
        let args = json!({"patient": hex(&addr(0xaa)), "pharmacy": hex(&addr(to)),
                          "previousPharmacy": hex(&addr(from)), "transfer": transfer});
        log("PharmacyChanged", block, args)
    }
    fn cancelled(block: i64, reason: i64) -> Log {
        cancelled_by(block, reason, 0)
    }
    /// Cancelled by the prescriber (role 0), the patient (1) or a registrar (2).
    fn cancelled_by(block: i64, reason: i64, role: i64) -> Log {
        log(
            "PrescriptionCancelled",
            block,
            json!({"by": hex(&addr(PRESCRIBER)), "role": role, "reasonCode": reason}),
        )
    }
    /// A schedule II short-supply partial fill: the balance is due by `until` (21 CFR 1306.13(a)).
    fn short_supply(block: i64, until: i64) -> Log {
        log("ShortSupplyBalanceDue", block, json!({"pharmacy": hex(&addr(PHARMACY)), "validUntil": until}))
    }

    /// The row of `issued(0, PRESCRIBER)`.
    fn issued_row() -> Prescription {
        Prescription {
            rx_id: rx(),
            patient: addr(0xaa),
            prescriber: addr(PRESCRIBER),
            content_hash: word(0xc0),
            issued_pharmacy: None,
            pharmacy: None,
            fills: 3,
            quantity_per_fill: 30,
            earliest_fill_at: at(T0),
            valid_until: at(T0 + 30 * 86_400),
            min_fill_interval_secs: 7 * 86_400,
            schedule: 0,
            nonce: "340282366920938463463374607431768211455".to_owned(),
            relayer: addr(PRESCRIBER),
            relayed: false,
            issued_block: 1,
            issued_at: block_time(1),
            issued_tx: tx_hash(1),
            fills_used: 0,
            quantity_dispensed: "0".to_owned(),
            dispense_count: 0,
            last_dispensed_at: None,
            last_dispense_pharmacy: None,
            cancelled: false,
            cancel_reason: None,
            cancelled_at: None,
            updated_block: 1,
            days_supply: 30,
            date_written: at(T0 - 86_400),
            long_term_care: false,
            deadline: at(T0 + 7 * 86_400),
            transferred: false,
            cancelled_by: None,
            short_supply_until: None,
        }
    }

    /// The dispensing columns after `count` dispenses, the last in `block` by `pharmacy`.
    fn dispensing(
        r: &mut Prescription,
        fills_used: i16,
        total: &str,
        count: i64,
        (block, pharmacy): (i64, u8),
    ) {
        (r.fills_used, r.quantity_dispensed, r.dispense_count) = (fills_used, total.to_owned(), count);
        (r.last_dispensed_at, r.last_dispense_pharmacy) = (Some(block_time(block)), Some(addr(pharmacy)));
        r.updated_block = block;
    }

    /// Each rule of the contract: the events after an issue to any pharmacy, and how they change the issued
    /// row.
    #[test]
    fn the_row_follows_the_contract_rules() {
        let p = PHARMACY;
        let cases: Vec<Case<Prescription>> = vec![
            ("issue: every term from the event, nothing dispensed", vec![], |_| {}),
            ("a whole fill", vec![dispensed(2, p, 1, 30, 30, "30")], |r| {
                dispensing(r, 1, "30", 1, (2, PHARMACY))
            }),
            (
                "partial fills complete the open fill",
                vec![dispensed(2, p, 1, 10, 10, "10"), dispensed(3, p, 1, 20, 30, "30")],
                |r| dispensing(r, 1, "30", 2, (3, PHARMACY)),
            ),
            (
                "a refill opens the next fill",
                vec![dispensed(2, p, 1, 30, 30, "30"), dispensed(3, p, 2, 30, 30, "60")],
                |r| dispensing(r, 2, "60", 2, (3, PHARMACY)),
            ),
            (
                "a partial refill",
                vec![dispensed(2, p, 1, 30, 30, "30"), dispensed(3, p, 2, 5, 5, "35")],
                |r| dispensing(r, 2, "35", 2, (3, PHARMACY)),
            ),
            (
                "every fill used",
                vec![
                    dispensed(2, p, 1, 30, 30, "30"),
                    dispensed(3, p, 2, 30, 30, "60"),
                    dispensed(4, p, 3, 30, 30, "90"),
                ],
                |r| dispensing(r, 3, "90", 3, (4, PHARMACY)),
            ),
            ("the patient designates a pharmacy", vec![pharmacy_changed(2, PHARMACY, 0)], |r| {
                (r.pharmacy, r.updated_block) = (Some(addr(PHARMACY)), 2);
            }),
            (
                "the patient changes pharmacy, then back to any",
                vec![pharmacy_changed(2, PHARMACY, 0), pharmacy_changed(3, 0, PHARMACY)],
                |r| r.updated_block = 3,
            ),
            (
                "dispensed by the newly designated pharmacy",
                vec![
                    dispensed(2, p, 1, 30, 30, "30"),
                    pharmacy_changed(3, OTHER_PHARMACY, p),
                    dispensed(4, OTHER_PHARMACY, 2, 30, 30, "60"),
                ],
                |r| {
                    r.pharmacy = Some(addr(OTHER_PHARMACY));
                    dispensing(r, 2, "60", 2, (4, OTHER_PHARMACY));
                },
            ),
            ("cancellation, with its reason", vec![cancelled(2, 5)], |r| {
                (r.cancelled, r.cancel_reason, r.cancelled_at, r.updated_block) =
                    (true, Some(5), Some(block_time(2)), 2);
                r.cancelled_by = Some("prescriber".into());
            }),
            ("the patient cancels her own", vec![cancelled_by(2, 0, 1)], |r| {
                (r.cancelled, r.cancel_reason, r.cancelled_at, r.updated_block) =
                    (true, Some(0), Some(block_time(2)), 2);
                r.cancelled_by = Some("patient".into());
            }),
            ("a registrar voids it", vec![cancelled_by(2, 9, 2)], |r| {
                (r.cancelled, r.cancel_reason, r.cancelled_at, r.updated_block) =
                    (true, Some(9), Some(block_time(2)), 2);
                r.cancelled_by = Some("registrar".into());
            }),
            ("the one transfer of a controlled substance", vec![moved(2, OTHER_PHARMACY, p, true)], |r| {
                (r.pharmacy, r.transferred, r.updated_block) = (Some(addr(OTHER_PHARMACY)), true, 2);
            }),
            (
                "a later change back does not clear the transfer",
                vec![moved(2, OTHER_PHARMACY, p, true), moved(3, p, OTHER_PHARMACY, false)],
                |r| (r.pharmacy, r.transferred, r.updated_block) = (Some(addr(PHARMACY)), true, 3),
            ),
            (
                "a short-supply partial fill sets the balance deadline",
                vec![dispensed(2, p, 1, 10, 10, "10"), short_supply(2, T0 + 3 * 86_400)],
                |r| {
                    dispensing(r, 1, "10", 1, (2, PHARMACY));
                    r.short_supply_until = Some(at(T0 + 3 * 86_400));
                },
            ),
            (
                "cancellation keeps what was dispensed",
                vec![dispensed(2, p, 1, 10, 10, "10"), cancelled(3, 5)],
                |r| {
                    dispensing(r, 1, "10", 1, (2, PHARMACY));
                    (r.cancelled, r.cancel_reason, r.cancelled_at, r.updated_block) =
                        (true, Some(5), Some(block_time(3)), 3);
                    r.cancelled_by = Some("prescriber".into());
                },
            ),
            (
                "totals beyond 64 bits are kept exactly",
                vec![dispensed(2, p, 1, 30, 30, "36893488147419103232")],
                |r| dispensing(r, 1, "36893488147419103232", 1, (2, PHARMACY)),
            ),
        ];
        for (rule, events, change) in cases {
            let logs: Vec<Log> = [issued(0, PRESCRIBER)].into_iter().chain(events).collect();
            let mut want = issued_row();
            change(&mut want);
            assert_eq!(fold(&logs).prescriptions[&rx()], Some(want), "{rule}");
        }
    }

    /// The issue's own variants: a designated pharmacy (or any, the zero address), and a prescriber's signed
    /// prescription relayed by someone else.
    #[test]
    fn issue_variants() {
        for (pharmacy, relayer, designated, relayed) in [
            (0, PRESCRIBER, None, false),
            (PHARMACY, PRESCRIBER, Some(addr(PHARMACY)), false),
            (0, 0xee, None, true),
        ] {
            let Some(r) = fold(&[issued(pharmacy, relayer)]).prescriptions[&rx()].clone() else {
                panic!("no row")
            };
            assert_eq!(
                (&r.issued_pharmacy, &r.pharmacy),
                (&designated, &designated),
                "pharmacy {pharmacy:#x}"
            );
            assert_eq!((r.relayer, r.relayed), (addr(relayer), relayed), "relayer {relayer:#x}");
        }
    }

    /// Nothing precedes an rxId's issue: such events move no row.
    #[test]
    fn nothing_before_issue() {
        for l in [dispensed(2, PHARMACY, 1, 30, 30, "30"), pharmacy_changed(2, PHARMACY, 0), cancelled(2, 1)]
        {
            assert_eq!(fold(std::slice::from_ref(&l)).prescriptions[&rx()], None, "{}", l.event);
        }
    }

    /// Expiry and the fill interval are no events: the row after a partial refill is the same whenever it is
    /// read, and `medledger_core::dispense` evaluates it at a time (Fillable until `validUntil`, Expired past it;
    /// a new fill waits for the interval). The fold keeps what that evaluation needs.
    #[test]
    fn expiry_is_evaluated_from_the_row_not_folded() {
        let logs = [issued(0, PRESCRIBER), dispensed(2, PHARMACY, 1, 30, 30, "30")];
        let Some(r) = fold(&logs).prescriptions[&rx()].clone() else { panic!("no row") };
        let stored = rule::Rx {
            fills: r.fills,
            fills_used: r.fills_used,
            quantity_per_fill: r.quantity_per_fill,
            earliest_fill_at: r.earliest_fill_at,
            valid_until: r.valid_until,
            min_fill_interval_secs: r.min_fill_interval_secs,
            issued_at: r.issued_at,
            last_dispensed_at: r.last_dispensed_at,
            cancelled: r.cancelled,
        };
        let open = OpenFill { dispensed: 30, opened_at: r.last_dispensed_at };
        let status = |t: i64| rule::evaluate(&stored, open, at(T0 + t)).status;
        let (fill_2, end) = (block_time(2).timestamp() - T0 + 7 * 86_400, 30 * 86_400);
        assert_eq!(
            (status(fill_2 - 1), status(fill_2), status(end - 1), status(end)),
            (Status::Waiting, Status::Fillable, Status::Fillable, Status::Expired)
        );
    }

    /// One `dispenses` row per dispense, with the event's figures and the prescription's patient (from the
    /// fold: the event does not carry it); none for other events; none for a prescription the fold lacks.
    #[test]
    fn one_dispense_row_per_dispense() {
        let logs = [
            issued(0, PRESCRIBER),
            dispensed(2, PHARMACY, 1, 10, 10, "10"),
            pharmacy_changed(3, OTHER_PHARMACY, 0),
            dispensed(4, OTHER_PHARMACY, 1, 20, 30, "30"),
            cancelled(5, 1),
        ];
        let folded = fold(&logs);
        let h = folded.dispenses(logs.iter().map(Log::ev)).unwrap_or_else(|e| panic!("{e}"));
        let rows: Vec<_> =
            h.0.iter()
                .map(|d| {
                    (
                        d.block_number,
                        d.pharmacy.clone(),
                        d.fill_number,
                        d.quantity,
                        d.fill_dispensed,
                        d.total_dispensed.as_str(),
                    )
                })
                .collect();
        assert_eq!(rows, [(2, addr(PHARMACY), 1, 10, 10, "10"), (4, addr(OTHER_PHARMACY), 1, 20, 30, "30")]);
        let d = &h.0[0];
        assert_eq!(
            (&d.rx_id, &d.dispense_hash, d.block_time, &d.tx_hash, &d.patient),
            (&rx(), &word(0xd1), block_time(2), &tx_hash(2), &addr(0xaa))
        );
        assert!(h.0.iter().all(|d| d.patient == addr(0xaa)));
        let h = history(&logs);
        assert!(h.credential.is_empty() && h.consent.is_empty());
        // A dispense of a prescription the fold does not hold is an error, never a row without a patient.
        let orphan = [dispensed(2, PHARMACY, 1, 10, 10, "10")];
        assert!(fold(&[]).dispenses(orphan.iter().map(Log::ev)).is_err());
    }
}
