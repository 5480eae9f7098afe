//! The consent rule of `contracts/src/ConsentRegistry.sol`, evaluated off chain: what one patient has
//! granted one grantee, and whether it allows a scope at a given time. The API shows it, the vault enforces
//! it on every read and write.

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

    /// Whether the consent allows `scope` (one of [`scope`]'s bits) at `t`: a standing grant in force that
    /// holds the bits, or — for [`scope::READ`] only — open emergency access.
    pub fn allows(&self, scope: u8, t: DateTime<Utc>) -> bool {
        scope != 0
            && ((self.grant_active(t) && self.scopes & scope == scope)
                || (scope == scope::READ && self.emergency_open(t)))
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
        for (i, (consent, t, status, read, write, prescribe)) in cases.into_iter().enumerate() {
            let t = at(t);
            assert_eq!(consent.status_at(t), status, "case {i}");
            assert_eq!(consent.allows(scope::READ, t), read, "case {i} READ");
            assert_eq!(consent.allows(scope::WRITE, t), write, "case {i} WRITE");
            assert_eq!(consent.allows(scope::PRESCRIBE, t), prescribe, "case {i} PRESCRIBE");
            assert!(!consent.allows(0, t), "case {i}: the empty scope is never allowed, as hasScope");
        }
    }
}
