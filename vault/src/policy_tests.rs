use super::*;
use chrono::TimeZone;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn grant(scopes: u8, expires: Option<i64>) -> ConsentRow {
    ConsentRow {
        scopes: i16::from(scopes),
        expires_at: expires.map(t),
        revoked: false,
        emergency_until: None,
        updated_block: 7,
    }
}

fn facts(consent: Option<&ConsentRow>) -> Facts<'_> {
    Facts { is_patient: false, consent, credential: None, as_of: t(0), document: None }
}

fn credential(kind: &str, status: &str, expires: i64) -> Credential {
    Credential { kind: kind.into(), status: status.into(), expires_at: t(expires), schedules: 0b0011_1100 }
}

const ANCHORED: DocumentFacts = DocumentFacts { anchored: true, hidden: false, uploaded_by_caller: false };

#[test]
fn the_patient_always() {
    let revoked = credential("prescriber", "revoked", 100);
    let f = Facts {
        is_patient: true,
        document: Some(DocumentFacts { anchored: false, hidden: true, uploaded_by_caller: false }),
        credential: Some(&revoked),
        ..facts(None)
    };
    assert_eq!(decide(Action::Read, &f), Ok(Basis::Patient));
    assert_eq!(decide(Action::Write, &f), Ok(Basis::Patient));
}

#[test]
fn grantee_needs_a_current_read_grant() {
    let g = grant(scope::READ, Some(100));
    assert_eq!(decide(Action::Read, &facts(Some(&g))), Ok(Basis::Grant));
    assert_eq!(decide(Action::Read, &facts(None)), Err(Denial::NoGrant));
    let expired = grant(scope::READ, Some(0));
    assert_eq!(
        decide(Action::Read, &facts(Some(&expired))),
        Err(Denial::Expired),
        "expiry at as_of is expired"
    );
    let revoked = ConsentRow { scopes: 0, revoked: true, ..g };
    assert_eq!(decide(Action::Read, &facts(Some(&revoked))), Err(Denial::Revoked));
    let none = ConsentRow { scopes: 0, ..g };
    assert_eq!(decide(Action::Read, &facts(Some(&none))), Err(Denial::NoGrant));
    let write_only = grant(scope::WRITE, None);
    assert_eq!(decide(Action::Read, &facts(Some(&write_only))), Err(Denial::MissingScope("READ")));
    let forever = grant(scope::READ | scope::WRITE, None);
    assert_eq!(decide(Action::Read, &facts(Some(&forever))), Ok(Basis::Grant));
}

#[test]
fn uploads_need_write() {
    let read_only = grant(scope::READ, None);
    assert_eq!(decide(Action::Write, &facts(Some(&read_only))), Err(Denial::MissingScope("WRITE")));
    let rw = grant(scope::READ | scope::WRITE, Some(10));
    assert_eq!(decide(Action::Write, &facts(Some(&rw))), Ok(Basis::Grant));
    // Emergency access reads, it never writes.
    let emergency = ConsentRow { emergency_until: Some(t(60)), ..grant(0, None) };
    assert_eq!(decide(Action::Write, &facts(Some(&emergency))), Err(Denial::NoGrant));
}

#[test]
fn emergency_window() {
    let doctor = credential("prescriber", "active", 1_000);
    let by = |consent| Facts { credential: Some(&doctor), ..facts(consent) };
    let open = ConsentRow { emergency_until: Some(t(60)), ..grant(0, None) };
    assert_eq!(decide(Action::Read, &by(Some(&open))), Ok(Basis::Emergency));
    let closed = ConsentRow { emergency_until: Some(t(0)), ..grant(0, None) };
    assert_eq!(decide(Action::Read, &by(Some(&closed))), Err(Denial::NoGrant));
    // Emergency over a revoked grant still reads while open.
    let over_revoked = ConsentRow { revoked: true, emergency_until: Some(t(1)), ..grant(0, None) };
    assert_eq!(decide(Action::Read, &by(Some(&over_revoked))), Ok(Basis::Emergency));
}

/// The chain's `hasScope` grants emergency READ only while `isActive(grantee, Prescriber)`: that kind, status
/// active and `block.timestamp < expiresAt` ([start, end)). The vault's `as_of` is the latest indexed block.
#[test]
fn emergency_reads_need_an_active_prescriber_credential_at_as_of() {
    let open = ConsentRow { emergency_until: Some(t(60)), ..grant(0, None) };
    let read = |c: Option<&Credential>, as_of| {
        decide(Action::Read, &Facts { credential: c, as_of: t(as_of), ..facts(Some(&open)) })
    };
    // Expiring at 30: the last second before reads, the expiry second does not, though the window is open.
    let expiring = credential("prescriber", "active", 30);
    assert_eq!(read(Some(&expiring), 29), Ok(Basis::Emergency));
    assert_eq!(read(Some(&expiring), 30), Err(Denial::EmergencyCredential("expired")));
    assert_eq!(read(Some(&expiring), 45), Err(Denial::EmergencyCredential("expired")));
    // The window's end is exclusive too: at 60 it is closed whatever the credential.
    let lasting = credential("prescriber", "active", 1_000);
    assert_eq!(read(Some(&lasting), 59), Ok(Basis::Emergency));
    assert_eq!(read(Some(&lasting), 60), Err(Denial::NoGrant));
    // No credential, or a pharmacy's: refused, saying which.
    assert_eq!(read(None, 0), Err(Denial::EmergencyCredential("none")));
    let pharmacy = credential("pharmacy", "active", 1_000);
    assert_eq!(read(Some(&pharmacy), 0), Err(Denial::EmergencyCredential("not a prescriber's")));
    // Suspended or revoked: the credential refusal, as before.
    let suspended = credential("prescriber", "suspended", 1_000);
    assert_eq!(read(Some(&suspended), 0), Err(Denial::Credential("suspended")));
    // A grant without READ plus an open window with an expired credential: the credential is why.
    let write_and_open = ConsentRow { emergency_until: Some(t(60)), ..grant(scope::WRITE, None) };
    let f = Facts { credential: Some(&expiring), as_of: t(40), ..facts(Some(&write_and_open)) };
    assert_eq!(decide(Action::Read, &f), Err(Denial::EmergencyCredential("expired")));
    // A standing READ grant does not depend on the credential's expiry (hasScope's first branch).
    let g = grant(scope::READ, None);
    let f = Facts { credential: Some(&expiring), as_of: t(40), ..facts(Some(&g)) };
    assert_eq!(decide(Action::Read, &f), Ok(Basis::Grant));
    assert_eq!(Denial::EmergencyCredential("expired").code(), "emergency_credential");
    assert_eq!(
        Denial::EmergencyCredential("expired").to_string(),
        "emergency access needs an active prescriber credential; the caller's is expired"
    );
}

#[test]
fn credentials_hidden_and_pending() {
    let g = grant(scope::READ, None);
    for status in ["suspended", "revoked"] {
        let c = credential("prescriber", status, 1_000);
        let f = Facts { credential: Some(&c), ..facts(Some(&g)) };
        assert!(matches!(decide(Action::Read, &f), Err(Denial::Credential(_))), "{status}");
    }
    let active = credential("prescriber", "active", 1_000);
    let f = Facts { credential: Some(&active), document: Some(ANCHORED), ..facts(Some(&g)) };
    assert_eq!(decide(Action::Read, &f), Ok(Basis::Grant));
    let hidden = Facts { document: Some(DocumentFacts { hidden: true, ..ANCHORED }), ..facts(Some(&g)) };
    assert_eq!(decide(Action::Read, &hidden), Err(Denial::Hidden));
    let pending = DocumentFacts { anchored: false, ..ANCHORED };
    assert_eq!(
        decide(Action::Read, &Facts { document: Some(pending), ..facts(Some(&g)) }),
        Err(Denial::Pending)
    );
    let own = DocumentFacts { uploaded_by_caller: true, ..pending };
    assert_eq!(decide(Action::Read, &Facts { document: Some(own), ..facts(Some(&g)) }), Ok(Basis::Grant));
    // Without a grant, having uploaded it is not enough.
    assert_eq!(decide(Action::Read, &Facts { document: Some(own), ..facts(None) }), Err(Denial::NoGrant));
}
