#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use alloy::{
    dyn_abi::TypedData,
    primitives::{address, Address, B256, U256},
};
use chrono::{DateTime, TimeDelta, Utc};

const AMOXICILLIN: &str = include_str!("../../examples/rx/amoxicillin.json");
const OXYCODONE: &str = include_str!("../../examples/rx/oxycodone.json");
const CONTRACT: Address = address!("0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9");

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 0).unwrap()
}

fn copy_of(text: &str) -> PatientCopy {
    let doc = MedicationRequest::parse(text).unwrap();
    PatientCopy::new(&doc, 31337, CONTRACT, now(), B256::repeat_byte(0x5a), U256::from(7)).unwrap()
}

#[test]
fn examples_convert_to_terms() {
    let amox = copy_of(AMOXICILLIN);
    let p = amox.prescription();
    assert_eq!(p.content.rxnormCode, "308191");
    assert_eq!(p.content.quantity, 30);
    assert!(p.content.substitutionAllowed);
    assert_eq!((p.fills, p.quantityPerFill, p.schedule), (2, 30, 0));
    assert_eq!(p.earliestFillAt, 1_800_000_000);
    assert_eq!(p.validUntil, 1_800_000_000 + 90 * 86_400);
    assert_eq!(p.minFillInterval, 10 * 86_400);
    assert_eq!(p.pharmacy, Address::ZERO);
    assert_eq!(amox.rx_id(), prescription_id(&domain(31337, CONTRACT), &p.terms()));
    assert_eq!(amox.content_hash(), p.terms().contentHash);

    let oxy = copy_of(OXYCODONE);
    let p = oxy.prescription();
    assert_eq!((p.fills, p.schedule), (1, 2));
    assert!(!p.content.substitutionAllowed);
    assert_eq!(p.pharmacy, address!("0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"));
    assert_ne!(oxy.rx_id(), amox.rx_id());
}

#[test]
fn salt_changes_the_hashes() {
    let doc = MedicationRequest::parse(AMOXICILLIN).unwrap();
    let a = PatientCopy::new(&doc, 31337, CONTRACT, now(), random_salt(), U256::ZERO).unwrap();
    let b = PatientCopy::new(&doc, 31337, CONTRACT, now(), random_salt(), U256::ZERO).unwrap();
    assert_ne!(a.salt(), b.salt());
    assert_ne!(a.content_hash(), b.content_hash());
    assert_ne!(a.rx_id(), b.rx_id());
}

#[test]
fn patient_copy_round_trips_and_detects_edits() {
    let mut copy = copy_of(AMOXICILLIN);
    copy.set_issued(Issued { tx_hash: B256::repeat_byte(1), block_number: 9 });
    let text = copy.to_json();
    assert_eq!(PatientCopy::parse(&text).unwrap(), copy);
    // The resolved document has an absolute validity and no duration.
    assert!(text.contains("\"validityPeriod\"") && !text.contains("validityDuration"));

    let edited = text.replace("\"value\": 30", "\"value\": 300");
    assert_ne!(edited, text);
    match PatientCopy::parse(&edited) {
        Err(RxError::Altered { field: "contentHash", .. }) => {}
        other => panic!("expected an altered content hash, got {other:?}"),
    }
    // Addresses are written EIP-55 checksummed.
    assert!(
        text.contains(&CONTRACT.to_checksum(None)) && !text.contains(&format!("{CONTRACT:#x}")),
        "{text}"
    );
    let moved = text.replace(&CONTRACT.to_checksum(None), &format!("{:#x}", Address::repeat_byte(3)));
    assert_ne!(moved, text);
    match PatientCopy::parse(&moved) {
        Err(RxError::Altered { field: "rxId", .. }) => {}
        other => panic!("expected an altered rx id, got {other:?}"),
    }
}

#[test]
fn code_round_trips_and_rejects_damage() {
    let copy = copy_of(OXYCODONE);
    let ticket = copy.ticket();
    let code = ticket.to_code();
    assert!(code.starts_with(CODE_PREFIX));
    assert!(code.len() < 700, "code is {} characters", code.len());
    let back = Ticket::from_code(&code).unwrap();
    assert_eq!(back, ticket);
    assert_eq!(back.rx_id(), copy.rx_id());
    assert_eq!(Ticket::parse(&format!("  {code}\n")).unwrap(), ticket);
    assert_eq!(Ticket::parse(&copy.to_json()).unwrap(), ticket);

    // One character changed somewhere in the middle.
    let mut damaged: Vec<char> = code.chars().collect();
    let i = damaged.len() / 2;
    damaged[i] = if damaged[i] == 'A' { 'B' } else { 'A' };
    let damaged: String = damaged.into_iter().collect();
    let err = Ticket::from_code(&damaged).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");

    let err = Ticket::from_code(&code.replace("MEDRX2:", "MEDRX9:")).unwrap_err().to_string();
    assert!(err.contains("unsupported version MEDRX9"), "{err}");
    let err = Ticket::from_code(&code[..code.len() - 3]).unwrap_err().to_string();
    assert!(err.contains("checksum") || err.contains("base64"), "{err}");
    let err = Ticket::parse("hello").unwrap_err().to_string();
    assert!(err.contains("neither a patient copy"), "{err}");
}

#[test]
fn typed_data_is_wallet_json_with_the_rx_id_as_digest() {
    let copy = copy_of(AMOXICILLIN);
    let json = copy.typed_data();
    assert_eq!(json["primaryType"], "Prescription");
    assert_eq!(json["domain"]["chainId"], 31337);
    assert_eq!(json["domain"]["name"], "medledger Prescriptions");
    assert!(json["types"]["EIP712Domain"].is_array());
    assert!(json["types"]["PrescriptionContent"].is_array());
    assert_eq!(json["message"]["content"]["rxnormCode"], "308191");
    // What a wallet parses from it hashes to the rx id.
    let typed: TypedData = serde_json::from_value(json).unwrap();
    assert_eq!(typed.eip712_signing_hash().unwrap(), copy.rx_id());
}

fn err_of(text: &str) -> RxError {
    MedicationRequest::parse(text).unwrap_err()
}

#[test]
fn json_errors_name_line_column_and_field() {
    let text = AMOXICILLIN.replace("\"value\": 30", "\"value\": \"30\"");
    let line = text.lines().position(|l| l.contains("\"30\"")).unwrap() + 1;
    match err_of(&text) {
        RxError::Json { line: l, path, message, .. } => {
            assert_eq!(l, line);
            assert_eq!(path, "dispenseRequest.quantity.value");
            assert!(message.contains("invalid type"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let e = err_of(&AMOXICILLIN.replace("numberOfRepeatsAllowed", "numberOfRepeatAllowed"));
    let shown = e.to_string();
    assert!(
        shown.contains("dispenseRequest") && shown.contains("unknown field `numberOfRepeatAllowed`"),
        "{shown}"
    );
    assert!(shown.starts_with("prescription document: line 2"), "{shown}");

    let e = err_of(&AMOXICILLIN.replace("\"value\": 30", "\"value\": 0")).to_string();
    assert!(e.contains("dispenseRequest.quantity.value"), "{e}");
    let e = err_of(&AMOXICILLIN.replace(
        "\"unit\": \"d\" },\n    \"dispenseInterval\"",
        "\"unit\": \"days\" },\n    \"dispenseInterval\"",
    ))
    .to_string();
    assert!(
        e.contains("dispenseRequest.validityDuration.unit") && e.contains("unknown variant `days`"),
        "{e}"
    );
    let e = err_of("{\"resourceType\": \"MedicationRequest\",").to_string();
    assert!(e.contains("EOF"), "{e}");
    let e = err_of(&format!("{AMOXICILLIN} {{}}")).to_string();
    assert!(e.contains("trailing characters"), "{e}");
    let e = err_of(&AMOXICILLIN.replace("\"0x90F79bf6EB2c4f870365E785982E1f101E93b906\"", "\"0x90F7\""))
        .to_string();
    assert!(e.contains("subject.account"), "{e}");
}

#[test]
fn rule_errors_name_the_field() {
    let invalid_path = |text: &str| match err_of(text) {
        RxError::Invalid { path, message } => (path, message),
        other => panic!("{other:?}"),
    };
    let (path, message) =
        invalid_path(&OXYCODONE.replace("\"numberOfRepeatsAllowed\": 0", "\"numberOfRepeatsAllowed\": 1"));
    assert_eq!(path, "dispenseRequest.numberOfRepeatsAllowed");
    assert!(message.contains("schedule II allows at most 0 repeats"), "{message}");
    let (path, _) = invalid_path(&AMOXICILLIN.replace("\"code\": \"308191\"", "\"code\": \"abc\""));
    assert_eq!(path, "medication.coding.code");
    let (path, _) =
        invalid_path(&AMOXICILLIN.replace("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:other"));
    assert_eq!(path, "medication.coding");
    let (path, _) = invalid_path(&AMOXICILLIN.replace("\"display\": \"Ada Lovelace\"", "\"display\": \" \""));
    assert_eq!(path, "subject.display");
    let (path, _) =
        invalid_path(&AMOXICILLIN.replace("\"validityDuration\": { \"value\": 90, \"unit\": \"d\" },\n", ""));
    assert_eq!(path, "dispenseRequest.validityPeriod.end");
    let (path, _) = invalid_path(&AMOXICILLIN.replace(
        "\"validityDuration\": { \"value\": 90, \"unit\": \"d\" }",
        "\"validityDuration\": { \"value\": 90, \"unit\": \"d\" }, \"validityPeriod\": { \"end\": \"2030-01-01T00:00:00Z\" }",
    ));
    assert_eq!(path, "dispenseRequest.validityDuration");
    let (path, _) = invalid_path(&AMOXICILLIN.replace("\"dosageInstruction\": [\n    { \"text\": \"1 capsule by mouth three times daily for 10 days\" }\n  ]", "\"dosageInstruction\": []"));
    assert_eq!(path, "dosageInstruction");
}

#[test]
fn resolving_checks_time_rules() {
    let doc = MedicationRequest::parse(OXYCODONE).unwrap();
    let mut long = doc.clone();
    long.dispense_request.validity_duration = Some(Duration { value: 31, unit: TimeUnit::Day });
    match long.resolved(now()) {
        Err(RxError::Invalid { path, message }) => {
            assert_eq!(path, "dispenseRequest.validityPeriod.end");
            assert!(message.contains("at most 30 days"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let mut past = doc;
    past.dispense_request.validity_duration = None;
    past.dispense_request.validity_period.end = Some(now() - TimeDelta::days(1));
    let e = past.resolved(now()).unwrap_err().to_string();
    assert!(e.contains("already past"), "{e}");

    // An explicit start in the future is kept; the duration counts from it.
    let mut later = MedicationRequest::parse(AMOXICILLIN).unwrap();
    later.dispense_request.validity_period.start = Some(now() + TimeDelta::days(2));
    let r = later.resolved(now()).unwrap();
    assert_eq!(r.dispense_request.validity_period.end, Some(now() + TimeDelta::days(92)));
    // An unresolved document cannot be signed.
    let unresolved = MedicationRequest::parse(AMOXICILLIN).unwrap();
    assert!(unresolved.prescription(B256::ZERO, U256::ZERO).is_err());
}

/// The chain's schedule-authority reverts (issue 19, point 3) decode to the sentences the off-chain check
/// (`medledger_core::dispense::verify`, the API's `verifyPrescription`) gives for the same refusal.
#[test]
fn schedule_authority_reverts_decode_to_the_verification_sentences() {
    use alloy::sol_types::SolError;
    use medledger_core::bindings::Prescriptions;
    let rx_id = B256::repeat_byte(0x42);
    let who = address!("0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
    let prescriber = Prescriptions::Prescriptions__PrescriberLacksSchedule {
        rxId: rx_id,
        prescriber: who,
        schedule: 2,
        schedules: 0b0011_1000,
    };
    let said = explain_revert(&prescriber.abi_encode()).unwrap();
    assert_eq!(
        said,
        format!(
            "the prescriber {who} no longer holds schedule II: its credential holds schedules III, IV, V \
             (bitmap 0b00111000)"
        )
    );
    assert_eq!(said, medledger_core::schedule::prescriber_lacks_schedule(who, 2, 0b0011_1000));
    let pharmacy = Prescriptions::Prescriptions__PharmacyLacksSchedule {
        rxId: rx_id,
        pharmacy: who,
        schedule: 2,
        schedules: 0,
    };
    assert_eq!(
        explain_revert(&pharmacy.abi_encode()).unwrap(),
        format!("pharmacy {who} is not registered for schedule II: its registration holds no schedule (bitmap 0b00000000)")
    );
}
