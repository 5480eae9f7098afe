//! Schema-level tests through the router (no socket), against fixture rows in a migrated throwaway
//! database: every role's queries, time-dependent statuses, pagination, error codes, and DataLoader
//! batching (no N+1 statements).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod graphql_common;

use graphql_common::*;
use serde_json::{json, Value};

fn ts_str(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).unwrap().to_rfc3339()
}

const VERIFY: &str = "query($id: Bytes32!, $c: Bytes32!, $p: Address!, $at: DateTime) {
  verifyPrescription(id: $id, contentHash: $c, pharmacy: $p, at: $at) {
    valid failures { reason message } asOf at contentHashProven quantityAvailable
    prescription { id status }
  }
}";

async fn verify(
    app: &axum::Router,
    id: [u8; 32],
    content: [u8; 32],
    pharmacy: [u8; 20],
    at: Option<i64>,
) -> Value {
    let vars = json!({"id": a0x(&id), "c": a0x(&content), "p": a0x(&pharmacy), "at": at.map(ts_str)});
    data(app, VERIFY, vars).await["verifyPrescription"].clone()
}

fn reasons(v: &Value) -> Vec<&str> {
    v["failures"].as_array().unwrap().iter().map(|f| f["reason"].as_str().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prescription_lists_every_reason() {
    let f = fixture().await;
    let (app, _) = app(f.pool.clone());

    // Open fill at any pharmacy: valid, content proven by the recomputed EIP-712 digest, 20 units left.
    let v = verify(&app, f.rx_open, CONTENT, PHARM1, None).await;
    assert_eq!(v["valid"], true, "{v:#}");
    assert_eq!(v["contentHashProven"], true);
    assert_eq!(v["quantityAvailable"], 20);
    assert_eq!(v["asOf"], ts_str(T));
    assert_eq!(v["prescription"]["status"], "FILLABLE");

    // Same, wrong content hash; and a pharmacy whose credential is revoked.
    let v = verify(&app, f.rx_open, [0x34; 32], PHARM3, None).await;
    assert_eq!(reasons(&v), ["PHARMACY_CREDENTIAL_NOT_ACTIVE", "CONTENT_HASH_MISMATCH"]);
    assert_eq!(v["contentHashProven"], false);

    // Interval not elapsed, and another pharmacy designated.
    let v = verify(&app, f.rx_wait, CONTENT, PHARM2, None).await;
    assert_eq!(reasons(&v), ["FILL_INTERVAL_NOT_ELAPSED", "OTHER_PHARMACY_DESIGNATED"]);
    // ... but fine for the designated pharmacy 8 days later.
    let v = verify(&app, f.rx_wait, CONTENT, PHARM1, Some(T + 8 * DAY)).await;
    assert_eq!(v["valid"], true, "{v:#}");
    assert_eq!(v["quantityAvailable"], 30);

    // Not yet fillable; prescriber suspended after the issue (active at issue, not now).
    let v = verify(&app, f.rx_future, CONTENT, PHARM2, None).await;
    assert_eq!(reasons(&v), ["NOT_YET_FILLABLE", "PRESCRIBER_CREDENTIAL_NOT_ACTIVE_NOW"]);

    // Cancelled and expired; every dispensed; unknown.
    let v = verify(&app, f.rx_dead, CONTENT, PHARM1, None).await;
    assert_eq!(reasons(&v), ["CANCELLED", "EXPIRED"]);
    assert_eq!(v["prescription"]["status"], "CANCELLED");
    let v = verify(&app, f.rx_done, CONTENT, PHARM1, None).await;
    assert_eq!(reasons(&v), ["NOTHING_LEFT"]);
    let v = verify(&app, [0x42; 32], CONTENT, PHARM1, None).await;
    assert_eq!(reasons(&v), ["UNKNOWN_PRESCRIPTION"]);
    assert_eq!(v["prescription"], Value::Null);
}

/// One fill of 20 by DOCTOR to PATIENT_A, fillable from yesterday for 20 days.
fn twenty_tablets(
    schedule: u8,
    nonce: u64,
    block: i64,
    pharmacy: Option<[u8; 20]>,
    content: [u8; 32],
) -> RxSpec {
    RxSpec {
        patient: PATIENT_A,
        prescriber: DOCTOR,
        pharmacy,
        fills: 1,
        qpf: 20,
        earliest: T - DAY,
        valid_until: T + 20 * DAY,
        interval: 0,
        schedule,
        nonce,
        block,
        content,
    }
}

/// Issue 19, point 1: given the content itself, `verifyPrescription` proves its hash and checks the schedule
/// the terms declare against the controlled-substance table, with the sentence `medledger rx verify` prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prescription_checks_the_declared_schedule_from_the_content() {
    use medledger_core::{eip712::PrescriptionContent, schedule};
    let f = fixture().await;
    let content = PrescriptionContent {
        patientName: "Maria Alvarez".into(),
        patientIdentifier: "MRN-1".into(),
        rxnormCode: "1049621".into(),
        drugName: "oxycodone hydrochloride".into(),
        strength: "5 mg".into(),
        dosageInstructions: "1 tablet every 6 hours as needed".into(),
        quantity: 20,
        unit: "tablet".into(),
        substitutionAllowed: false,
        salt: [0x5a; 32].into(),
    };
    let hash = content.content_hash().0;
    let spec = |schedule, nonce, block| twenty_tablets(schedule, nonce, block, Some(PHARM1), hash);
    let mut s = Sql(String::new());
    // Oxycodone declared "not controlled" (the chain cannot tell), and declared schedule II.
    let mislabelled = s.prescription(&spec(0, 90, 85), 0, 0, false);
    let labelled = s.prescription(&spec(2, 91, 86), 0, 0, false);
    sqlx::raw_sql(&s.0).execute(&f.pool).await.unwrap();
    let (app, _) = app(f.pool.clone());

    let input = |c: &PrescriptionContent| {
        json!({
            "patientName": c.patientName, "patientIdentifier": c.patientIdentifier, "rxnormCode": c.rxnormCode,
            "drugName": c.drugName, "strength": c.strength, "dosageInstructions": c.dosageInstructions,
            "quantity": c.quantity, "unit": c.unit, "substitutionAllowed": c.substitutionAllowed,
            "salt": c.salt.to_string(),
        })
    };
    const Q: &str = "query($id: Bytes32!, $c: Bytes32, $content: PrescriptionContentInput, $p: Address!) {
      verifyPrescription(id: $id, contentHash: $c, content: $content, pharmacy: $p) {
        valid failures { reason message } contentHashProven scheduleTable quantityAvailable } }";
    let ask = |id: [u8; 32], c: Option<[u8; 32]>, content: Option<Value>| json!({"id": a0x(&id), "c": c.map(|c| a0x(&c)), "content": content, "p": a0x(&PHARM1)});

    let v = data(&app, Q, ask(mislabelled, None, Some(input(&content)))).await["verifyPrescription"].clone();
    assert_eq!(reasons(&v), ["SCHEDULE_MISMATCH"], "{v:#}");
    let expected = schedule::check_declared("1049621", 0).unwrap_err().message;
    assert_eq!(v["failures"][0]["message"], expected.as_str());
    assert!(expected.contains("oxycodone") && expected.contains("declares it not controlled"), "{expected}");
    assert_eq!(v["contentHashProven"], true);
    assert_eq!(v["scheduleTable"], schedule::table_version());
    assert_eq!((v["valid"].clone(), v["quantityAvailable"].clone()), (json!(false), json!(0)));
    // The content and its hash together, agreeing: the same verdict.
    let both = data(&app, Q, ask(mislabelled, Some(hash), Some(input(&content)))).await;
    assert_eq!(both["verifyPrescription"], v);

    // Declared schedule II: the table agrees.
    let v = data(&app, Q, ask(labelled, None, Some(input(&content)))).await["verifyPrescription"].clone();
    assert_eq!(
        (v["valid"].clone(), v["scheduleTable"].clone()),
        (json!(true), json!(schedule::table_version()))
    );
    assert_eq!(v["quantityAvailable"], 20);

    // The hash alone proves no drug: nothing to check the schedule against (`scheduleTable` null).
    let v = data(&app, Q, ask(mislabelled, Some(hash), None)).await["verifyPrescription"].clone();
    assert_eq!((v["valid"].clone(), v["scheduleTable"].clone()), (json!(true), Value::Null), "{v:#}");

    // A content that is not the signed one (another salt) proves nothing and checks nothing.
    let forged = PrescriptionContent { salt: [0x5b; 32].into(), ..content.clone() };
    let v = data(&app, Q, ask(mislabelled, None, Some(input(&forged)))).await["verifyPrescription"].clone();
    assert_eq!(reasons(&v), ["CONTENT_HASH_MISMATCH"], "{v:#}");
    assert_eq!(v["scheduleTable"], Value::Null);

    // A content and a hash that disagree, and neither: refused as bad input, saying which.
    let (_, body) = post(&app, Q, ask(labelled, Some([0x34; 32]), Some(input(&content)))).await;
    assert_eq!(codes(&body), ["BAD_INPUT"], "{body:#}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("hashes to"), "{body:#}");
    let (_, body) = post(&app, Q, ask(labelled, None, None)).await;
    assert_eq!(codes(&body), ["BAD_INPUT"], "{body:#}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("give `contentHash` or `content`"));
}

/// Issue 19, point 3: the contract refuses a schedule II dispense when the pharmacy's registration lacks
/// schedule II (`Prescriptions__PharmacyLacksSchedule`) or the prescriber's credential no longer holds it
/// (`Prescriptions__PrescriberLacksSchedule`); `verifyPrescription` says so, with the decoded revert's
/// sentence, and `status` stays the prescription's own (credentials aside, as documented).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prescription_checks_both_credentials_hold_the_schedule() {
    use medledger_core::schedule;
    let f = fixture().await;
    let spec = |schedule, nonce, block| twenty_tablets(schedule, nonce, block, None, CONTENT);
    let mut s = Sql(String::new());
    let ii = s.prescription(&spec(2, 92, 87), 0, 0, false);
    let plain = s.prescription(&spec(0, 93, 88), 0, 0, false);
    // PHARM1 holds schedules II and III (the fixture's 12); PHARM2 only schedule III.
    s.0 += &format!("UPDATE credentials SET schedules = 8 WHERE account = {};\n", hx(&PHARM2));
    sqlx::raw_sql(&s.0).execute(&f.pool).await.unwrap();

    let (api, _) = app(f.pool.clone());
    let v = verify(&api, ii, CONTENT, PHARM1, None).await;
    assert_eq!(v["valid"], true, "{v:#}");
    let v = verify(&api, ii, CONTENT, PHARM2, None).await;
    assert_eq!(reasons(&v), ["PHARMACY_LACKS_SCHEDULE"], "{v:#}");
    let pharm2 = alloy::primitives::Address::from(PHARM2);
    assert_eq!(v["failures"][0]["message"], schedule::pharmacy_lacks_schedule(pharm2, 2, 8).as_str());
    assert_eq!(
        (v["quantityAvailable"].clone(), v["prescription"]["status"].clone()),
        (json!(0), json!("FILLABLE"))
    );
    // Not controlled: no schedule needed.
    assert_eq!(verify(&api, plain, CONTENT, PHARM2, None).await["valid"], true);

    // The registrar removes the prescriber's schedule II (a fresh API: the index moved on).
    sqlx::raw_sql(&format!("UPDATE credentials SET schedules = 8 WHERE account = {};", hx(&DOCTOR)))
        .execute(&f.pool)
        .await
        .unwrap();
    let (api, _) = app(f.pool.clone());
    let v = verify(&api, ii, CONTENT, PHARM1, None).await;
    assert_eq!(reasons(&v), ["PRESCRIBER_LACKS_SCHEDULE"], "{v:#}");
    let doctor = alloy::primitives::Address::from(DOCTOR);
    assert_eq!(v["failures"][0]["message"], schedule::prescriber_lacks_schedule(doctor, 2, 8).as_str());
    let v = verify(&api, ii, CONTENT, PHARM2, None).await;
    assert_eq!(reasons(&v), ["PHARMACY_LACKS_SCHEDULE", "PRESCRIBER_LACKS_SCHEDULE"], "{v:#}");
    assert_eq!(verify(&api, plain, CONTENT, PHARM1, None).await["valid"], true);
}

/// Issue 19, point 3: emergency access's justification hash, the patient's block list and reviewers' flags
/// are served: on the consent, in the consent history, and in the reviewer's event trail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emergency_justification_block_list_and_flags_are_served() {
    let f = fixture().await;
    let reviewer = [0x7e; 20];
    let why = [0xe1; 32];
    let mut s = Sql(String::new());
    // Patient C blocked OTHER (no grant, two flags on an earlier use); DOCTOR2's emergency access to C is open
    // with its justification.
    s.0 += &format!(
        "INSERT INTO consents (chain_id, patient, grantee, scopes, revoked, emergency_until, emergency_reason, \
         emergency_opened_at, emergency_justification, emergency_blocked, emergency_flags, updated_block) VALUES \
         ({CHAIN}, {c}, {o}, 0, false, NULL, NULL, NULL, NULL, true, 2, 81), \
         ({CHAIN}, {c}, {d2}, 0, false, to_timestamp({until}), 3, to_timestamp({opened}), {why}, false, 0, 82);
         INSERT INTO consent_history (chain_id, block_number, log_index, patient, grantee, action, reason_code, \
         expires_at, justification_hash, reviewer, flagged_opened_at, finding_code, block_time, tx_hash) VALUES \
         ({CHAIN}, 80, 1, {c}, {o}, 'emergency_flagged', NULL, NULL, NULL, {r}, to_timestamp({opened}), 9, \
          to_timestamp({t80}), {tx}), \
         ({CHAIN}, 81, 1, {c}, {o}, 'emergency_blocked', NULL, NULL, NULL, NULL, NULL, NULL, to_timestamp({t81}), {tx}), \
         ({CHAIN}, 82, 1, {c}, {d2}, 'emergency_opened', 3, to_timestamp({until}), {why}, NULL, NULL, NULL, \
          to_timestamp({t82}), {tx});\n",
        c = hx(&PATIENT_C),
        o = hx(&OTHER),
        d2 = hx(&DOCTOR2),
        r = hx(&reviewer),
        why = hx(&why),
        tx = hx(&[0x80; 32]),
        until = T + 3600,
        opened = T - 600,
        t80 = block_time(80),
        t81 = block_time(81),
        t82 = block_time(82),
    );
    s.event(
        80,
        1,
        "ConsentRegistry",
        CONSENTS,
        "EmergencyAccessFlagged",
        &[PATIENT_C, OTHER, reviewer],
        None,
        None,
    );
    sqlx::raw_sql(&s.0).execute(&f.pool).await.unwrap();
    let (app, _) = app(f.pool.clone());

    let q = "query($c: Address!, $r: Address!) {
        patient(address: $c) {
            blocked: consents(filter: {status: BLOCKED}) { nodes { grantee emergencyBlocked emergencyFlags } }
            emergency: consents(filter: {status: EMERGENCY}) { nodes { grantee emergencyReason emergencyJustification } }
            consentHistory { nodes { action grantee reasonCode justificationHash reviewer flaggedOpenedAt findingCode } }
        }
        trail: events(filter: {accounts: [$r]}) { nodes { name blockNumber } }
    }";
    let d = data(&app, q, json!({"c": a0x(&PATIENT_C), "r": a0x(&reviewer)})).await;
    let p = &d["patient"];
    let other = alloy::primitives::Address::from(OTHER).to_string();
    assert_eq!(
        p["blocked"]["nodes"],
        json!([{"grantee": other, "emergencyBlocked": true, "emergencyFlags": 2}])
    );
    assert_eq!(p["emergency"]["nodes"][0]["emergencyJustification"], a0x(&why));
    assert_eq!(p["emergency"]["nodes"][0]["emergencyReason"], 3);
    let history: Vec<&str> = p["consentHistory"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(&history[history.len() - 3..], ["emergency_flagged", "emergency_blocked", "emergency_opened"]);
    let flag =
        p["consentHistory"]["nodes"].as_array().unwrap().iter().find(|h| h["action"] == "emergency_flagged");
    let flag = flag.unwrap();
    let reviewer_text = alloy::primitives::Address::from(reviewer).to_string();
    assert_eq!((flag["reviewer"].clone(), flag["findingCode"].clone()), (json!(reviewer_text), json!(9)));
    assert_eq!(flag["flaggedOpenedAt"], ts_str(T - 600));
    let opened =
        p["consentHistory"]["nodes"].as_array().unwrap().iter().find(|h| h["action"] == "emergency_opened");
    assert_eq!(opened.unwrap()["justificationHash"], a0x(&why));
    assert_eq!(d["trail"]["nodes"], json!([{"name": "EmergencyAccessFlagged", "blockNumber": 80}]));
}

/// Issue 19/16: `openOnly` ends a prescription at its short-supply balance deadline when that comes before
/// `validUntil`, and excludes the end itself (as the contract and `status` do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_only_ends_at_the_short_supply_deadline() {
    let f = fixture().await;
    let spec = |valid_until, nonce, block| RxSpec {
        patient: PATIENT_C,
        prescriber: DOCTOR,
        pharmacy: Some(PHARM3),
        fills: 1,
        qpf: 20,
        earliest: T - DAY,
        valid_until,
        interval: 0,
        schedule: 2,
        nonce,
        block,
        content: CONTENT,
    };
    let mut s = Sql(String::new());
    let balance_overdue = s.prescription(&spec(T + 20 * DAY, 92, 87), 1, 5, false);
    let balance_due = s.prescription(&spec(T + 20 * DAY, 93, 88), 1, 5, false);
    let ends_now = s.prescription(&spec(T, 94, 89), 0, 0, false);
    s.0 += &format!(
        "UPDATE prescriptions SET short_supply_until = to_timestamp({}) WHERE rx_id = {};
         UPDATE prescriptions SET short_supply_until = to_timestamp({}) WHERE rx_id = {};\n",
        T - 60,
        hx(&balance_overdue),
        T + 3600,
        hx(&balance_due),
    );
    sqlx::raw_sql(&s.0).execute(&f.pool).await.unwrap();
    let (app, _) = app(f.pool.clone());
    let q = "query($p: Address!, $c: Address!) {
        pharmacy(address: $p) { queue { nodes { id } } all: queue(filter: {openOnly: false}) { totalCount } }
        patient(address: $c) { open: prescriptions(filter: {openOnly: true}) { nodes { id status } } }
    }";
    let d = data(&app, q, json!({"p": a0x(&PHARM3), "c": a0x(&PATIENT_C)})).await;
    assert_eq!(d["pharmacy"]["queue"]["nodes"], json!([{"id": a0x(&balance_due)}]), "{d:#}");
    assert_eq!(d["pharmacy"]["all"]["totalCount"], 3);
    assert_eq!(d["patient"]["open"]["nodes"], json!([{"id": a0x(&balance_due), "status": "FILLABLE"}]));
    // The closed ones are what their status says.
    for id in [balance_overdue, ends_now] {
        let d =
            data(&app, "query($id: Bytes32!) { prescription(id: $id) { status } }", json!({"id": a0x(&id)}))
                .await;
        assert_eq!(d["prescription"]["status"], "EXPIRED", "{}", a0x(&id));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pharmacy_prescriber_and_patient_views() {
    let f = fixture().await;
    let (app, _) = app(f.pool.clone());

    let q = "query($id: Bytes32!) { prescription(id: $id) {
        id patient pharmacy fills fillsUsed quantityPerFill totalAuthorized quantityDispensed remainingQuantity
        status nonce
        state(at: \"2026-02-01T00:00:00Z\") { status fillable nextFillAt quantityAvailable asOf }
        fillDetails { number dispensed remaining complete dispenses { quantity pharmacy txHash } }
        prescriberCredential { status activeNow }
    } }";
    let d = data(&app, q, json!({"id": a0x(&f.rx_open).to_uppercase().replace("0X", "0x")})).await;
    let rx = &d["prescription"];
    assert_eq!(rx["id"], a0x(&f.rx_open));
    assert_eq!(rx["totalAuthorized"], 60);
    assert_eq!(rx["quantityDispensed"], "10");
    assert_eq!(rx["remainingQuantity"], 50);
    assert_eq!(rx["nonce"], "5");
    assert_eq!(rx["fillDetails"][0]["remaining"], 20);
    assert_eq!(rx["fillDetails"][0]["complete"], false);
    assert_eq!(rx["state"]["status"], "FILLABLE");
    assert_eq!(rx["prescriberCredential"]["activeNow"], true);

    // The pharmacy's queue: open prescriptions designated to it (the waiting one only).
    let q = "query($p: Address!) { pharmacy(address: $p) {
        credential { kind status }
        queue { totalCount edges { node { id status } } }
        all: queue(filter: {openOnly: false}) { totalCount }
        dispenses { totalCount nodes { fillNumber quantity prescription { id } } }
    } }";
    let d = data(&app, q, json!({"p": a0x(&PHARM1)})).await;
    let ph = &d["pharmacy"];
    assert_eq!(ph["credential"]["kind"], "pharmacy");
    assert_eq!(ph["queue"]["totalCount"], 1);
    assert_eq!(ph["queue"]["edges"][0]["node"]["id"], a0x(&f.rx_wait));
    assert_eq!(ph["queue"]["edges"][0]["node"]["status"], "WAITING");
    assert_eq!(ph["all"]["totalCount"], 3);
    assert_eq!(ph["dispenses"]["totalCount"], 2);
    assert_eq!(ph["dispenses"]["nodes"][0]["prescription"]["id"], a0x(&f.rx_done));

    // The prescriber: consents by state, its prescriptions and its credential.
    let q = "query($d: Address!) { prescriber(address: $d) {
        credential { status activeNow asOf }
        active: consents(filter: {status: ACTIVE}) { totalCount nodes { patient status accessSince } }
        soon: consents(filter: {status: EXPIRING_SOON}) { nodes { patient expiresAt } }
        emergency: consents(filter: {status: EMERGENCY}) { nodes { patient status emergencyActive } }
        prescriptions { totalCount nodes { id status } }
    } }";
    let d = data(&app, q, json!({"d": a0x(&DOCTOR)})).await;
    let pr = &d["prescriber"];
    assert_eq!(pr["credential"]["asOf"], ts_str(T));
    assert_eq!(pr["active"]["totalCount"], 3);
    assert_eq!(pr["soon"]["nodes"].as_array().unwrap().len(), 1);
    assert_eq!(pr["soon"]["nodes"][0]["patient"].as_str().unwrap().to_lowercase(), a0x(&PATIENT_A));
    assert_eq!(pr["emergency"]["nodes"][0]["status"], "EMERGENCY");
    let statuses: Vec<&str> = pr["prescriptions"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["WAITING", "CANCELLED", "COMPLETED", "FILLABLE"]);

    // The patient: access now, history, prescriptions, dispenses, records (hidden only on request).
    let q = "query($a: Address!) { patient(address: $a) {
        access { grantee accessSince status }
        consents { totalCount }
        consentHistory { totalCount nodes { action grantee blockNumber } }
        prescriptions { totalCount }
        dispenses { totalCount nodes { patient blockNumber prescription { patient } } }
        episodes { nodes { id recordCount records { index hidden } withHidden: records(includeHidden: true) { index } } }
        records { totalCount nodes { episodeId index hidden } }
        allRecords: records(includeHidden: true, last: 2) { totalCount nodes { index hidden } pageInfo { hasPreviousPage } }
    } }";
    let d = data(&app, q, json!({"a": a0x(&PATIENT_A)})).await;
    let pa = &d["patient"];
    assert_eq!(pa["access"].as_array().unwrap().len(), 1);
    assert_eq!(pa["access"][0]["accessSince"], ts_str(block_time(3)));
    assert_eq!(pa["consents"]["totalCount"], 2);
    let actions: Vec<&str> = pa["consentHistory"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["granted", "granted", "revoked"]);
    assert_eq!(pa["prescriptions"]["totalCount"], 4);
    assert_eq!(pa["dispenses"]["totalCount"], 3);
    let patient_a = alloy::primitives::Address::from(PATIENT_A).to_string();
    let dispenses = pa["dispenses"]["nodes"].as_array().unwrap();
    assert!(
        dispenses
            .iter()
            .all(|d| d["patient"] == patient_a.as_str() && d["prescription"]["patient"] == d["patient"]),
        "{dispenses:?}"
    );
    let blocks: Vec<i64> = dispenses.iter().map(|d| d["blockNumber"].as_i64().unwrap()).collect();
    assert_eq!(blocks, [40, 50, 60], "chain order");
    let ep = &pa["episodes"]["nodes"][0];
    assert_eq!(ep["records"], json!([{"index": 0, "hidden": false}, {"index": 2, "hidden": false}]));
    assert_eq!(ep["withHidden"].as_array().unwrap().len(), 3);
    // Patient-wide records: hidden ones only when asked for explicitly.
    assert_eq!(pa["records"]["totalCount"], 2);
    assert_eq!(
        pa["records"]["nodes"],
        json!([{"episodeId": 1, "index": 0, "hidden": false}, {"episodeId": 1, "index": 2, "hidden": false}])
    );
    assert_eq!(pa["allRecords"]["totalCount"], 3);
    assert_eq!(
        pa["allRecords"]["nodes"],
        json!([{"index": 1, "hidden": true}, {"index": 2, "hidden": false}])
    );
    assert_eq!(pa["allRecords"]["pageInfo"]["hasPreviousPage"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_trail_filters_pages_and_links() {
    let f = fixture().await;
    let (app, _) = app(f.pool.clone());

    let d = data(&app, "{ indexerStatus { chainId indexedBlock chainHead lag reorgCount lastReorgBlock lastReorgDepth indexedBlockTime } asOf }", json!({})).await;
    assert_eq!(d["indexerStatus"]["lag"], 3);
    assert_eq!(d["indexerStatus"]["lastReorgDepth"], 2);
    assert_eq!(d["asOf"], ts_str(T));

    // Every event, page by page forwards, equals the same list page by page backwards.
    let q = "query($f: EventFilter, $first: Int, $after: String, $last: Int, $before: String) {
        events(filter: $f, first: $first, after: $after, last: $last, before: $before) {
          totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          edges { cursor node { blockNumber logIndex blockHash txHash timestamp name contract contractAddress txUrl contractUrl rxId } }
        } }";
    let mut forward = Vec::new();
    let mut after = Value::Null;
    loop {
        let d = data(&app, q, json!({"first": 4, "after": after})).await;
        let e = &d["events"];
        assert_eq!(e["totalCount"], 18);
        forward.extend(e["edges"].as_array().unwrap().iter().map(|x| x["node"].clone()));
        if e["pageInfo"]["hasNextPage"] == false {
            break;
        }
        after = e["pageInfo"]["endCursor"].clone();
    }
    let mut backward = Vec::new();
    let mut before = Value::Null;
    loop {
        let d = data(&app, q, json!({"last": 5, "before": before})).await;
        let e = &d["events"];
        let mut page: Vec<Value> = e["edges"].as_array().unwrap().iter().map(|x| x["node"].clone()).collect();
        page.extend(backward);
        backward = page;
        if e["pageInfo"]["hasPreviousPage"] == false {
            break;
        }
        before = e["pageInfo"]["startCursor"].clone();
    }
    assert_eq!(forward.len(), 18);
    assert_eq!(forward, backward);
    let keys: Vec<(i64, i64)> = forward
        .iter()
        .map(|n| (n["blockNumber"].as_i64().unwrap(), n["logIndex"].as_i64().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "ordered by (block, log index)");
    let first = &forward[0];
    assert_eq!(first["txUrl"], format!("https://explorer.example/tx/{}", a0x(&[3u8; 32])));
    assert_eq!(first["timestamp"], ts_str(block_time(3)));

    // Filters: one prescription; the pharmacy's account among Prescriptions events; names; block and time range.
    let count = |filter: Value| {
        let app = app.clone();
        async move { data(&app, q, json!({"f": filter})).await["events"]["totalCount"].as_i64().unwrap() }
    };
    assert_eq!(count(json!({"rxId": a0x(&f.rx_dead)})).await, 2);
    assert_eq!(count(json!({"accounts": [a0x(&PHARM1)], "contracts": ["PRESCRIPTIONS"]})).await, 5);
    assert_eq!(count(json!({"names": ["ConsentGranted", "ConsentRevoked"]})).await, 4);
    assert_eq!(count(json!({"fromBlock": 20, "toBlock": 22})).await, 3);
    assert_eq!(
        count(json!({"fromTime": ts_str(block_time(50)), "contractAddress": a0x(&PRESCRIPTIONS)})).await,
        2
    );
    assert_eq!(count(json!({"episodeId": 1})).await, 4);
    // A patient's prescriptions' events: those of each of her prescriptions, dispenses included (their
    // arguments do not name her, so `accounts` misses them).
    let d = data(
        &app,
        "query($a: Address!) { patient(address: $a) { prescriptions(first: 50) { nodes { id } } } }",
        json!({"a": a0x(&PATIENT_A)}),
    )
    .await;
    let mut per_rx = 0;
    for rx in d["patient"]["prescriptions"]["nodes"].as_array().unwrap() {
        per_rx += count(json!({"rxId": rx["id"]})).await;
    }
    let hers = json!({"prescriptionsOf": [a0x(&PATIENT_A)]});
    assert!(per_rx > 0);
    assert_eq!(count(hers.clone()).await, per_rx);
    let dispensed = |mut f: Value| {
        f["names"] = json!(["PrescriptionDispensed"]);
        count(f)
    };
    assert!(dispensed(hers.clone()).await > 0, "her dispenses are hers");
    assert_eq!(
        dispensed(json!({"accounts": [a0x(&PATIENT_A)]})).await,
        0,
        "a dispense does not name the patient"
    );
    assert_eq!(dispensed(json!({"prescriptionsOf": [a0x(&PHARM1)]})).await, 0, "a pharmacy is no patient");
    // One transaction's events: exactly those of the full trail with its hash.
    let tx = first["txHash"].clone();
    let of_tx: Vec<&Value> = forward.iter().filter(|n| n["txHash"] == tx).collect();
    let d = data(&app, q, json!({"f": {"txHash": tx}, "first": 100})).await;
    let got: Vec<&Value> = d["events"]["edges"].as_array().unwrap().iter().map(|x| &x["node"]).collect();
    assert!(!got.is_empty() && got.len() < forward.len(), "{} of {}", got.len(), forward.len());
    assert_eq!(got, of_tx);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_clean_coded_errors() {
    let f = fixture().await;
    let (app, _) = app(f.pool.clone());
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        ("{ pharmacy(address: \"0x12\") { address } }", json!({}), "BAD_INPUT", "40 hex digits"),
        ("query($a: Address!) { pharmacy(address: $a) { address } }", json!({"a": "f1f1"}), "BAD_INPUT", "0x"),
        ("query($a: Address!) { pharmacy(address: $a) { address } }", json!({"a": 12}), "BAD_INPUT", "string"),
        ("{ prescription(id: \"0x00\") { id } }", json!({}), "BAD_INPUT", "64 hex digits"),
        ("{ prescription(id: \"0x4242424242424242424242424242424242424242424242424242424242424242\") { id } }", json!({}), "NOT_FOUND", "no prescription"),
        ("{ events(first: 101) { totalCount } }", json!({}), "LIMIT_EXCEEDED", "maximum page size is 100"),
        ("{ events(first: -1) { totalCount } }", json!({}), "BAD_INPUT", "negative"),
        ("{ events(first: 1, last: 1) { totalCount } }", json!({}), "BAD_INPUT", "either"),
        ("{ events(after: \"nonsense\") { totalCount } }", json!({}), "BAD_INPUT", "cursor"),
        ("{ events(filter: {fromBlock: 5, toBlock: 1}) { totalCount } }", json!({}), "BAD_INPUT", "fromBlock"),
        ("{ events { edges { node { nope } } } }", json!({}), "BAD_INPUT", "nope"),
        ("{ events(first: \"ten\") { totalCount } }", json!({}), "BAD_INPUT", "Int"),
        ("{ events( ", json!({}), "BAD_INPUT", ""),
        ("{ episode(id: 99) { id } }", json!({}), "NOT_FOUND", "episode"),
        (
            "{ events { edges { node { rxId } } pageInfo { hasNextPage } } e2: events { edges { node { rxId } } } }",
            json!({}),
            "",
            "",
        ),
    ];
    for (query, vars, code, fragment) in cases {
        let (status, body) = post(&app, query, vars).await;
        if code.is_empty() {
            assert!(body.get("errors").is_none(), "{query}: {body}");
            continue;
        }
        let got = codes(&body);
        assert!(!got.is_empty() && got.iter().all(|c| c == code), "{query}: {body}");
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(fragment), "{query}: {message}");
        assert!(!message.to_lowercase().contains("sql") && !message.contains("relation"), "{message}");
        assert!(status == 200 || status == 400, "{status}");
    }

    // Too deep and too complex.
    let mut deep = String::from(
        "{ prescription(id: \"0x4242424242424242424242424242424242424242424242424242424242424242\") ",
    );
    deep += &"{ dispenses { prescription ".repeat(6);
    deep += "{ id }";
    deep += &" } }".repeat(6);
    deep += " }";
    let (_, body) = post(&app, &deep, json!({})).await;
    assert_eq!(codes(&body), ["LIMIT_EXCEEDED"], "{body}");
    let complex =
        "{ events(first: 100) { edges { node { blockNumber logIndex txHash blockHash name args accounts
        rxId timestamp txUrl contractUrl accountUrls contract contractAddress episodeId txIndex } } }
        b: events(first: 100) { edges { node { blockNumber logIndex txHash blockHash name args accounts
        rxId timestamp txUrl contractUrl accountUrls contract contractAddress episodeId txIndex } } }
        c: events(first: 100) { edges { node { blockNumber logIndex txHash blockHash name args accounts
        rxId timestamp txUrl contractUrl accountUrls contract contractAddress episodeId txIndex } } }
        d: events(first: 100) { edges { node { blockNumber logIndex txHash blockHash name args accounts
        rxId timestamp txUrl contractUrl accountUrls contract contractAddress episodeId txIndex } } } }";
    let (_, body) = post(&app, complex, json!({})).await;
    assert_eq!(codes(&body), ["LIMIT_EXCEEDED"], "{body}");

    // Not JSON at all.
    use tower::ServiceExt as _;
    let request = axum::http::Request::post("/graphql")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{not json"))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 400);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(codes(&body), ["BAD_INPUT"]);

    // Still serving.
    let d = data(&app, "{ asOf }", json!({})).await;
    assert_eq!(d["asOf"], ts_str(T));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_queries_hit_the_time_limit() {
    let f = fixture().await;
    let (app, _) = app_with(f.pool.clone(), |c| c.api.query_timeout = std::time::Duration::from_nanos(1));
    let (status, body) = post(&app, "{ events(first: 100) { totalCount } }", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(codes(&body), ["LIMIT_EXCEEDED"], "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("time limit"), "{body}");
}

/// A nested query over a page of prescriptions (each with dispenses, fills, status, prescriber credential,
/// and each dispense's prescription) costs the same handful of statements for 5 or 50 prescriptions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_queries_are_batched() {
    let pool = empty_db().await;
    let sql = format!(
        "INSERT INTO checkpoints (chain_id, block_number, block_hash, head_number) VALUES ({CHAIN}, 100, '\\x00', 100);
         INSERT INTO credentials SELECT {CHAIN}, decode(lpad(to_hex(i), 40, '0'), 'hex'), i, 'prescriber', 'active',
           NULL, '\\x00', '\\x00', now() + interval '1 year', 0, 1, now(), 1, now() FROM generate_series(1, 60) i;
         INSERT INTO prescriptions SELECT {CHAIN}, decode(lpad(to_hex(i), 64, '0'), 'hex'), {pa}, decode(lpad(to_hex(i), 40, '0'), 'hex'),
           {z32}, {ph}, {ph}, 3, 10, now() - interval '1 day', now() + interval '30 days', 0, 0, i, {pa}, false,
           i, now(), {z32}, 1, 10, 2, NULL, NULL, false, NULL, NULL, i, 30, now() - interval '1 day', false,
           now(), false, NULL, NULL FROM generate_series(1, 60) i;
         INSERT INTO dispenses SELECT {CHAIN}, 1000 + i, j, decode(lpad(to_hex(i), 64, '0'), 'hex'), {ph}, 1, 5, 5 * j, 5 * j,
           {z32}, now(), {z32}, {pa} FROM generate_series(1, 60) i, generate_series(1, 2) j;",
        pa = hx(&PATIENT_A),
        z32 = hx(&[0; 32]),
        ph = hx(&PHARM1),
    );
    sqlx::raw_sql(&sql).execute(&pool).await.unwrap();
    // A batch window long enough that a slow (debug) build on a loaded machine still collects every key of a
    // level in one batch (100 ms split a level into two batches, 6 statements against 7, once in 7 runs of
    // this binary under load); about 3 windows a query.
    let (app, db) = app_with(pool, |c| c.api.batch_delay = std::time::Duration::from_secs(1));
    let q = "query($n: Int!, $p: Address!) { pharmacy(address: $p) { queue(first: $n) { edges { node {
        id status remainingQuantity prescriberCredential { status activeNow }
        fillDetails { number dispensed }
        dispenses { quantity prescription { id prescriberCredential { kind } } }
        state { fillable quantityAvailable }
    } } } } }";
    let mut counts = Vec::new();
    for n in [5, 50] {
        let before = db.statement_count();
        let d = data(&app, q, json!({"n": n, "p": a0x(&PHARM1)})).await;
        assert_eq!(d["pharmacy"]["queue"]["edges"].as_array().unwrap().len(), n as usize);
        counts.push(db.statement_count() - before);
    }
    assert_eq!(counts[0], counts[1], "statement count grows with the page size: {counts:?}");
    assert!(counts[1] <= 6, "too many statements for one nested query: {counts:?}");
}

/// The hot lookups cache `asOf` and credentials per version of the index (the checkpoint's block number and
/// hash): every lookup is one statement (the first of a version reads `asOf` and the credentials with its
/// rows) and a repeated one answers the same; after a commit (and after a reorg to another block at the same
/// height) the next lookup answers from the new rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_lookups_follow_every_commit() {
    let f = fixture().await;
    let (app, db) = app(f.pool.clone());
    const BY_ID: &str = "query($id: Bytes32!) { prescription(id: $id) { status state { asOf } } }";
    let by_id = |app: axum::Router| async move { data(&app, BY_ID, json!({"id": a0x(&f.rx_open)})).await };

    const VERIFY_ONLY: &str = "query($id: Bytes32!, $c: Bytes32!, $p: Address!) { \
        verifyPrescription(id: $id, contentHash: $c, pharmacy: $p) { valid asOf } }";
    let vars = json!({"id": a0x(&f.rx_open), "c": a0x(&CONTENT), "p": a0x(&PHARM1)});
    let counted = |before: u64| db.statement_count() - before;
    let before = db.statement_count();
    let only = data(&app, VERIFY_ONLY, vars.clone()).await;
    assert_eq!(only["verifyPrescription"]["valid"], true, "{only:#}");
    assert_eq!(counted(before), 1, "a verification of a new version is one statement");
    let before = db.statement_count();
    assert_eq!(data(&app, VERIFY_ONLY, vars).await, only);
    assert_eq!(counted(before), 1, "a repeated verification is one statement");
    let before = db.statement_count();
    let first = verify(&app, f.rx_open, CONTENT, PHARM1, None).await;
    assert_eq!(first["valid"], true, "{first:#}");
    let with_status = counted(before);
    let before = db.statement_count();
    assert_eq!(verify(&app, f.rx_open, CONTENT, PHARM1, None).await, first);
    assert_eq!(counted(before), with_status);
    let before = db.statement_count();
    let rx = by_id(app.clone()).await;
    assert_eq!(rx["prescription"]["state"]["asOf"], ts_str(T));
    assert_eq!(counted(before), 1, "the index version's asOf is cached");

    // Block 101 revokes the prescriber's credential; block 101' (same height, another hash) reinstates it.
    let commit = |hash: u8, seconds: i64, change: &str, status: &str| {
        format!(
            "DELETE FROM blocks WHERE number = 101; DELETE FROM credential_history WHERE block_number = 101;
             INSERT INTO blocks VALUES ({CHAIN}, 101, {h}, {p}, to_timestamp({t}));
             UPDATE credentials SET status = '{status}', updated_block = 101 WHERE account = {d};
             INSERT INTO credential_history VALUES ({CHAIN}, 101, 0, {d}, 1, '{change}', '{status}', NULL, NULL,
               NULL, NULL, to_timestamp({t}), {h});
             UPDATE checkpoints SET block_number = 101, block_hash = {h};",
            h = hx(&[hash; 32]),
            p = hx(&[100; 32]),
            t = T + seconds,
            d = hx(&DOCTOR),
        )
    };
    sqlx::raw_sql(&commit(0x65, 12, "revoked", "revoked")).execute(&f.pool).await.unwrap();
    let before = db.statement_count();
    let v = verify(&app, f.rx_open, CONTENT, PHARM1, None).await;
    assert_eq!(counted(before), with_status, "the commit's asOf and credentials come with the prescription");
    assert_eq!(reasons(&v), ["PRESCRIBER_CREDENTIAL_NOT_ACTIVE_NOW"], "{v:#}");
    assert_eq!(v["asOf"], ts_str(T + 12));
    assert_eq!(by_id(app.clone()).await["prescription"]["state"]["asOf"], ts_str(T + 12));

    sqlx::raw_sql(&commit(0x66, 13, "reinstated", "active")).execute(&f.pool).await.unwrap();
    let v = verify(&app, f.rx_open, CONTENT, PHARM1, None).await;
    assert_eq!(v["valid"], true, "{v:#}");
    assert_eq!(v["asOf"], ts_str(T + 13));
    assert_eq!(by_id(app.clone()).await["prescription"]["state"]["asOf"], ts_str(T + 13));
}

/// Resolvers' connections skip the ping only when used within the last second: after PostgreSQL ends them
/// (a restart, a failover, an idle timeout), the next query a second later pings, drops the dead ones and
/// reconnects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_recover_after_the_database_ends_them() {
    let f = fixture().await;
    let (app, _) = app(f.pool.clone());
    let as_of = json!({"asOf": ts_str(T)});
    assert_eq!(data(&app, "{ asOf }", json!({})).await, as_of);
    let ended: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
         AND pid <> pg_backend_pid()",
    )
    .fetch_all(&f.pool)
    .await
    .unwrap();
    assert!(!ended.is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    assert_eq!(data(&app, "{ asOf }", json!({})).await, as_of);
}

/// The plan nodes of an `EXPLAIN (FORMAT JSON)` that read the owner's rows wholesale: a sequential scan,
/// or a sort (the lists' order must come from an index, not from sorting what the filter matched).
fn full_scans_and_sorts(plan: &Value, out: &mut Vec<String>) {
    match plan {
        Value::Object(node) => {
            if let Some(kind) = node.get("Node Type").and_then(Value::as_str) {
                if kind == "Seq Scan" || kind.contains("Sort") {
                    let on = node.get("Relation Name").and_then(Value::as_str).unwrap_or("");
                    out.push(format!("{kind} {on}").trim().to_owned());
                }
            }
            node.values().for_each(|v| full_scans_and_sorts(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| full_scans_and_sorts(v, out)),
        _ => {}
    }
}

/// Every list a role reads, over skewed data ([`skewed_fixture`]: one prescriber with 15,400 prescriptions, a
/// pharmacy with a queue of 16,000, a patient with 22,000 consent changes and 24,000 records, an account in
/// 50,000 events), is served by an index matching its filter and order: EXPLAIN of each list statement, both
/// directions, has no sequential scan and no sort.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_list_is_served_by_an_index() {
    let pool = empty_db().await;
    skewed_fixture(&pool).await;
    let (app, db) = app(pool);
    db.record_plans();
    let mut failures = Vec::new();
    for (_, list) in skewed_lists() {
        for page in ["first: 20", "last: 20"] {
            let query =
                format!("{{ {} }}", list.replace("PAGE", page).replace("CONNECTION", "{ edges { cursor } }"));
            let _ = data(&app, &query, json!({})).await;
            let plans = db.take_plans();
            assert!(!plans.is_empty(), "{query}: no statement recorded");
            for plan in plans {
                let mut bad = Vec::new();
                full_scans_and_sorts(&plan.plan, &mut bad);
                if !bad.is_empty() {
                    failures.push(format!("{query}\n  {bad:?}\n  {}\n  {}", plan.sql, plan.plan));
                }
            }
        }
    }
    assert!(failures.is_empty(), "lists not served by an index:\n{}", failures.join("\n"));
}
