//! The consent rule of `contracts/src/ConsentRegistry.sol`, evaluated off chain: what one patient has
//! granted one grantee, and whether it allows a scope at a given time. The API shows it, the vault enforces
//! it on every read and write.

use crate::dispense::Credential;
use chrono::{DateTime, Utc};

/// Scope bits of a grant, as the contract defines them.
pub mod scope {
    /// Read the patient's records.
    pub const READ: u8 = 1;
    /// Add records to the patient's episodes.
    pub const WRITE: u8 = 2;
    /// Issue prescriptions for the patient.
    pub const PRESCRIBE: u8 = 4;
}

/// What the chain holds of one (patient, grantee) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Consent {
    /// The standing grant's scope bits (0: none).
    pub scopes: u8,
    /// When the standing grant expires (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
    /// Whether the standing grant was revoked.
    pub revoked: bool,
    /// Until when emergency read access is open (`None`: never opened, or ended).
    pub emergency_until: Option<DateTime<Utc>>,
}

/// A consent's state at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// A standing grant is in force (and emergency access may be open too).
    Active,
    /// Only emergency access is open.
    Emergency,
    /// The standing grant has expired.
    Expired,
    /// The standing grant was revoked.
    Revoked,
    /// No grant (no scopes).
    None,
}

impl Consent {
    /// Whether the standing grant is in force at `t` (the contract: scopes set, not revoked, `t` before the
    /// expiry).
    pub fn grant_active(&self, t: DateTime<Utc>) -> bool {
        self.scopes != 0 && !self.revoked && self.expires_at.is_none_or(|e| t < e)
    }

    /// Whether emergency read access is open at `t` (`t` before its end).
    pub fn emergency_open(&self, t: DateTime<Utc>) -> bool {
        self.emergency_until.is_some_and(|u| t < u)
    }

    /// The status at `t`.
    pub fn status_at(&self, t: DateTime<Utc>) -> Status {
        if self.grant_active(t) {
            Status::Active
        } else if self.emergency_open(t) {
            Status::Emergency
        } else if self.revoked {
            Status::Revoked
        } else if self.scopes != 0 {
            Status::Expired
        } else {
            Status::None
        }
    }

    /// Whether open emergency access lets the grantee read at `t`: open, and the grantee's credential
    /// (`grantee`) active as a prescriber's at `t` — the contract's `hasScope` asks
    /// `isActive(grantee, Prescriber)`: that kind, status active, `t` before its expiry ([start, end)).
    pub fn emergency_allows(&self, t: DateTime<Utc>, grantee: Option<&Credential>) -> bool {
        self.emergency_open(t) && grantee.is_some_and(|c| c.active_as("prescriber", t))
    }

    /// Whether the consent allows `scope` (one of [`scope`]'s bits) at `t`, as the contract's `hasScope`: a
    /// standing grant in force that holds the bits, or — for [`scope::READ`] only — open emergency access
    /// of a grantee whose credential (`grantee`) is an active prescriber's at `t`.
    pub fn allows(&self, scope: u8, t: DateTime<Utc>, grantee: Option<&Credential>) -> bool {
        scope != 0
            && ((self.grant_active(t) && self.scopes & scope == scope)
                || (scope == scope::READ && self.emergency_allows(t, grantee)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid time")
    }

    #[test]
    fn status_and_scopes_follow_the_contract() {
        let read_write = scope::READ | scope::WRITE;
        // (consent, time, expected status, allows READ, allows WRITE, allows PRESCRIBE)
        let cases = [
            (Consent::default(), 100, Status::None, false, false, false),
            (Consent { scopes: read_write, ..Default::default() }, 100, Status::Active, true, true, false),
            (
                Consent { scopes: scope::READ, expires_at: Some(at(200)), ..Default::default() },
                199,
                Status::Active,
                true,
                false,
                false,
            ),
            // Expiry is exclusive: at the expiry second the grant is over.
            (
                Consent { scopes: scope::READ, expires_at: Some(at(200)), ..Default::default() },
                200,
                Status::Expired,
                false,
                false,
                false,
            ),
            (
                Consent { scopes: read_write, revoked: true, ..Default::default() },
                100,
                Status::Revoked,
                false,
                false,
                false,
            ),
            // Emergency access opens READ only, and only until its end.
            (
                Consent { emergency_until: Some(at(150)), ..Default::default() },
                149,
                Status::Emergency,
                true,
                false,
                false,
            ),
            (
                Consent { emergency_until: Some(at(150)), ..Default::default() },
                150,
                Status::None,
                false,
                false,
                false,
            ),
            (
                Consent {
                    scopes: scope::PRESCRIBE,
                    revoked: true,
                    emergency_until: Some(at(150)),
                    ..Default::default()
                },
                120,
                Status::Emergency,
                true,
                false,
                false,
            ),
            (
                Consent {
                    scopes: scope::PRESCRIBE,
                    revoked: true,
                    emergency_until: Some(at(150)),
                    ..Default::default()
                },
                160,
                Status::Revoked,
                false,
                false,
                false,
            ),
            (Consent { scopes: 7, ..Default::default() }, 100, Status::Active, true, true, true),
        ];
        let doctor = prescriber(at(1_000));
        let d = Some(&doctor);
        for (i, (consent, t, status, read, write, prescribe)) in cases.into_iter().enumerate() {
            let t = at(t);
            assert_eq!(consent.status_at(t), status, "case {i}");
            assert_eq!(consent.allows(scope::READ, t, d), read, "case {i} READ");
            assert_eq!(consent.allows(scope::WRITE, t, d), write, "case {i} WRITE");
            assert_eq!(consent.allows(scope::PRESCRIBE, t, d), prescribe, "case {i} PRESCRIBE");
            assert!(!consent.allows(0, t, d), "case {i}: the empty scope is never allowed, as hasScope");
        }
    }

    fn prescriber(expires_at: DateTime<Utc>) -> Credential {
        Credential { kind: "prescriber".into(), status: "active".into(), expires_at, schedules: 0 }
    }

    /// `hasScope(patient, grantee, READ_RECORDS)` through emergency access also requires
    /// `CREDENTIALS.isActive(grantee, Prescriber)`: kind, status, and `block.timestamp < expiresAt`.
    #[test]
    fn emergency_access_needs_the_grantees_prescriber_credential_active_then() {
        let open = Consent { emergency_until: Some(at(500)), ..Default::default() };
        let expiring = prescriber(at(300));
        // The credential's expiry is exclusive, as the contract's: the last second before it reads, the
        // expiry second does not, though emergency access is still open until 500.
        assert!(open.allows(scope::READ, at(299), Some(&expiring)));
        assert!(!open.allows(scope::READ, at(300), Some(&expiring)));
        assert!(!open.emergency_allows(at(300), Some(&expiring)));
        assert!(open.emergency_open(at(300)), "the window itself is still open");
        // Emergency access's own end is exclusive too, whatever the credential.
        let lasting = prescriber(at(1_000));
        assert!(open.allows(scope::READ, at(499), Some(&lasting)));
        assert!(!open.allows(scope::READ, at(500), Some(&lasting)));
        // No credential, a suspended or revoked one, or one of another kind: no emergency read.
        assert!(!open.allows(scope::READ, at(100), None));
        for status in ["suspended", "revoked"] {
            let c = Credential { status: status.into(), ..lasting.clone() };
            assert!(!open.allows(scope::READ, at(100), Some(&c)), "{status}");
        }
        let pharmacy = Credential { kind: "pharmacy".into(), ..lasting };
        assert!(!open.allows(scope::READ, at(100), Some(&pharmacy)));
        // A standing grant does not depend on the credential (hasScope's first branch).
        let granted = Consent { scopes: scope::READ, emergency_until: Some(at(500)), ..Default::default() };
        assert!(granted.allows(scope::READ, at(400), Some(&expiring)));
        assert!(granted.allows(scope::READ, at(400), None));
    }
}
