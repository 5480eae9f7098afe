//! `consents`: what one patient has granted one grantee in `ConsentRegistry`, and its `consent_history`
//! (one row per grant, revocation, emergency opening and end).
//!
//! The registry's rules the fold mirrors: a grant replaces the pair's scopes and expiry; a revocation clears
//! them; both leave emergency access as it is; emergency access is opened (with its reason code and the
//! salted hash of its justification) and ended on its own; the patient's block list is a flag per pair
//! (blocking ends open access: the registry then emits `EmergencyAccessEnded` too); a reviewer's flag is
//! counted on the pair and recorded in the history with the reviewer and the finding's code. The row is
//! the stored state only: whether a consent is in force at a time (expiry, emergency end) is
//! `medledger_core::consent`'s to evaluate.

use super::Ev;
use crate::error::IndexerError;
use chrono::{DateTime, Utc};

/// A row of `consents`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Consent {
    pub(super) patient: Vec<u8>,
    pub(super) grantee: Vec<u8>,
    pub(super) scopes: i16,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) granted_at: Option<DateTime<Utc>>,
    pub(super) granted_block: Option<i64>,
    pub(super) granted_relayed: Option<bool>,
    pub(super) revoked: bool,
    pub(super) revoked_at: Option<DateTime<Utc>>,
    pub(super) revoked_relayed: Option<bool>,
    pub(super) emergency_until: Option<DateTime<Utc>>,
    pub(super) emergency_reason: Option<i32>,
    pub(super) emergency_opened_at: Option<DateTime<Utc>>,
    pub(super) emergency_ended_at: Option<DateTime<Utc>>,
    pub(super) emergency_ended_by: Option<Vec<u8>>,
    pub(super) emergency_justification: Option<Vec<u8>>,
    pub(super) emergency_blocked: bool,
    pub(super) emergency_flags: i32,
    pub(super) updated_block: i64,
}

/// One row of `consent_history`.
#[derive(Debug)]
pub(super) struct ConsentChange {
    pub(super) block_number: i64,
    pub(super) log_index: i32,
    pub(super) patient: Vec<u8>,
    pub(super) grantee: Vec<u8>,
    pub(super) action: &'static str,
    pub(super) scopes: Option<i16>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) relayed: Option<bool>,
    pub(super) reason_code: Option<i32>,
    pub(super) ended_by: Option<Vec<u8>>,
    pub(super) justification_hash: Option<Vec<u8>>,
    pub(super) reviewer: Option<Vec<u8>>,
    pub(super) flagged_opened_at: Option<DateTime<Utc>>,
    pub(super) finding_code: Option<i32>,
    pub(super) block_time: DateTime<Utc>,
    pub(super) tx_hash: Vec<u8>,
}

pub(super) fn consent_change(e: &Ev<'_>) -> Result<Option<ConsentChange>, IndexerError> {
    let action = match e.event_name {
        "ConsentGranted" => "granted",
        "ConsentRevoked" => "revoked",
        "EmergencyAccessOpened" => "emergency_opened",
        "EmergencyAccessEnded" => "emergency_ended",
        "EmergencyAccessBlockChanged" if e.flag("blocked")? => "emergency_blocked",
        "EmergencyAccessBlockChanged" => "emergency_unblocked",
        "EmergencyAccessFlagged" => "emergency_flagged",
        _ => return Ok(None),
    };
    let flagged = e.event_name == "EmergencyAccessFlagged";
    Ok(Some(ConsentChange {
        block_number: e.block_number,
        log_index: e.log_index,
        patient: e.bytes("patient")?,
        grantee: e.bytes("grantee")?,
        action,
        scopes: e.opt_small("scopes")?,
        expires_at: e.opt_time("expiresAt")?,
        relayed: e.opt_flag("relayed")?,
        reason_code: e.opt_int4("reasonCode")?,
        ended_by: e.opt_bytes("endedBy")?,
        justification_hash: e.opt_bytes("justificationHash")?,
        reviewer: e.opt_bytes("reviewer")?,
        flagged_opened_at: if flagged { Some(e.time("openedAt")?) } else { None },
        finding_code: e.opt_int4("findingCode")?,
        block_time: e.block_time,
        tx_hash: e.tx_hash.to_vec(),
    }))
}

pub(super) fn fold_consent(row: &mut Option<Consent>, e: &Ev<'_>) -> Result<(), IndexerError> {
    if !matches!(
        e.event_name,
        "ConsentGranted"
            | "ConsentRevoked"
            | "EmergencyAccessOpened"
            | "EmergencyAccessEnded"
            | "EmergencyAccessBlockChanged"
            | "EmergencyAccessFlagged"
    ) {
        return Ok(());
    }
    let c = match row {
        Some(c) => c,
        None => row.insert(Consent {
            patient: e.bytes("patient")?,
            grantee: e.bytes("grantee")?,
            scopes: 0,
            expires_at: None,
            granted_at: None,
            granted_block: None,
            granted_relayed: None,
            revoked: false,
            revoked_at: None,
            revoked_relayed: None,
            emergency_until: None,
            emergency_reason: None,
            emergency_opened_at: None,
            emergency_ended_at: None,
            emergency_ended_by: None,
            emergency_justification: None,
            emergency_blocked: false,
            emergency_flags: 0,
            updated_block: e.block_number,
        }),
    };
    match e.event_name {
        "ConsentGranted" => {
            c.scopes = e.small("scopes")?;
            c.expires_at = Some(e.time("expiresAt")?);
            c.granted_at = Some(e.block_time);
            c.granted_block = Some(e.block_number);
            c.granted_relayed = Some(e.flag("relayed")?);
            c.revoked = false;
            c.revoked_at = None;
            c.revoked_relayed = None;
        }
        "ConsentRevoked" => {
            c.scopes = 0;
            c.expires_at = None;
            c.granted_at = None;
            c.granted_block = None;
            c.granted_relayed = None;
            c.revoked = true;
            c.revoked_at = Some(e.block_time);
            c.revoked_relayed = Some(e.flag("relayed")?);
        }
        "EmergencyAccessOpened" => {
            c.emergency_until = Some(e.time("expiresAt")?);
            c.emergency_reason = e.opt_int4("reasonCode")?;
            c.emergency_justification = e.opt_bytes("justificationHash")?;
            c.emergency_opened_at = Some(e.block_time);
            c.emergency_ended_at = None;
            c.emergency_ended_by = None;
        }
        "EmergencyAccessBlockChanged" => c.emergency_blocked = e.flag("blocked")?,
        "EmergencyAccessFlagged" => c.emergency_flags += 1,
        _ => {
            c.emergency_until = None;
            c.emergency_reason = None;
            c.emergency_justification = None;
            c.emergency_opened_at = None;
            c.emergency_ended_at = Some(e.block_time);
            c.emergency_ended_by = Some(e.bytes("endedBy")?);
        }
    }
    c.updated_block = c.updated_block.max(e.block_number);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::event::fixture::{addr, block_time, fold, hex, history, Case, Log, T0};
    use medledger_core::consent::{self as rule, Status};
    use serde_json::{json, Value};

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    /// The pair's key: patient ‖ grantee.
    fn key() -> Vec<u8> {
        [addr(0xaa), addr(0xbb)].concat()
    }

    /// `ConsentRegistry.<event>` of the patient 0xaa… and the grantee 0xbb… in `block`.
    fn log(event: &'static str, block: i64, mut args: Value) -> Log {
        args["patient"] = hex(&addr(0xaa));
        args["grantee"] = hex(&addr(0xbb));
        Log::new("ConsentRegistry", event, key(), args).at(block)
    }
    fn granted(block: i64, scopes: i64, expires: i64, relayed: bool) -> Log {
        log("ConsentGranted", block, json!({"scopes": scopes, "expiresAt": T0 + expires, "relayed": relayed}))
    }
    fn revoked(block: i64, relayed: bool) -> Log {
        log("ConsentRevoked", block, json!({"relayed": relayed}))
    }
    /// The justification's salted hash of an opening with reason `reason`.
    fn justification(reason: i64) -> Vec<u8> {
        vec![u8::try_from(reason).unwrap_or(0); 32]
    }
    fn opened(block: i64, reason: i64, until: i64) -> Log {
        let args = json!({"reasonCode": reason, "justificationHash": hex(&justification(reason)),
            "expiresAt": T0 + until});
        log("EmergencyAccessOpened", block, args)
    }
    fn block_changed(block: i64, blocked: bool) -> Log {
        log("EmergencyAccessBlockChanged", block, json!({"blocked": blocked}))
    }
    fn flagged(block: i64, opened_at: i64, finding: i64) -> Log {
        let args = json!({"reviewer": hex(&addr(0xcc)), "openedAt": T0 + opened_at, "findingCode": finding});
        log("EmergencyAccessFlagged", block, args)
    }
    fn ended(block: i64, by: u8) -> Log {
        log("EmergencyAccessEnded", block, json!({"endedBy": hex(&addr(by))}))
    }

    /// A pair's row with nothing set, as of `block`.
    fn empty(block: i64) -> Consent {
        Consent {
            patient: addr(0xaa),
            grantee: addr(0xbb),
            scopes: 0,
            expires_at: None,
            granted_at: None,
            granted_block: None,
            granted_relayed: None,
            revoked: false,
            revoked_at: None,
            revoked_relayed: None,
            emergency_until: None,
            emergency_reason: None,
            emergency_opened_at: None,
            emergency_ended_at: None,
            emergency_ended_by: None,
            emergency_justification: None,
            emergency_blocked: false,
            emergency_flags: 0,
            updated_block: block,
        }
    }

    fn grant(c: &mut Consent, block: i64, scopes: i16, expires: i64, relayed: bool) {
        (c.scopes, c.expires_at) = (scopes, Some(at(T0 + expires)));
        (c.granted_at, c.granted_block, c.granted_relayed) =
            (Some(block_time(block)), Some(block), Some(relayed));
    }

    fn emergency(c: &mut Consent, block: i64, reason: i32, until: i64) {
        (c.emergency_until, c.emergency_reason) = (Some(at(T0 + until)), Some(reason));
        c.emergency_justification = Some(justification(reason.into()));
        c.emergency_opened_at = Some(block_time(block));
    }

    /// Each rule of the registry: the pair's events, and the row they leave (from an empty one as of the last
    /// event's block).
    #[test]
    fn the_row_follows_the_registry_rules() {
        let cases: Vec<Case<Consent>> = vec![
            ("grant: scopes, expiry, when and how granted", vec![granted(1, 0b101, 900, false)], |c| {
                grant(c, 1, 0b101, 900, false);
            }),
            ("grant relayed with the patient's signature", vec![granted(1, 1, 900, true)], |c| {
                grant(c, 1, 1, 900, true);
            }),
            (
                "a new grant replaces scopes and expiry",
                vec![granted(1, 7, 900, false), granted(2, 1, 50, true)],
                |c| {
                    grant(c, 2, 1, 50, true);
                },
            ),
            ("revocation clears the grant", vec![granted(1, 7, 900, false), revoked(2, true)], |c| {
                (c.revoked, c.revoked_at, c.revoked_relayed) = (true, Some(block_time(2)), Some(true));
            }),
            (
                "a grant after a revocation clears the revocation",
                vec![granted(1, 7, 900, false), revoked(2, false), granted(3, 2, 400, false)],
                |c| grant(c, 3, 2, 400, false),
            ),
            (
                "emergency access opens beside the grant",
                vec![granted(1, 4, 900, false), opened(2, 3, 600)],
                |c| {
                    grant(c, 1, 4, 900, false);
                    emergency(c, 2, 3, 600);
                },
            ),
            ("emergency access without a grant: no scopes", vec![opened(1, 3, 600)], |c| {
                emergency(c, 1, 3, 600);
            }),
            ("emergency access ended: who ended it and when", vec![opened(1, 3, 600), ended(2, 0xaa)], |c| {
                (c.emergency_ended_at, c.emergency_ended_by) = (Some(block_time(2)), Some(addr(0xaa)));
            }),
            (
                "a grant keeps open emergency access",
                vec![opened(1, 3, 600), granted(2, 1, 900, false)],
                |c| {
                    emergency(c, 1, 3, 600);
                    grant(c, 2, 1, 900, false);
                },
            ),
            (
                "a revocation keeps open emergency access",
                vec![granted(1, 1, 900, false), opened(2, 3, 600), revoked(3, false)],
                |c| {
                    emergency(c, 2, 3, 600);
                    (c.revoked, c.revoked_at, c.revoked_relayed) = (true, Some(block_time(3)), Some(false));
                },
            ),
            (
                "emergency access opened again: the earlier end forgotten",
                vec![opened(1, 3, 600), ended(2, 0xbb), opened(3, 5, 700)],
                |c| emergency(c, 3, 5, 700),
            ),
            ("the patient blocks a grantee with no consent: a row", vec![block_changed(1, true)], |c| {
                c.emergency_blocked = true;
            }),
            (
                "blocking ends open access (the registry emits the end after the block)",
                vec![granted(1, 1, 900, false), opened(2, 3, 600), block_changed(3, true), ended(3, 0xaa)],
                |c| {
                    grant(c, 1, 1, 900, false);
                    c.emergency_blocked = true;
                    (c.emergency_ended_at, c.emergency_ended_by) = (Some(block_time(3)), Some(addr(0xaa)));
                },
            ),
            ("unblocked again", vec![block_changed(1, true), block_changed(2, false)], |_| {}),
            (
                "reviewers' flags are counted; the access itself is left as it is",
                vec![opened(1, 3, 600), flagged(2, 1, 4), flagged(3, 1, 9)],
                |c| {
                    emergency(c, 1, 3, 600);
                    c.emergency_flags = 2;
                },
            ),
        ];
        for (rule, events, change) in cases {
            let last = events.last().map_or(0, |l| l.block);
            let mut want = empty(last);
            change(&mut want);
            assert_eq!(fold(&events).consents[&key()], Some(want), "{rule}");
        }
    }

    /// The row is the stored state: time passing is no event. Whether the consent is in force at a time is
    /// `medledger_core::consent`'s to say, from the row (here: before and after the grant's and the
    /// emergency's ends, which the fold leaves as they were).
    #[test]
    fn expiry_is_evaluated_from_the_row_not_folded() {
        let row = fold(&[granted(1, 0b011, 900, false), opened(2, 3, 600)]).consents[&key()].clone();
        let Some(c) = row else { panic!("no consent row") };
        let stored = rule::Consent {
            scopes: u8::try_from(c.scopes).unwrap_or(0),
            expires_at: c.expires_at,
            revoked: c.revoked,
            emergency_until: c.emergency_until,
        };
        let status = |t| stored.status_at(at(T0 + t));
        assert_eq!(
            (status(100), status(899), status(900)),
            (Status::Active, Status::Active, Status::Expired)
        );
        assert!(
            stored.allows(rule::scope::WRITE, at(T0 + 899), None)
                && !stored.allows(rule::scope::WRITE, at(T0 + 900), None)
        );
        let revoked =
            fold(&[granted(1, 1, 900, false), opened(2, 3, 600), revoked(3, false)]).consents[&key()].clone();
        let Some(r) = revoked else { panic!("no consent row") };
        let stored = rule::Consent {
            scopes: 0,
            expires_at: r.expires_at,
            revoked: r.revoked,
            emergency_until: r.emergency_until,
        };
        assert_eq!(
            (stored.status_at(at(T0 + 599)), stored.status_at(at(T0 + 600))),
            (Status::Emergency, Status::Revoked)
        );
    }

    /// One `consent_history` row per grant, revocation, emergency opening and end, block list change and
    /// reviewer's flag, with the event's terms; none for a nonce invalidation.
    #[test]
    fn one_history_row_per_change() {
        type Terms = (Option<i16>, Option<i64>, Option<bool>, Option<i32>, Option<Vec<u8>>);
        let cases: Vec<(Log, &str, Terms)> = vec![
            (granted(1, 5, 900, true), "granted", (Some(5), Some(T0 + 900), Some(true), None, None)),
            (revoked(2, false), "revoked", (None, None, Some(false), None, None)),
            (opened(3, 7, 600), "emergency_opened", (None, Some(T0 + 600), None, Some(7), None)),
            (ended(4, 0xbb), "emergency_ended", (None, None, None, None, Some(addr(0xbb)))),
        ];
        for (l, action, (scopes, expires, relayed, reason, ended_by)) in cases {
            let h = history(std::slice::from_ref(&l));
            let [c] = h.consent.as_slice() else { panic!("{action}: {} rows", h.consent.len()) };
            assert_eq!((c.action, c.scopes, c.expires_at), (action, scopes, expires.map(at)), "{action}");
            assert_eq!((c.relayed, c.reason_code, &c.ended_by), (relayed, reason, &ended_by), "{action}");
            assert_eq!((c.patient.clone(), c.grantee.clone()), (addr(0xaa), addr(0xbb)), "{action}");
            assert_eq!((c.block_number, c.block_time), (l.block, block_time(l.block)), "{action}");
        }
        // The emergency's own terms: the justification of an opening, the reviewer's finding of a flag.
        let h =
            history(&[opened(3, 7, 600), block_changed(5, true), block_changed(6, false), flagged(7, 1, 9)]);
        let actions: Vec<_> = h.consent.iter().map(|c| c.action).collect();
        assert_eq!(
            actions,
            ["emergency_opened", "emergency_blocked", "emergency_unblocked", "emergency_flagged"]
        );
        assert_eq!(h.consent[0].justification_hash, Some(justification(7)));
        let flag = &h.consent[3];
        assert_eq!(
            (&flag.reviewer, flag.flagged_opened_at, flag.finding_code, &flag.justification_hash),
            (&Some(addr(0xcc)), Some(at(T0 + 1)), Some(9), &None)
        );
        assert!(h.consent[1..3].iter().all(|c| c.reviewer.is_none() && c.finding_code.is_none()));
        let nonces = log("NoncesInvalidated", 5, json!({"previousNonce": "3", "newNonce": "9"}));
        assert!(consent_change(&nonces.ev()).is_ok_and(|c| c.is_none()));
    }
}
