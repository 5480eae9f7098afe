//! `credentials`: a prescriber's or pharmacy's credential as `CredentialRegistry` holds it, and its
//! `credential_history` (one row per change).
//!
//! The registry's rules the fold mirrors: a credential is registered once, `Active`; renewal replaces the
//! license hash and expiry and keeps the status (a suspended credential stays suspended); only an active
//! credential is suspended and only a suspended one reinstated; revocation is final. Expiry is no event:
//! whether a credential is active at a time is evaluated from the stored `expires_at` (`medledger_core`).

use super::Ev;
use crate::error::IndexerError;
use chrono::{DateTime, Utc};

/// A row of `credentials`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Credential {
    pub(super) account: Vec<u8>,
    pub(super) credential_id: i64,
    pub(super) kind: String,
    pub(super) status: String,
    pub(super) status_reason: Option<i32>,
    pub(super) license_hash: Vec<u8>,
    pub(super) jurisdiction: Vec<u8>,
    pub(super) expires_at: DateTime<Utc>,
    pub(super) schedules: i16,
    pub(super) registered_block: i64,
    pub(super) registered_at: DateTime<Utc>,
    pub(super) updated_block: i64,
    pub(super) updated_at: DateTime<Utc>,
}

/// One row of `credential_history`.
#[derive(Debug)]
pub(super) struct CredentialChange {
    pub(super) block_number: i64,
    pub(super) log_index: i32,
    pub(super) account: Vec<u8>,
    pub(super) credential_id: i64,
    pub(super) change: &'static str,
    pub(super) status: Option<&'static str>,
    pub(super) expires_at: Option<DateTime<Utc>>,
    pub(super) license_hash: Option<Vec<u8>>,
    pub(super) schedules: Option<i16>,
    pub(super) reason_code: Option<i32>,
    pub(super) block_time: DateTime<Utc>,
    pub(super) tx_hash: Vec<u8>,
}

pub(super) fn credential_change(e: &Ev<'_>) -> Result<CredentialChange, IndexerError> {
    let (change, status) = match e.event_name {
        "CredentialRegistered" => ("registered", Some("active")),
        "CredentialRenewed" => ("renewed", None),
        "CredentialSchedulesChanged" => ("schedules_changed", None),
        "CredentialSuspended" => ("suspended", Some("suspended")),
        "CredentialReinstated" => ("reinstated", Some("active")),
        _ => ("revoked", Some("revoked")),
    };
    Ok(CredentialChange {
        block_number: e.block_number,
        log_index: e.log_index,
        account: e.bytes("account")?,
        credential_id: e.credential_id.ok_or_else(|| e.bad("id"))?,
        change,
        status,
        expires_at: e.opt_time("expiresAt")?,
        license_hash: e.opt_bytes("licenseHash")?,
        schedules: e.opt_small("schedules")?,
        reason_code: e.opt_int4("reasonCode")?,
        block_time: e.block_time,
        tx_hash: e.tx_hash.to_vec(),
    })
}

pub(super) fn fold_credential(row: &mut Option<Credential>, e: &Ev<'_>) -> Result<(), IndexerError> {
    if e.event_name == "CredentialRegistered" {
        let kind = match e.int("kind")? {
            1 => "prescriber",
            2 => "pharmacy",
            _ => "unknown",
        };
        *row = Some(Credential {
            account: e.bytes("account")?,
            credential_id: e.credential_id.ok_or_else(|| e.bad("id"))?,
            kind: kind.to_owned(),
            status: "active".to_owned(),
            status_reason: None,
            license_hash: e.bytes("licenseHash")?,
            jurisdiction: e.bytes("jurisdiction")?,
            expires_at: e.time("expiresAt")?,
            schedules: e.small("schedules")?,
            registered_block: e.block_number,
            registered_at: e.block_time,
            updated_block: e.block_number,
            updated_at: e.block_time,
        });
        return Ok(());
    }
    // The registry emits nothing for an account before its registration.
    let Some(c) = row else { return Ok(()) };
    match e.event_name {
        "CredentialRenewed" => {
            c.license_hash = e.bytes("licenseHash")?;
            c.expires_at = e.time("expiresAt")?;
        }
        "CredentialSchedulesChanged" => c.schedules = e.small("schedules")?,
        "CredentialSuspended" => {
            c.status = "suspended".to_owned();
            c.status_reason = e.opt_int4("reasonCode")?;
        }
        "CredentialReinstated" => {
            c.status = "active".to_owned();
            c.status_reason = None;
        }
        "CredentialRevoked" => {
            c.status = "revoked".to_owned();
            c.status_reason = e.opt_int4("reasonCode")?;
        }
        _ => return Ok(()),
    }
    c.updated_block = e.block_number;
    c.updated_at = e.block_time;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::event::fixture::{
        addr, block_time, fold, hex, history, tx_hash, word, Case, Log, T0,
    };
    use serde_json::{json, Value};

    const ID: i64 = 7;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap_or_default()
    }

    /// `CredentialRegistry.<event>` of the account's credential in `block`.
    fn log(event: &'static str, block: i64, mut args: Value) -> Log {
        args["account"] = hex(&addr(0xa1));
        args["id"] = json!(ID);
        let mut l = Log::new("CredentialRegistry", event, addr(0xa1), args).at(block);
        l.credential_id = Some(ID);
        l
    }
    fn registered(kind: i64) -> Log {
        let args = json!({"kind": kind, "licenseHash": hex(&word(0x11)), "jurisdiction": hex(b"US-CA\0\0\0"),
                          "expiresAt": T0 + 1_000, "schedules": 0b1_1100});
        log("CredentialRegistered", 1, args)
    }
    fn renewed(block: i64) -> Log {
        log("CredentialRenewed", block, json!({"licenseHash": hex(&word(0x22)), "expiresAt": T0 + 9_000}))
    }
    fn schedules(block: i64, schedules: i64) -> Log {
        log("CredentialSchedulesChanged", block, json!({"schedules": schedules}))
    }
    fn suspended(block: i64, reason: i64) -> Log {
        log("CredentialSuspended", block, json!({"reasonCode": reason}))
    }
    fn reinstated(block: i64) -> Log {
        log("CredentialReinstated", block, json!({}))
    }
    fn revoked(block: i64, reason: i64) -> Log {
        log("CredentialRevoked", block, json!({"reasonCode": reason}))
    }

    /// The row of a prescriber's credential just registered in block 1.
    fn registered_row() -> Credential {
        Credential {
            account: addr(0xa1),
            credential_id: ID,
            kind: "prescriber".to_owned(),
            status: "active".to_owned(),
            status_reason: None,
            license_hash: word(0x11),
            jurisdiction: b"US-CA\0\0\0".to_vec(),
            expires_at: at(T0 + 1_000),
            schedules: 0b1_1100,
            registered_block: 1,
            registered_at: block_time(1),
            updated_block: 1,
            updated_at: block_time(1),
        }
    }

    fn updated(c: &mut Credential, block: i64) {
        (c.updated_block, c.updated_at) = (block, block_time(block));
    }

    /// Each rule of the registry: the events after a registration, and how they change the registered row.
    #[test]
    fn the_row_follows_the_registry_rules() {
        let cases: Vec<Case<Credential>> = vec![
            ("registration: active, every term from the event", vec![], |_| {}),
            ("renewal: new license hash and expiry, still active", vec![renewed(2)], |c| {
                (c.license_hash, c.expires_at) = (word(0x22), at(T0 + 9_000));
                updated(c, 2);
            }),
            (
                "renewal of a suspended credential keeps it suspended",
                vec![suspended(2, 9), renewed(3)],
                |c| {
                    (c.status, c.status_reason) = ("suspended".to_owned(), Some(9));
                    (c.license_hash, c.expires_at) = (word(0x22), at(T0 + 9_000));
                    updated(c, 3);
                },
            ),
            ("schedules changed", vec![schedules(2, 0b100)], |c| {
                c.schedules = 0b100;
                updated(c, 2);
            }),
            ("suspension, with its reason", vec![suspended(2, 9)], |c| {
                (c.status, c.status_reason) = ("suspended".to_owned(), Some(9));
                updated(c, 2);
            }),
            ("reinstatement: active again, the reason gone", vec![suspended(2, 9), reinstated(3)], |c| {
                updated(c, 3);
            }),
            (
                "suspended again: the latest reason",
                vec![suspended(2, 9), reinstated(3), suspended(4, 12)],
                |c| {
                    (c.status, c.status_reason) = ("suspended".to_owned(), Some(12));
                    updated(c, 4);
                },
            ),
            ("revocation, with its reason", vec![revoked(2, 4)], |c| {
                (c.status, c.status_reason) = ("revoked".to_owned(), Some(4));
                updated(c, 2);
            }),
            ("revocation of a suspended credential", vec![suspended(2, 9), revoked(3, 4)], |c| {
                (c.status, c.status_reason) = ("revoked".to_owned(), Some(4));
                updated(c, 3);
            }),
        ];
        for (rule, events, change) in cases {
            let logs: Vec<Log> = [registered(1)].into_iter().chain(events).collect();
            let mut want = registered_row();
            change(&mut want);
            assert_eq!(fold(&logs).credentials[&addr(0xa1)], Some(want), "{rule}");
        }
    }

    #[test]
    fn the_kind_is_named() {
        for (kind, name) in [(1, "prescriber"), (2, "pharmacy"), (0, "unknown"), (3, "unknown")] {
            let row = fold(&[registered(kind)]).credentials[&addr(0xa1)].clone();
            assert_eq!(row.map(|c| c.kind), Some(name.to_owned()), "kind {kind}");
        }
    }

    /// The registry emits nothing for an account before its registration: such an event moves no row.
    #[test]
    fn nothing_before_registration() {
        for l in [renewed(2), schedules(2, 4), suspended(2, 1), reinstated(2), revoked(2, 1)] {
            assert_eq!(fold(std::slice::from_ref(&l)).credentials[&addr(0xa1)], None, "{}", l.event);
        }
    }

    /// One `credential_history` row per event, naming the change and the status it leaves (none when the
    /// status does not change), with the event's own terms.
    #[test]
    fn one_history_row_per_change() {
        type Terms = (Option<i64>, Option<Vec<u8>>, Option<i16>, Option<i32>);
        let cases: Vec<(Log, &str, Option<&str>, Terms)> = vec![
            (
                registered(1),
                "registered",
                Some("active"),
                (Some(T0 + 1_000), Some(word(0x11)), Some(28), None),
            ),
            (renewed(2), "renewed", None, (Some(T0 + 9_000), Some(word(0x22)), None, None)),
            (schedules(2, 4), "schedules_changed", None, (None, None, Some(4), None)),
            (suspended(2, 9), "suspended", Some("suspended"), (None, None, None, Some(9))),
            (reinstated(2), "reinstated", Some("active"), (None, None, None, None)),
            (revoked(2, 4), "revoked", Some("revoked"), (None, None, None, Some(4))),
        ];
        for (l, change, status, (expires, license, schedules, reason)) in cases {
            let h = history(std::slice::from_ref(&l));
            let [c] = h.credential.as_slice() else { panic!("{change}: {} rows", h.credential.len()) };
            assert_eq!((c.change, c.status), (change, status), "{change}");
            assert_eq!((c.expires_at, &c.license_hash), (expires.map(at), &license), "{change}");
            assert_eq!((c.schedules, c.reason_code), (schedules, reason), "{change}");
            assert_eq!((c.account.as_slice(), c.credential_id), (addr(0xa1).as_slice(), ID), "{change}");
            assert_eq!(
                (c.block_number, c.block_time, &c.tx_hash),
                (l.block, block_time(l.block), &tx_hash(l.block))
            );
        }
    }
}
