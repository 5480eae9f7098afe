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
    Facts { is_patient: false, consent, credential_status: None, as_of: t(0), document: None }
}

const ANCHORED: DocumentFacts = DocumentFacts { anchored: true, hidden: false, uploaded_by_caller: false };

#[test]
fn the_patient_always() {
    let f = Facts {
        is_patient: true,
        document: Some(DocumentFacts { anchored: false, hidden: true, uploaded_by_caller: false }),
        credential_status: Some("revoked"),
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
    let open = ConsentRow { emergency_until: Some(t(60)), ..grant(0, None) };
    assert_eq!(decide(Action::Read, &facts(Some(&open))), Ok(Basis::Emergency));
    let closed = ConsentRow { emergency_until: Some(t(0)), ..grant(0, None) };
    assert_eq!(decide(Action::Read, &facts(Some(&closed))), Err(Denial::NoGrant));
    // Emergency over a revoked grant still reads while open.
    let over_revoked = ConsentRow { revoked: true, emergency_until: Some(t(1)), ..grant(0, None) };
    assert_eq!(decide(Action::Read, &facts(Some(&over_revoked))), Ok(Basis::Emergency));
}

#[test]
fn credentials_hidden_and_pending() {
    let g = grant(scope::READ, None);
    for status in ["suspended", "revoked"] {
        let f = Facts { credential_status: Some(status), ..facts(Some(&g)) };
        assert!(matches!(decide(Action::Read, &f), Err(Denial::Credential(_))), "{status}");
    }
    let f = Facts { credential_status: Some("active"), document: Some(ANCHORED), ..facts(Some(&g)) };
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
