use super::*;
use crate::{devnet::anvil_test_signers, rx::MedicationRequest};
use alloy::primitives::B256;

fn cast() -> Cast {
    Cast::new(&anvil_test_signers()).unwrap()
}

#[test]
fn prescription_documents_parse_and_name_cast_members_in_their_roles() {
    let cast = cast();
    let role = |a| cast.by_address(a).map(|m| m.role);
    let mut n = 0;
    for doc in DOCUMENTS.iter().filter(|d| d.kind == DocumentKind::Prescription) {
        let rx = MedicationRequest::parse(doc.text).unwrap_or_else(|e| panic!("{}: {e}", doc.name));
        rx.resolved(chrono::Utc::now()).unwrap_or_else(|e| panic!("{}: {e}", doc.name));
        assert_eq!(role(rx.subject.account), Some(Role::Patient), "{}", doc.name);
        let patient = cast.by_address(rx.subject.account).unwrap();
        assert_eq!(rx.subject.display, patient.name, "{}: the patient's name", doc.name);
        assert_eq!(role(rx.requester.account), Some(Role::Prescriber), "{}", doc.name);
        if let Some(p) = &rx.dispense_request.performer {
            assert_eq!(role(p.account), Some(Role::Pharmacy), "{}", doc.name);
        }
        n += 1;
    }
    assert_eq!(n, 5);
}

#[test]
fn encounter_documents_are_json_about_a_cast_patient() {
    let cast = cast();
    let patients: Vec<_> =
        cast.members().into_iter().filter(|m| m.role == Role::Patient).map(|m| m.name).collect();
    for doc in DOCUMENTS.iter().filter(|d| d.kind == DocumentKind::Encounter) {
        let v: serde_json::Value =
            serde_json::from_str(doc.text).unwrap_or_else(|e| panic!("{}: {e}", doc.name));
        let name = v["subject"]["display"].as_str().unwrap();
        assert!(patients.contains(&name), "{}: {name} is not a cast patient", doc.name);
    }
}

#[test]
fn cast_is_anvils_accounts_in_order_and_needs_ten() {
    let signers = anvil_test_signers();
    let cast = Cast::new(&signers).unwrap();
    for (m, s) in cast.members().iter().zip(&signers) {
        assert_eq!(m.address(), s.address());
    }
    assert!(Cast::new(&signers[..9]).is_err());
}

#[test]
fn salted_hash_depends_on_salt_and_content() {
    let a = salted_hash(B256::repeat_byte(1), b"note");
    assert_ne!(a, salted_hash(B256::repeat_byte(2), b"note"));
    assert_ne!(a, salted_hash(B256::repeat_byte(1), b"notes"));
    assert_eq!(a, alloy::primitives::keccak256([[1u8; 32].as_slice(), b"note"].concat()));
}
