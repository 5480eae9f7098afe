//! End-to-end: `medledger dev` (the binary) brings up anvil, PostgreSQL, the contracts, the indexer and the
//! API and plays the demo story; every step of the story is visible over GraphQL with the right values;
//! SIGINT stops everything and removes every temporary file; a second run starts clean, and with `--simulate`
//! a pharmacy's GraphQL subscription sees the simulated dispenses and the prescription's status moves;
//! `--no-seed` leaves the contracts empty.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dev_common;

use dev_common::{gql, wait_indexed, DevProcess};
use futures::{SinkExt, StreamExt};
use medledger::{
    demo::{self, Cast, DocumentKind, DOCUMENTS},
    devnet::anvil_test_signers,
    rx::MedicationRequest,
};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Message};

fn doc(name: &str) -> MedicationRequest {
    let d = DOCUMENTS.iter().find(|d| d.name == name && d.kind == DocumentKind::Prescription).unwrap();
    MedicationRequest::parse(d.text).unwrap()
}

fn reasons(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|x| x["reason"].as_str().unwrap().to_owned()).collect()
}

fn secs(v: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_plays_the_story_and_cleans_up() {
    let cast = Cast::new(&anvil_test_signers()).unwrap();
    let a = |m: &demo::Member| m.address().to_string();

    let mut dev = DevProcess::start(&[]);
    let banner = dev.wait_ready(Duration::from_secs(300)).await;
    let out = dev.output();
    for m in cast.members() {
        assert!(out.contains(&format!("{}  {}", a(m), m.key_hex())), "banner lists {} with its key", m.name);
    }
    assert_eq!(banner.temp_dirs.len(), 2, "scratch folder and PostgreSQL folder: {banner:?}");
    for dir in &banner.temp_dirs {
        assert!(dir.exists(), "{} exists while running", dir.display());
    }
    let url = banner.graphql.clone();
    wait_indexed(&url, &banner.rpc, Duration::from_secs(60)).await;
    // Issue 16: what the banner says of each patient's prescriptions is what the index holds.
    for m in [&cast.maria, &cast.james, &cast.chen] {
        let q = format!("{{ patient(address: \"{}\") {{ prescriptions {{ totalCount }} }} }}", a(m));
        let n = gql(&url, &q).await["patient"]["prescriptions"]["totalCount"].as_i64().unwrap();
        let said = format!("{} {n} prescription{}", m.name, if n == 1 { "" } else { "s" });
        assert!(dev.output().contains(&said), "the banner says {said:?}:\n{}", dev.output());
    }
    assert!(!dev.output().contains("four prescriptions"), "no count written down");

    // ---- Licensing and the suspension.
    let cred = "{ kind status statusReason schedules activeNow history { change } }";
    let d = gql(
        &url,
        &format!(
            "{{ okafor: credential(account: \"{}\") {cred} lindqvist: credential(account: \"{}\") {cred}
                haddad: credential(account: \"{}\") {cred} mission: credential(account: \"{}\") {cred}
                bayview: credential(account: \"{}\") {cred} maria: credential(account: \"{}\") {cred} }}",
            a(&cast.okafor),
            a(&cast.lindqvist),
            a(&cast.haddad),
            a(&cast.mission),
            a(&cast.bayview),
            a(&cast.maria)
        ),
    )
    .await;
    for who in ["okafor", "haddad"] {
        assert_eq!(d[who]["kind"], "prescriber", "{who}");
        assert_eq!(d[who]["status"], "active", "{who}");
        assert_eq!(d[who]["activeNow"], true, "{who}");
        assert_eq!(d[who]["schedules"], serde_json::json!([2, 3, 4, 5]), "{who}");
    }
    for who in ["mission", "bayview"] {
        assert_eq!(d[who]["kind"], "pharmacy", "{who}");
        assert_eq!(d[who]["activeNow"], true, "{who}");
    }
    assert_eq!(d["lindqvist"]["status"], "suspended");
    assert_eq!(d["lindqvist"]["statusReason"], i64::from(demo::SUSPEND_REASON_INVESTIGATION));
    assert_eq!(d["lindqvist"]["activeNow"], false);
    let changes: Vec<&str> =
        d["lindqvist"]["history"].as_array().unwrap().iter().map(|c| c["change"].as_str().unwrap()).collect();
    assert_eq!(changes, ["registered", "suspended"]);
    assert!(d["maria"].is_null(), "patients hold no credential");

    // ---- Consents: direct, relayed by signature, revoked; emergency access.
    let consents = "consents { nodes { grantee scopeBits status revoked grantedRelayed emergencyActive
        emergencyReason emergencyOpenedAt emergencyUntil } }
        consentHistory { nodes { action grantee relayed } }
        access { grantee status }";
    let d = gql(
        &url,
        &format!(
            "{{ maria: patient(address: \"{}\") {{ {consents} }} james: patient(address: \"{}\") {{ {consents} }}
                chen: patient(address: \"{}\") {{ {consents} }} }}",
            a(&cast.maria),
            a(&cast.james),
            a(&cast.chen)
        ),
    )
    .await;
    let consent = |p: &str, grantee: &demo::Member| -> Value {
        d[p]["consents"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["grantee"] == a(grantee))
            .unwrap_or_else(|| panic!("{p} has no consent row for {}: {}", grantee.name, d[p]))
            .clone()
    };
    let c = consent("maria", &cast.okafor);
    assert_eq!(
        (c["scopeBits"].as_i64(), c["status"].as_str(), c["grantedRelayed"].as_bool()),
        (Some(7), Some("ACTIVE"), Some(false))
    );
    let c = consent("james", &cast.okafor);
    assert_eq!(
        (c["scopeBits"].as_i64(), c["status"].as_str(), c["grantedRelayed"].as_bool()),
        (Some(5), Some("ACTIVE"), Some(true)),
        "relayed signed grant"
    );
    let c = consent("maria", &cast.lindqvist);
    assert_eq!(
        (c["status"].as_str(), c["revoked"].as_bool(), c["scopeBits"].as_i64()),
        (Some("REVOKED"), Some(true), Some(0))
    );
    let lindqvist_history: Vec<&str> = d["maria"]["consentHistory"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["grantee"] == a(&cast.lindqvist))
        .map(|h| h["action"].as_str().unwrap())
        .collect();
    assert_eq!(lindqvist_history, ["granted", "revoked"]);
    let c = consent("chen", &cast.haddad);
    assert_eq!(c["status"], "EMERGENCY");
    assert_eq!(c["emergencyActive"], true);
    assert_eq!(c["emergencyReason"], i64::from(demo::EMERGENCY_REASON_UNCONSCIOUS));
    assert_eq!(secs(&c["emergencyUntil"]) - secs(&c["emergencyOpenedAt"]), i64::from(demo::EMERGENCY_SECS));
    let access: Vec<&str> =
        d["chen"]["access"].as_array().unwrap().iter().map(|x| x["grantee"].as_str().unwrap()).collect();
    assert_eq!(access, [a(&cast.haddad)], "only the emergency physician has access to Chen Wei");

    // ---- The episode: four encounters, the hidden one only when asked for.
    let episode = banner.episode.expect("episode in the story summary");
    let d = gql(
        &url,
        &format!(
            "{{ episode(id: {episode}) {{ patient openedBy recordCount closed
                visible: records {{ index hidden author }} all: records(includeHidden: true) {{ index hidden }} }} }}"
        ),
    )
    .await;
    let e = &d["episode"];
    assert_eq!(e["patient"], a(&cast.maria));
    assert_eq!(e["openedBy"], a(&cast.okafor));
    // The story files each of the four encounters through the vault and anchors what the vault returns
    // (src/demo/records.rs): one record per document; Maria hides the behavioral health note.
    assert_eq!(e["recordCount"], 4);
    assert_eq!(e["closed"], false);
    let idx = |v: &Value| -> Vec<i64> {
        v.as_array().unwrap().iter().map(|r| r["index"].as_i64().unwrap()).collect()
    };
    assert_eq!(idx(&e["visible"]), [0, 1, 3], "the hidden record is left out by default");
    assert_eq!(idx(&e["all"]), [0, 1, 2, 3]);
    let hidden: Vec<bool> =
        e["all"].as_array().unwrap().iter().map(|r| r["hidden"].as_bool().unwrap()).collect();
    assert_eq!(hidden, [false, false, true, false]);
    assert!(e["visible"].as_array().unwrap().iter().all(|r| r["author"] == a(&cast.okafor)));

    // ---- Prescriptions.
    let rx = |label: &str| {
        banner.rx.get(label).unwrap_or_else(|| panic!("no rx {label} in the story summary")).clone()
    };
    let fields = "status fills fillsUsed quantityPerFill quantityDispensed remainingQuantity schedule patient
        prescriber contentHash pharmacy issuedPharmacy cancelled cancelReason minFillIntervalSecs relayed relayer
        dispenses { quantity fillNumber pharmacy } state { fillable quantityAvailable reasons { reason } }
        daysSupply dateWritten deadline longTermCare transferred shortSupplyUntil cancelledBy issuedAt";
    let q = ["refillable", "expired", "schedule-ii-partial", "cancelled"]
        .iter()
        .map(|l| format!("{}: prescription(id: \"{}\") {{ {fields} }}", l.replace('-', "_"), rx(l).0))
        .collect::<Vec<_>>()
        .join(" ");
    let d = gql(&url, &format!("{{ {q} }}")).await;
    for (label, name) in [
        ("refillable", "prescriptions/lisinopril.json"),
        ("expired", "prescriptions/amoxicillin.json"),
        ("schedule_ii_partial", "prescriptions/oxycodone.json"),
        ("cancelled", "prescriptions/atorvastatin.json"),
    ] {
        let (p, document) = (&d[label], doc(name));
        let fills = i64::from(document.dispense_request.number_of_repeats_allowed) + 1;
        assert_eq!(p["fills"], fills, "{label}");
        assert_eq!(
            p["quantityPerFill"],
            i64::from(document.dispense_request.quantity.value.get()),
            "{label}"
        );
        assert_eq!(p["schedule"], i64::from(document.schedule()), "{label}");
        assert_eq!(p["patient"], document.subject.account.to_string(), "{label}");
        assert_eq!(p["prescriber"], document.requester.account.to_string(), "{label}");
        let printed = rx(&label.replace('_', "-")).1;
        assert_eq!(p["contentHash"], printed, "{label}: the content hash the patient's copy holds");
    }
    let per_fill = |l: &str| d[l]["quantityPerFill"].as_i64().unwrap();

    let r = &d["refillable"];
    assert_eq!(
        (r["fillsUsed"].as_i64(), r["quantityDispensed"].as_str()),
        (Some(2), Some(&*(2 * per_fill("refillable")).to_string()))
    );
    assert_eq!(r["status"], "WAITING", "the next refill is not due yet");
    assert_eq!(r["minFillIntervalSecs"], 25 * 86_400);
    assert_eq!(reasons(&r["state"]["reasons"]), ["FILL_INTERVAL_NOT_ELAPSED"]);
    assert_eq!(r["issuedPharmacy"], a(&cast.mission));
    assert_eq!(r["pharmacy"], a(&cast.bayview), "moved by the patient");
    let fills: Vec<i64> =
        r["dispenses"].as_array().unwrap().iter().map(|x| x["fillNumber"].as_i64().unwrap()).collect();
    assert_eq!(fills, [1, 2]);

    let r = &d["expired"];
    assert_eq!(
        (r["relayed"].as_bool(), r["relayer"].as_str()),
        (Some(true), Some(&*a(&cast.relayer))),
        "signed and relayed"
    );
    assert_eq!(
        (r["status"].as_str(), r["fillsUsed"].as_i64(), r["quantityDispensed"].as_str()),
        (Some("EXPIRED"), Some(0), Some("0"))
    );

    let r = &d["schedule_ii_partial"];
    assert_eq!(r["schedule"], 2);
    assert_eq!(
        (r["fills"].as_i64(), r["fillsUsed"].as_i64(), r["quantityDispensed"].as_str()),
        (Some(1), Some(1), Some("10"))
    );
    assert_eq!(r["status"], "FILLABLE", "the open fill can be completed");
    assert_eq!(r["state"]["quantityAvailable"], per_fill("schedule_ii_partial") - 10);
    assert_eq!(r["remainingQuantity"], per_fill("schedule_ii_partial") - 10);
    assert_eq!(r["dispenses"][0]["pharmacy"], a(&cast.bayview));
    // Issue 19: a controlled substance names its pharmacy; the signed terms carry the date written
    // (the chain time in the demo), the days' supply and a deadline.
    assert_eq!(r["pharmacy"], a(&cast.bayview), "a controlled substance is sent to one pharmacy");
    assert_eq!(r["daysSupply"], 8);
    assert_eq!(secs(&r["dateWritten"]), secs(&r["issuedAt"]), "written when issued");
    assert_eq!(secs(&r["deadline"]) - secs(&r["dateWritten"]), 7 * 86_400, "the default 7-day issue window");
    assert_eq!((r["longTermCare"].as_bool(), r["transferred"].as_bool()), (Some(false), Some(false)));
    assert!(r["shortSupplyUntil"].is_null(), "a partial fill requested, not a short supply");

    let r = &d["cancelled"];
    assert_eq!((r["status"].as_str(), r["cancelled"].as_bool()), (Some("CANCELLED"), Some(true)));
    assert_eq!(r["cancelReason"], i64::from(demo::CANCEL_REASON_DOSE_CHANGED));
    assert_eq!(r["cancelledBy"], "prescriber");

    // A pharmacy verifies with the patient's content hash; a wrong hash and the wrong pharmacy are refused.
    let (id, hash) = rx("schedule-ii-partial");
    let (refill_id, refill_hash) = rx("refillable");
    let d = gql(
        &url,
        &format!(
            "{{ ok: verifyPrescription(id: \"{id}\", contentHash: \"{hash}\", pharmacy: \"{}\") {{
                  valid contentHashProven quantityAvailable failures {{ reason }} }}
                wrongHash: verifyPrescription(id: \"{id}\", contentHash: \"{refill_hash}\", pharmacy: \"{}\") {{
                  valid failures {{ reason }} }}
                moved: verifyPrescription(id: \"{refill_id}\", contentHash: \"{refill_hash}\", pharmacy: \"{}\") {{
                  valid failures {{ reason }} }} }}",
            a(&cast.bayview),
            a(&cast.bayview),
            a(&cast.mission)
        ),
    )
    .await;
    assert_eq!(d["ok"]["valid"], true, "{}", d["ok"]);
    assert_eq!(d["ok"]["contentHashProven"], true);
    assert_eq!(d["ok"]["quantityAvailable"], per_fill_of(&doc("prescriptions/oxycodone.json")) - 10);
    assert_eq!(d["wrongHash"]["valid"], false);
    assert!(reasons(&d["wrongHash"]["failures"]).contains(&"CONTENT_HASH_MISMATCH".to_owned()));
    assert!(reasons(&d["moved"]["failures"]).contains(&"OTHER_PHARMACY_DESIGNATED".to_owned()));

    // ---- The event trail: exactly the story's events (its four encounters anchored as the vault returned
    // them), and those of the vault's document after it (Chen Wei's episode and her record).
    let expected = [
        ("CredentialRegistered", 5),
        ("CredentialSuspended", 1),
        ("ConsentGranted", 3),
        ("ConsentRevoked", 1),
        ("EmergencyAccessOpened", 1),
        ("EpisodeOpened", 1),
        ("RecordAnchored", 4),
        ("RecordVisibilityChanged", 1),
        ("PrescriptionIssued", 4),
        ("PrescriptionDispensed", 3),
        ("PharmacyChanged", 1),
        ("PrescriptionCancelled", 1),
    ];
    let q = expected
        .iter()
        .map(|(n, _)| format!("{n}: events(filter: {{names: [\"{n}\"]}}) {{ totalCount }}"))
        .collect::<Vec<_>>()
        .join(" ");
    let d = gql(&url, &format!("{{ {q} }}")).await;
    let filed = |name: &str| match name {
        "EpisodeOpened" | "RecordAnchored" => 1,
        _ => 0,
    };
    for (name, count) in expected {
        assert_eq!(d[name]["totalCount"], count + filed(name), "{name} events");
    }
    let events: usize = expected.iter().map(|(_, n)| n).sum();
    assert_eq!(banner.story_transactions, Some(events), "one event per story transaction");

    // ---- SIGINT: a clean exit, nothing left behind.
    let rpc_url = banner.rpc.clone();
    let (status, output) = dev.interrupt(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}\n{output}");
    for dir in &banner.temp_dirs {
        assert!(!dir.exists(), "{} removed on exit", dir.display());
    }
    let anvil_gone = reqwest::Client::new()
        .post(&rpc_url)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .is_err();
    assert!(anvil_gone, "anvil stopped");

    // ---- A second run starts clean (new folders, a new chain) and, with --simulate, keeps moving: the
    // pharmacy's subscription sees the simulated prescriptions dispensed, and their status turns COMPLETED.
    // This run and the next share a database (`--db.url`).
    let pg = medledger_indexer::TempPostgres::start().await.unwrap();
    let db_url = pg.url();
    let mut dev = DevProcess::start(&["--simulate", "--simulate.interval-ms", "300", "--db.url", &db_url]);
    let second = dev.wait_ready(Duration::from_secs(300)).await;
    assert_eq!(second.temp_dirs.len(), 1, "only the scratch folder with --db.url: {second:?}");
    assert!(second.temp_dirs.iter().all(|d| !banner.temp_dirs.contains(d)), "fresh temporary folders");
    wait_indexed(&second.graphql, &second.rpc, Duration::from_secs(60)).await; // the story is behind us
    let ws_url = second.graphql.replace("http://", "ws://");
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::text(json!({"type": "connection_init"}).to_string())).await.unwrap();
    assert_eq!(next_message(&mut ws).await["type"], "connection_ack");
    let sub = json!({"id": "1", "type": "subscribe", "payload": {
        "query": "subscription($p: Address!) { events(filter: {accounts: [$p], names: [\"PrescriptionDispensed\"]}) { rxId blockNumber args } }",
        "variables": {"p": a(&cast.mission)}}});
    ws.send(Message::text(sub.to_string())).await.unwrap();
    // Two dispenses of one simulated prescription (half, then the rest) complete it.
    let (mut first_rx, mut pushed) = (None, Vec::new());
    while pushed.len() < 2 {
        let m = next_message(&mut ws).await;
        assert_eq!(m["type"], "next", "{m}");
        let e = &m["payload"]["data"]["events"];
        let rx_id = e["rxId"].as_str().unwrap().to_owned();
        if first_rx.is_none() && e["args"]["fillDispensed"] != e["args"]["quantity"] {
            continue; // joined between the two dispenses of one prescription
        }
        if first_rx.get_or_insert_with(|| rx_id.clone()) == &rx_id {
            pushed.push(e["blockNumber"].as_i64().unwrap());
        }
    }
    assert!(pushed[0] < pushed[1], "pushed in block order: {pushed:?}");
    let rx_id = first_rx.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d =
            gql(&second.graphql, &format!("{{ prescription(id: \"{rx_id}\") {{ status dispenseCount }} }}"))
                .await;
        if d["prescription"]["status"] == "COMPLETED" {
            assert_eq!(d["prescription"]["dispenseCount"], 2);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "simulated prescription not completed: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let simulated = dev
        .log_lines()
        .iter()
        .filter(|l| l["target"] == "medledger::simulate" && l["fields"]["message"] == "simulated action")
        .count();
    assert!(simulated >= 3, "one log line per simulated action ({simulated})");
    drop(ws);
    let (status, output) = dev.interrupt(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}\n{output}");
    assert!(!output.contains("simulated action failed"), "{output}");
    for dir in &second.temp_dirs {
        assert!(!dir.exists(), "{} removed on exit", dir.display());
    }

    // ---- --no-seed: empty contracts; the database's index of the previous run's chain is dropped first, so
    // no reorg is needed and nothing of it remains.
    let mut dev = DevProcess::start(&["--no-seed", "--db.url", &db_url]);
    let third = dev.wait_ready(Duration::from_secs(300)).await;
    assert!(third.rx.is_empty(), "no story with --no-seed");
    wait_indexed(&third.graphql, &third.rpc, Duration::from_secs(60)).await;
    assert!(
        dev.log_lines()
            .iter()
            .any(|l| l["fields"]["message"] == "removed an earlier run's index of this chain"),
        "{}",
        dev.output()
    );
    let d = gql(&third.graphql, "{ indexerStatus { reorgCount } }").await;
    assert_eq!(d["indexerStatus"]["reorgCount"], 0, "a clean start, not a reorg repair");
    let d = gql(&third.graphql, "{ events { nodes { name } } }").await;
    let kinds: Vec<&str> =
        d["events"]["nodes"].as_array().unwrap().iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert!(
        !kinds.is_empty() && kinds.iter().all(|k| *k == "RoleGranted"),
        "only the deployment's role grants: {kinds:?}"
    );
    let (status, output) = dev.interrupt(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}\n{output}");
    for dir in &third.temp_dirs {
        assert!(!dir.exists(), "{} removed on exit", dir.display());
    }
}

async fn next_message(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("no message within 30 s")
            .unwrap();
        if let Message::Text(text) = msg.unwrap() {
            let v: Value = serde_json::from_str(&text).unwrap();
            if v["type"] != "ping" && v["type"] != "pong" {
                return v;
            }
        }
    }
}

fn per_fill_of(d: &MedicationRequest) -> i64 {
    i64::from(d.dispense_request.quantity.value.get())
}
