//! The dispense rule of `contracts/src/Prescriptions.sol`, evaluated off chain: where a prescription
//! stands at a given time ([`evaluate`]) and every reason a pharmacy may not dispense it ([`verify`]). The
//! API's `verifyPrescription` and prescription statuses, and through them `medledger rx verify`, use it.

use alloy::primitives::Address;
use chrono::{DateTime, TimeZone, Utc};

/// What the rule needs of a prescription as indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rx {
    /// Fills authorized.
    pub fills: i16,
    /// Fills opened so far.
    pub fills_used: i16,
    /// Units per fill.
    pub quantity_per_fill: i64,
    /// The first fill may not start before this.
    pub earliest_fill_at: DateTime<Utc>,
    /// No dispense at or after this (the contract's [start, end) convention): the signed `validUntil`, or the
    /// 72-hour balance deadline of a schedule II short-supply partial fill (21 CFR 1306.13(a)) when earlier.
    pub valid_until: DateTime<Utc>,
    /// Seconds between the starts of two fills.
    pub min_fill_interval_secs: i64,
    /// When it was issued (the issuing block's time).
    pub issued_at: DateTime<Utc>,
    /// When the last dispense happened.
    pub last_dispensed_at: Option<DateTime<Utc>>,
    /// Whether it was cancelled.
    pub cancelled: bool,
}

/// The latest (open) fill: what the dispense rule needs of the dispenses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenFill {
    /// Units dispensed in it.
    pub dispensed: i64,
    /// When it was opened (its first dispense).
    pub opened_at: Option<DateTime<Utc>>,
}

/// Where a prescription stands at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
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
    /// The content hash does not match the prescription.
    ContentHashMismatch,
    /// The schedule declared in the terms is not the controlled-substance table's schedule of the proven
    /// RxNorm code ([`crate::schedule::check_declared`]; the chain cannot see the drug, issue 19 point 1).
    ScheduleMismatch,
    /// The prescriber's credential no longer holds the prescription's schedule (the registrar removed it:
    /// the contract's `Prescriptions__PrescriberLacksSchedule`, issue 19 point 3).
    PrescriberLacksSchedule,
    /// The pharmacy's registration does not hold the prescription's schedule (the contract's
    /// `Prescriptions__PharmacyLacksSchedule`).
    PharmacyLacksSchedule,
}

/// One reason a dispense is refused, with what exactly is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The machine-readable reason.
    pub reason: Refusal,
    /// What exactly is wrong, in a sentence.
    pub message: String,
}

/// The time-dependent state of a prescription at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// The moment evaluated.
    pub as_of: DateTime<Utc>,
    /// The status at that moment.
    pub status: Status,
    /// Whether a dispense is possible at that moment (pharmacy and credentials, their schedules included,
    /// aside: [`verify`] checks those).
    pub fillable: bool,
    /// When the next fill may start (`None` while a fill is open and incomplete, or no fills are left).
    pub next_fill_at: Option<DateTime<Utc>>,
    /// Units that may be dispensed at that moment (the rest of the open fill, or a whole new fill).
    pub quantity_available: i64,
    /// Why a dispense is not possible at that moment (empty when fillable).
    pub reasons: Vec<Failure>,
}

fn at_unix(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Evaluates the contract's dispense rule for `rx` with its open fill at `at`.
pub fn evaluate(rx: &Rx, open: OpenFill, at: DateTime<Utc>) -> State {
    let fills_used = rx.fills_used;
    let open_incomplete = fills_used > 0 && open.dispensed < rx.quantity_per_fill;
    let next_fill_at = if open_incomplete || fills_used >= rx.fills {
        None
    } else if fills_used == 0 {
        Some(rx.earliest_fill_at)
    } else {
        let opened = open.opened_at.or(rx.last_dispensed_at).unwrap_or(rx.issued_at);
        Some(at_unix((opened.timestamp() + rx.min_fill_interval_secs).min(i64::from(u32::MAX))))
    };
    let mut reasons = Vec::new();
    let mut fail = |reason, message: String| reasons.push(Failure { reason, message });
    if rx.cancelled {
        fail(Refusal::Cancelled, "the prescriber cancelled the prescription".into());
    }
    if at >= rx.valid_until {
        fail(Refusal::Expired, format!("valid until (not including) {}", rx.valid_until.to_rfc3339()));
    }
    let mut quantity_available = 0;
    let completed = !open_incomplete && fills_used >= rx.fills;
    if open_incomplete {
        quantity_available = rx.quantity_per_fill - open.dispensed;
    } else if completed {
        fail(Refusal::NothingLeft, format!("all {} fills have been dispensed in full", rx.fills));
    } else if let Some(next) = next_fill_at.filter(|next| at < *next) {
        if fills_used == 0 {
            fail(Refusal::NotYetFillable, format!("the first fill may start at {}", next.to_rfc3339()));
        } else {
            fail(
                Refusal::FillIntervalNotElapsed,
                format!("fill {} may start at {}", fills_used + 1, next.to_rfc3339()),
            );
        }
    } else {
        quantity_available = rx.quantity_per_fill;
    }
    let fillable = reasons.is_empty();
    if !fillable {
        quantity_available = 0;
    }
    let status = if rx.cancelled {
        Status::Cancelled
    } else if completed {
        Status::Completed
    } else if at >= rx.valid_until {
        Status::Expired
    } else if fillable {
        Status::Fillable
    } else {
        Status::Waiting
    };
    State { as_of: at, status, fillable, next_fill_at, quantity_available, reasons }
}

/// A credential as indexed: its kind (`prescriber` or `pharmacy`), status, expiry and DEA schedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    /// `prescriber` or `pharmacy`.
    pub kind: String,
    /// `active`, `suspended` or `revoked`.
    pub status: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The DEA schedules it holds, as the CredentialRegistry stores them: bit n = schedule n.
    pub schedules: u8,
}

impl Credential {
    /// Active at `at` as a credential of `kind` (the contract's `isActive(account, kind)`: that kind, status
    /// active, and `at` before the expiry — the [start, end) convention).
    pub fn active_as(&self, kind: &str, at: DateTime<Utc>) -> bool {
        self.kind == kind && self.status == "active" && at < self.expires_at
    }

    /// Whether it holds `schedule` (schedule 0, not controlled, needs no bit: always true), as the
    /// contract's `_checkDispensable` tests `(schedules >> schedule) & 1`.
    pub const fn holds_schedule(&self, schedule: u8) -> bool {
        schedule == 0 || (schedule < 8 && (self.schedules >> schedule) & 1 == 1)
    }
}

/// Everything a pharmacy's verification checks besides the prescription's own state.
#[derive(Debug, Clone)]
pub struct Verify<'a> {
    /// The pharmacy asking.
    pub pharmacy: Address,
    /// The pharmacy the prescription designates, if any.
    pub designated: Option<Address>,
    /// The pharmacy's credential, if it has one.
    pub pharmacy_credential: Option<&'a Credential>,
    /// The prescriber.
    pub prescriber: Address,
    /// The prescriber's credential now, if it has one.
    pub prescriber_credential: Option<&'a Credential>,
    /// The prescriber's credential status and expiry as of the issuing block, when known.
    pub prescriber_at_issue: Option<(&'a str, DateTime<Utc>)>,
    /// How the content hash presented compares with the prescription.
    pub content: ContentCheck,
    /// The RxNorm code of the presented content and the schedule the terms declare, when the content itself
    /// (not only its hash) was presented: checked against the controlled-substance table once the content
    /// hash is proven.
    pub schedule: Option<(&'a str, u8)>,
    /// The schedule the terms declare (0: not controlled): both credentials must hold it, as the contract's
    /// `_checkDispensable` requires.
    pub declared_schedule: u8,
}

/// How a presented content hash was compared with a prescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentCheck {
    /// The EIP-712 digest of the stored terms with the presented content hash was recomputed: whether it is
    /// the rxId (a proof that the document is the one signed).
    Digest(bool),
    /// No contract address was known to recompute the digest: whether the presented content hash equals the
    /// one stored at issue.
    Stored(bool),
}

/// The refusal for a declared schedule that the controlled-substance table contradicts (`None`: they agree),
/// with the table's sentence — the one `medledger rx verify` and the API's `verifyPrescription` both give.
pub fn schedule_failure(rxcui: &str, declared: u8) -> Option<Failure> {
    crate::schedule::check_declared(rxcui, declared)
        .err()
        .map(|m| Failure { reason: Refusal::ScheduleMismatch, message: m.message })
}

/// Every reason `pharmacy` may not dispense `rx` at `at` (empty: it may), and the state at `at`.
pub fn verify(rx: &Rx, open: OpenFill, at: DateTime<Utc>, checks: &Verify<'_>) -> (State, Vec<Failure>) {
    let state = evaluate(rx, open, at);
    let mut failures = state.reasons.clone();
    let mut fail = |reason, message: String| failures.push(Failure { reason, message });
    if let Some(designated) = checks.designated.filter(|d| *d != checks.pharmacy) {
        fail(Refusal::OtherPharmacyDesignated, format!("the prescription is designated to {designated}"));
    }
    if !checks.pharmacy_credential.is_some_and(|c| c.active_as("pharmacy", at)) {
        fail(
            Refusal::PharmacyCredentialNotActive,
            match checks.pharmacy_credential {
                Some(c) => format!(
                    "the pharmacy's {} credential is {} and expires {}",
                    c.kind,
                    c.status,
                    c.expires_at.to_rfc3339()
                ),
                None => format!("{} has no credential", checks.pharmacy),
            },
        );
    }
    let schedule = checks.declared_schedule;
    // The pharmacy's registration must cover the schedule (checked when it is a pharmacy's credential: any
    // other state is reported above as not active).
    if let Some(c) =
        checks.pharmacy_credential.filter(|c| c.kind == "pharmacy" && !c.holds_schedule(schedule))
    {
        fail(
            Refusal::PharmacyLacksSchedule,
            crate::schedule::pharmacy_lacks_schedule(checks.pharmacy, schedule, c.schedules),
        );
    }
    let prescriber = checks.prescriber;
    if !checks
        .prescriber_at_issue
        .is_some_and(|(status, expires)| status == "active" && rx.issued_at < expires)
    {
        fail(
            Refusal::PrescriberCredentialNotActiveAtIssue,
            format!("{prescriber}'s credential was not active at issue ({})", rx.issued_at.to_rfc3339()),
        );
    }
    if !checks.prescriber_credential.is_some_and(|c| c.active_as("prescriber", at)) {
        fail(
            Refusal::PrescriberCredentialNotActiveNow,
            match checks.prescriber_credential {
                Some(c) => format!(
                    "{prescriber}'s credential is {} and expires {}",
                    c.status,
                    c.expires_at.to_rfc3339()
                ),
                None => format!("{prescriber} has no credential"),
            },
        );
    }
    // The kill switch for a schedule (issue 19 point 3): the prescriber's credential must still hold it.
    if let Some(c) =
        checks.prescriber_credential.filter(|c| c.kind == "prescriber" && !c.holds_schedule(schedule))
    {
        fail(
            Refusal::PrescriberLacksSchedule,
            crate::schedule::prescriber_lacks_schedule(prescriber, schedule, c.schedules),
        );
    }
    match checks.content {
        ContentCheck::Digest(false) => fail(
            Refusal::ContentHashMismatch,
            "the EIP-712 digest of the stored terms with this content hash is not the prescription id".into(),
        ),
        ContentCheck::Stored(false) => {
            fail(Refusal::ContentHashMismatch, "the content hash differs from the one issued".into())
        }
        ContentCheck::Digest(true) | ContentCheck::Stored(true) => {
            if let Some(f) = checks.schedule.and_then(|(rxcui, declared)| schedule_failure(rxcui, declared)) {
                failures.push(f);
            }
        }
    }
    (state, failures)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    fn t(day: i64) -> DateTime<Utc> {
        at_unix(1_700_000_000 + day * DAY)
    }

    /// Three fills of 30, fillable from day 0, valid until day 90, 25 days between fills.
    fn rx() -> Rx {
        Rx {
            fills: 3,
            fills_used: 0,
            quantity_per_fill: 30,
            earliest_fill_at: t(0),
            valid_until: t(90),
            min_fill_interval_secs: 25 * DAY,
            issued_at: t(0),
            last_dispensed_at: None,
            cancelled: false,
        }
    }

    fn open(dispensed: i64, day: i64) -> OpenFill {
        OpenFill { dispensed, opened_at: Some(t(day)) }
    }

    /// (name, rx, open fill, day evaluated, status, quantity available, next fill day, reasons)
    type Case = (&'static str, Rx, OpenFill, i64, Status, i64, Option<i64>, Vec<Refusal>);

    #[test]
    fn evaluate_follows_the_contracts_fill_rules() {
        let before_first = Rx { earliest_fill_at: t(5), ..rx() };
        let one_fill = Rx { fills_used: 1, last_dispensed_at: Some(t(1)), ..rx() };
        let all_fills = Rx { fills_used: 3, last_dispensed_at: Some(t(60)), ..rx() };
        let cancelled = Rx { cancelled: true, ..rx() };
        let cases: Vec<Case> = vec![
            ("new, first fill open now", rx(), OpenFill::default(), 0, Status::Fillable, 30, Some(0), vec![]),
            (
                "before earliestFillAt",
                before_first,
                OpenFill::default(),
                4,
                Status::Waiting,
                0,
                Some(5),
                vec![Refusal::NotYetFillable],
            ),
            (
                "partial fill: the rest of the open fill",
                one_fill,
                open(10, 1),
                2,
                Status::Fillable,
                20,
                None,
                vec![],
            ),
            (
                "refill before the interval",
                one_fill,
                open(30, 1),
                20,
                Status::Waiting,
                0,
                Some(26),
                vec![Refusal::FillIntervalNotElapsed],
            ),
            ("refill after the interval", one_fill, open(30, 1), 26, Status::Fillable, 30, Some(26), vec![]),
            (
                "every fill in full",
                all_fills,
                open(30, 60),
                61,
                Status::Completed,
                0,
                None,
                vec![Refusal::NothingLeft],
            ),
            (
                "last fill partial: still fillable",
                all_fills,
                open(29, 60),
                61,
                Status::Fillable,
                1,
                None,
                vec![],
            ),
            (
                "the last second before validUntil",
                Rx { valid_until: at_unix(t(90).timestamp() + 1), ..rx() },
                OpenFill::default(),
                90,
                Status::Fillable,
                30,
                Some(0),
                vec![],
            ),
            (
                "validUntil is exclusive",
                Rx { valid_until: t(89), ..rx() },
                OpenFill::default(),
                89,
                Status::Expired,
                0,
                Some(0),
                vec![Refusal::Expired],
            ),
            (
                "expired with quantity left",
                one_fill,
                open(10, 1),
                91,
                Status::Expired,
                0,
                None,
                vec![Refusal::Expired],
            ),
            (
                "cancelled",
                cancelled,
                OpenFill::default(),
                1,
                Status::Cancelled,
                0,
                Some(0),
                vec![Refusal::Cancelled],
            ),
        ];
        for (name, rx, open, day, status, available, next, reasons) in cases {
            let state = evaluate(&rx, open, t(day));
            assert_eq!(state.status, status, "{name}");
            assert_eq!(state.quantity_available, available, "{name}");
            assert_eq!(state.next_fill_at, next.map(t), "{name}");
            assert_eq!(state.reasons.iter().map(|f| f.reason).collect::<Vec<_>>(), reasons, "{name}");
            assert_eq!(state.fillable, reasons.is_empty(), "{name}");
        }
    }

    #[test]
    fn the_next_fill_counts_from_the_open_fills_first_dispense() {
        // Without the open fill's start, the last dispense and then the issue time stand in.
        let r = Rx { fills_used: 1, last_dispensed_at: Some(t(3)), ..rx() };
        assert_eq!(evaluate(&r, OpenFill { dispensed: 30, opened_at: None }, t(4)).next_fill_at, Some(t(28)));
        assert_eq!(evaluate(&r, open(30, 1), t(4)).next_fill_at, Some(t(26)));
    }

    #[test]
    fn verify_lists_every_reason() {
        let pharmacy = Address::repeat_byte(1);
        let prescriber = Address::repeat_byte(2);
        let active = |kind: &str| Credential {
            kind: kind.into(),
            status: "active".into(),
            expires_at: t(365),
            schedules: 0b0011_1100,
        };
        let (ph, pr) = (active("pharmacy"), active("prescriber"));
        let good = Verify {
            pharmacy,
            designated: None,
            pharmacy_credential: Some(&ph),
            prescriber,
            prescriber_credential: Some(&pr),
            prescriber_at_issue: Some(("active", t(365))),
            content: ContentCheck::Digest(true),
            schedule: None,
            declared_schedule: 0,
        };
        let reasons = |checks: &Verify<'_>, day| -> Vec<Refusal> {
            verify(&rx(), OpenFill::default(), t(day), checks).1.into_iter().map(|f| f.reason).collect()
        };
        assert_eq!(reasons(&good, 1), vec![]);
        assert_eq!(reasons(&Verify { designated: Some(pharmacy), ..good.clone() }, 1), vec![]);
        let suspended = Credential { status: "suspended".into(), ..active("prescriber") };
        let wrong_kind = active("prescriber");
        let bad = Verify {
            designated: Some(Address::repeat_byte(9)),
            pharmacy_credential: Some(&wrong_kind),
            prescriber_credential: Some(&suspended),
            prescriber_at_issue: None,
            content: ContentCheck::Stored(false),
            ..good.clone()
        };
        assert_eq!(
            reasons(&bad, 91),
            vec![
                Refusal::Expired,
                Refusal::OtherPharmacyDesignated,
                Refusal::PharmacyCredentialNotActive,
                Refusal::PrescriberCredentialNotActiveAtIssue,
                Refusal::PrescriberCredentialNotActiveNow,
                Refusal::ContentHashMismatch,
            ]
        );
        // A credential is active strictly before its expiry; one expired by the issue time does not count.
        assert_eq!(
            reasons(&good, 365),
            vec![
                Refusal::Expired,
                Refusal::PharmacyCredentialNotActive,
                Refusal::PrescriberCredentialNotActiveNow
            ]
        );
        let expired_at_issue = Verify { prescriber_at_issue: Some(("active", t(0))), ..good.clone() };
        assert_eq!(reasons(&expired_at_issue, 1), vec![Refusal::PrescriberCredentialNotActiveAtIssue]);
        assert_eq!(
            reasons(&Verify { pharmacy_credential: None, ..good.clone() }, 1),
            vec![Refusal::PharmacyCredentialNotActive]
        );
        // The declared schedule against the table, once the content is proven: oxycodone declared "not
        // controlled" is refused with the table's sentence; declared as schedule II it passes.
        let oxycodone_as_0 = Verify { schedule: Some(("1049621", 0)), ..good.clone() };
        assert_eq!(reasons(&oxycodone_as_0, 1), vec![Refusal::ScheduleMismatch]);
        let (_, failures) = verify(&rx(), OpenFill::default(), t(1), &oxycodone_as_0);
        let expected = crate::schedule::check_declared("1049621", 0).unwrap_err().message;
        assert_eq!(failures[0].message, expected);
        assert_eq!(reasons(&Verify { schedule: Some(("1049621", 2)), ..good.clone() }, 1), vec![]);
        // An unproven content proves no drug: only the hash mismatch is reported.
        let unproven =
            Verify { schedule: Some(("1049621", 0)), content: ContentCheck::Digest(false), ..good };
        assert_eq!(reasons(&unproven, 1), vec![Refusal::ContentHashMismatch]);
    }

    /// Issue 19 point 3: the contract's `_checkDispensable` refuses a controlled prescription whose
    /// prescriber's credential no longer holds its schedule, or whose pharmacy's registration lacks it;
    /// schedule 0 needs neither.
    #[test]
    fn verify_requires_both_credentials_to_hold_the_schedule() {
        let pharmacy = Address::repeat_byte(1);
        let prescriber = Address::repeat_byte(2);
        let credential = |kind: &str, schedules| Credential {
            kind: kind.into(),
            status: "active".into(),
            expires_at: t(365),
            schedules,
        };
        let all = 0b0011_1100;
        let without_ii = 0b0011_1000;
        let check = |ph: &Credential, pr: &Credential, schedule| {
            let checks = Verify {
                pharmacy,
                designated: None,
                pharmacy_credential: Some(ph),
                prescriber,
                prescriber_credential: Some(pr),
                prescriber_at_issue: Some(("active", t(365))),
                content: ContentCheck::Digest(true),
                schedule: None,
                declared_schedule: schedule,
            };
            verify(&rx(), OpenFill::default(), t(1), &checks).1
        };
        let reasons = |f: &[Failure]| f.iter().map(|f| f.reason).collect::<Vec<_>>();
        let (ph_all, pr_all) = (credential("pharmacy", all), credential("prescriber", all));
        let (ph_no_ii, pr_no_ii) = (credential("pharmacy", without_ii), credential("prescriber", without_ii));
        assert!(check(&ph_all, &pr_all, 2).is_empty());
        // Schedule 0: no bit needed, even with no schedules at all.
        let (ph_none, pr_none) = (credential("pharmacy", 0), credential("prescriber", 0));
        assert!(check(&ph_none, &pr_none, 0).is_empty());
        // The pharmacy without schedule II; the prescriber whose schedule II was removed; both.
        let f = check(&ph_no_ii, &pr_all, 2);
        assert_eq!(reasons(&f), [Refusal::PharmacyLacksSchedule]);
        assert_eq!(
            f[0].message,
            format!(
                "pharmacy {pharmacy} is not registered for schedule II: its registration holds schedules III, \
                 IV, V (bitmap 0b00111000)"
            )
        );
        let f = check(&ph_all, &pr_no_ii, 2);
        assert_eq!(reasons(&f), [Refusal::PrescriberLacksSchedule]);
        assert_eq!(
            f[0].message,
            format!(
                "the prescriber {prescriber} no longer holds schedule II: its credential holds schedules III, \
                 IV, V (bitmap 0b00111000)"
            )
        );
        assert_eq!(
            reasons(&check(&ph_no_ii, &pr_no_ii, 2)),
            [Refusal::PharmacyLacksSchedule, Refusal::PrescriberLacksSchedule]
        );
        // Another schedule both hold passes; schedule V only.
        assert!(check(&ph_no_ii, &pr_no_ii, 4).is_empty());
        let only_v = credential("pharmacy", 0b0010_0000);
        assert_eq!(reasons(&check(&only_v, &pr_all, 3)), [Refusal::PharmacyLacksSchedule]);
        // A credential of the wrong kind is reported as not active, not also as lacking the schedule.
        assert_eq!(reasons(&check(&pr_none, &pr_all, 2)), [Refusal::PharmacyCredentialNotActive]);
        assert!(!credential("pharmacy", 0xff).holds_schedule(9), "out-of-range schedules are never held");
    }
}
