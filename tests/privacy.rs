//! Privacy: plays the whole demo through `medledger dev` (the story, then simulated activity) on an anvil this
//! test owns, then scans every transaction's calldata, every event (topics and data), every storage write
//! and every deployed contract's code for the demo's clinical content — drug names and codes, strengths,
//! dosage text, patient names and identifiers, encounter notes — as UTF-8 (as written, lower and upper
//! case), hex text, UTF-16, an ABI-encoded string, an unsalted keccak256, and (codes) a 32-byte integer.
//! Storage writes come from anvil's `debug_traceTransaction` prestate tracer in diff mode. A planted
//! transaction proves the scan finds what it looks for, and the matcher is unit-tested per encoding. Every row
//! the indexer and the record vault wrote to PostgreSQL is scanned the same way, and so are the vault's
//! storage directory (every sealed object of the demo's documents) and the process's log lines.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod dev_common;

use alloy::{
    node_bindings::Anvil,
    primitives::{keccak256, U256},
    sol_types::SolValue,
};
use dev_common::{rpc, DevProcess};
use medledger::{
    demo::DOCUMENTS,
    devnet::{repo_root, toolchain_path},
};
use serde_json::{json, Value};
use std::{
    collections::{BTreeSet, HashMap},
    time::{Duration, Instant},
};

/// One way a clinical string could appear in bytes.
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    encoding: &'static str,
    bytes: Vec<u8>,
}

/// Every encoding searched for.
fn patterns(text: &str) -> Vec<Pattern> {
    let mut out = Vec::new();
    let mut add = |encoding, bytes: Vec<u8>| {
        if !out.iter().any(|p: &Pattern| p.bytes == bytes) {
            out.push(Pattern { text: text.to_owned(), encoding, bytes });
        }
    };
    let utf8 = text.as_bytes().to_vec();
    add("utf-8", utf8.clone());
    add("utf-8 lower case", text.to_lowercase().into_bytes());
    add("utf-8 upper case", text.to_uppercase().into_bytes());
    add("hex text", alloy::hex::encode(&utf8).into_bytes());
    add("hex text (upper case)", alloy::hex::encode_upper(&utf8).into_bytes());
    add("utf-16le", text.encode_utf16().flat_map(u16::to_le_bytes).collect());
    add("utf-16be", text.encode_utf16().flat_map(u16::to_be_bytes).collect());
    add("keccak256 (unsalted)", keccak256(&utf8).to_vec());
    // An ABI-encoded string: length word, then the bytes right-padded to a word.
    let mut abi = U256::from(utf8.len()).to_be_bytes::<32>().to_vec();
    abi.extend_from_slice(&utf8);
    abi.resize(32 + utf8.len().div_ceil(32) * 32, 0);
    add("abi-encoded string", abi);
    if let Ok(n) = text.parse::<u128>() {
        add("32-byte integer", U256::from(n).to_be_bytes::<32>().to_vec());
    }
    out
}

/// Finds every pattern in a haystack (patterns indexed by their first byte).
struct Matcher {
    patterns: Vec<Pattern>,
    by_first: HashMap<u8, Vec<usize>>,
}

impl Matcher {
    fn new(texts: &[String]) -> Self {
        let patterns: Vec<Pattern> = texts.iter().flat_map(|t| patterns(t)).collect();
        let mut by_first: HashMap<u8, Vec<usize>> = HashMap::new();
        for (i, p) in patterns.iter().enumerate() {
            by_first.entry(p.bytes[0]).or_default().push(i);
        }
        Self { patterns, by_first }
    }

    fn find(&self, hay: &[u8]) -> Vec<&Pattern> {
        let mut hits = BTreeSet::new();
        for (at, b) in hay.iter().enumerate() {
            if let Some(list) = self.by_first.get(b) {
                for &i in list {
                    if hay[at..].starts_with(&self.patterns[i].bytes) {
                        hits.insert(i);
                    }
                }
            }
        }
        hits.into_iter().map(|i| &self.patterns[i]).collect()
    }
}

/// Keys of the demo documents whose values are not clinical content (addresses, code systems, FHIR
/// resource types and statuses).
const NOT_CLINICAL: [&str; 5] = ["account", "system", "resourceType", "status", "class"];
/// Shorter strings (duration units, "II") would match random bytes; they are reported and left out.
const MIN_LEN: usize = 4;

fn walk(v: &Value, key: &str, out: &mut BTreeSet<String>, skipped: &mut BTreeSet<String>) {
    match v {
        Value::String(s) if !NOT_CLINICAL.contains(&key) => {
            if s.len() >= MIN_LEN {
                out.insert(s.clone());
            } else {
                skipped.insert(s.clone());
            }
        }
        Value::Array(items) => items.iter().for_each(|i| walk(i, key, out, skipped)),
        Value::Object(map) => map.iter().for_each(|(k, v)| walk(v, k, out, skipped)),
        _ => {}
    }
}

/// Every clinical string of the demo documents (and the ones too short to search for).
fn clinical_strings() -> (Vec<String>, BTreeSet<String>) {
    let (mut out, mut skipped) = (BTreeSet::new(), BTreeSet::new());
    for d in &DOCUMENTS {
        let v: Value = serde_json::from_str(d.text).unwrap();
        walk(&v, "", &mut out, &mut skipped);
    }
    (out.into_iter().collect(), skipped)
}

fn bytes(v: &Value) -> Vec<u8> {
    v.as_str().map(|s| alloy::hex::decode(s).unwrap()).unwrap_or_default()
}

#[derive(Debug, Default)]
struct Scanned {
    transactions: usize,
    logs: usize,
    storage_writes: usize,
    bytes: usize,
    findings: Vec<Finding>,
}

/// A clinical string found on chain.
#[derive(Debug)]
struct Finding {
    tx: String,
    place: String,
    text: String,
    encoding: &'static str,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "tx {}: {}: {:?} as {}", self.tx, self.place, self.text, self.encoding)
    }
}

/// Scans one transaction: calldata, receipt logs, storage writes and code of its state diff.
async fn scan_tx(url: &str, tx: &Value, m: &Matcher, s: &mut Scanned) {
    let hash = tx["hash"].as_str().unwrap().to_owned();
    let mut places: Vec<(String, Vec<u8>)> = vec![("calldata".into(), bytes(&tx["input"]))];
    let receipt = rpc(url, "eth_getTransactionReceipt", json!([hash])).await;
    for (i, log) in receipt["logs"].as_array().unwrap().iter().enumerate() {
        s.logs += 1;
        for (t, topic) in log["topics"].as_array().unwrap().iter().enumerate() {
            places.push((format!("log {i} topic {t}"), bytes(topic)));
        }
        places.push((format!("log {i} data"), bytes(&log["data"])));
    }
    let diff = rpc(
        url,
        "debug_traceTransaction",
        json!([hash, {"tracer": "prestateTracer", "tracerConfig": {"diffMode": true}}]),
    )
    .await;
    for (account, state) in diff["post"].as_object().unwrap() {
        if let Some(storage) = state.get("storage").and_then(Value::as_object) {
            for (slot, value) in storage {
                s.storage_writes += 1;
                places.push((format!("storage of {account} slot {slot} (key)"), bytes(&json!(slot))));
                places.push((format!("storage of {account} slot {slot}"), bytes(value)));
            }
        }
        if let Some(code) = state.get("code") {
            places.push((format!("code of {account}"), bytes(code)));
        }
    }
    s.transactions += 1;
    for (place, hay) in places {
        s.bytes += hay.len();
        for p in m.find(&hay) {
            s.findings.push(Finding {
                tx: hash.clone(),
                place: place.clone(),
                text: p.text.clone(),
                encoding: p.encoding,
            });
        }
    }
}

/// Scans every transaction of blocks `from..=to`.
async fn scan_blocks(url: &str, from: u64, to: u64, m: &Matcher) -> Scanned {
    let mut s = Scanned::default();
    for n in from..=to {
        let block = rpc(url, "eth_getBlockByNumber", json!([format!("0x{n:x}"), true])).await;
        for tx in block["transactions"].as_array().unwrap() {
            scan_tx(url, tx, m, &mut s).await;
        }
    }
    s
}

async fn head(url: &str) -> u64 {
    dev_common::head(url).await as u64
}

/// A contract that copies its calldata into a log and its first word into storage slot 0:
/// `CALLDATASIZE 0 0 CALLDATACOPY; CALLDATASIZE 0 LOG0; 0 CALLDATALOAD 0 SSTORE; STOP`, behind a constructor
/// that returns it.
const ECHO_INIT_CODE: &str = "0x6011600c60003960116000f3366000600037366000a060003560005500";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_puts_no_clinical_content_on_chain() {
    let (texts, skipped) = clinical_strings();
    for must in ["Lisinopril", "Maria Alvarez", "MRN-4417-2093", "314076", "Oxycodone hydrochloride"] {
        assert!(texts.iter().any(|t| t == must), "{must} is among the searched strings");
    }
    let m = Matcher::new(&texts);
    eprintln!(
        "searching for {} clinical strings in {} encodings (too short to search: {skipped:?})",
        texts.len(),
        m.patterns.len()
    );

    // The demo, story and simulation, on an anvil this test owns (so the chain outlives `medledger dev`).
    let root = repo_root();
    let anvil = Anvil::new().path(toolchain_path(&root, "anvil").unwrap()).try_spawn().expect("anvil");
    let url = anvil.endpoint();
    // ... and a database this test owns, scanned too after the run.
    let pg = medledger_indexer::TempPostgres::start().await.unwrap();
    let db_url = pg.url();
    let mut dev = DevProcess::start(&[
        "--rpc.url",
        &url,
        "--db.url",
        &db_url,
        "--simulate",
        "--simulate.interval-ms",
        "200",
    ]);
    let banner = dev.wait_ready(Duration::from_secs(300)).await;
    let story = banner.story_transactions.expect("the story ran");
    let deadline = Instant::now() + Duration::from_secs(120);
    let simulated = loop {
        let n = dev
            .log_lines()
            .iter()
            .filter(|l| l["target"] == "medledger::simulate" && l["fields"]["message"] == "simulated action")
            .count();
        if n >= 10 {
            break n;
        }
        assert!(Instant::now() < deadline, "only {n} simulated actions\n{}", dev.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The vault's store, before `medledger dev` removes it: every file, sealed documents and all.
    let output = dev.output();
    let store = output
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("vault ").and_then(|l| l.split(" store ").nth(1)))
        .map(|s| std::path::PathBuf::from(s.trim_end_matches(')')))
        .unwrap_or_else(|| panic!("the banner names the vault's store\n{output}"));
    assert!(output.contains("refused (403)"), "the demo's reads were played\n{output}");
    let (mut files, mut stored, mut store_findings) = (0usize, 0usize, Vec::new());
    let mut dirs = vec![store.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let data = std::fs::read(&path).unwrap();
            files += 1;
            stored += data.len();
            for p in m.find(&data) {
                store_findings.push(format!("{}: {:?} as {}", path.display(), p.text, p.encoding));
            }
        }
    }
    let filed: usize = DOCUMENTS
        .iter()
        .filter(|d| d.name.starts_with("encounters/") && !d.name.contains("05-"))
        .map(|d| d.text.len())
        .sum();
    eprintln!("scanned {files} files, {stored} bytes of the vault's store {}", store.display());
    assert!(
        files >= 5 && stored >= filed,
        "the sealed demo documents were scanned ({files} files, {stored} bytes)"
    );
    assert!(
        store_findings.is_empty(),
        "clinical content in the vault's store:\n{}",
        store_findings.join("\n")
    );
    // The log lines (the banner, which names the fictional cast, is not a log). Licensed providers' names
    // are public registry facts the story logs on purpose; patients' are not.
    let cast = medledger::demo::Cast::new(&medledger::devnet::anvil_test_signers()).unwrap();
    let providers: Vec<&str> = cast
        .members()
        .into_iter()
        .filter(|c| c.role != medledger::demo::Role::Patient)
        .map(|c| c.name)
        .collect();
    let mut log_findings = Vec::new();
    for line in dev.log_lines() {
        for p in
            m.find(line.to_string().as_bytes()).into_iter().filter(|p| !providers.contains(&p.text.as_str()))
        {
            log_findings.push(format!("{line}: {:?} as {}", p.text, p.encoding));
        }
    }
    assert!(dev
        .log_lines()
        .iter()
        .any(|l| l["target"].as_str().is_some_and(|t| t.starts_with("medledger::vault"))));
    assert!(log_findings.is_empty(), "clinical content in the logs:\n{}", log_findings.join("\n"));

    let (status, output) = dev.interrupt(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}\n{output}");
    let failed_actions = output.matches("simulated action failed").count();
    assert_eq!(failed_actions, 0, "every simulated action succeeded\n{output}");

    // Every row the indexer wrote, as PostgreSQL prints it (bytea as \x hex text).
    let pool = sqlx::PgPool::connect(&db_url).await.unwrap();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut db_findings = Vec::new();
    let mut db_rows = 0i64;
    for table in &tables {
        let sql = format!("SELECT count(*), coalesce(string_agg(t::text, E'\\n'), '') FROM \"{table}\" t");
        let (rows, text): (i64, String) = sqlx::query_as(&sql).fetch_one(&pool).await.unwrap();
        db_rows += rows;
        if table == "events" {
            // Self-check: the dump carries the rows' contents (text columns as text, bytea as hex text).
            let known = Matcher::new(&["PrescriptionIssued".to_owned(), "Oxycodone".to_owned()]);
            let found: Vec<_> =
                known.find(text.as_bytes()).iter().map(|p| (p.text.as_str(), p.encoding)).collect();
            assert_eq!(found, [("PrescriptionIssued", "utf-8")], "the database dump shows row contents");
        }
        for p in m.find(text.as_bytes()) {
            db_findings.push(format!("table {table}: {:?} as {}", p.text, p.encoding));
        }
    }
    pool.close().await;
    eprintln!("scanned {db_rows} rows of {} tables", tables.len());
    assert!(tables.iter().any(|t| t == "events"), "{tables:?}");
    assert!(tables.iter().any(|t| t == "vault_documents") && tables.iter().any(|t| t == "vault_access_log"));
    assert!(db_rows > 100, "the index was scanned ({db_rows} rows)");
    assert!(db_findings.is_empty(), "clinical content in PostgreSQL:\n{}", db_findings.join("\n"));

    // Every transaction since genesis: the deployment, the story, the simulation.
    let demo_head = head(&url).await;
    let scanned = scan_blocks(&url, 0, demo_head, &m).await;
    eprintln!(
        "scanned {} transactions ({} story, >= {simulated} simulated), {} logs, {} storage writes, {} bytes",
        scanned.transactions, story, scanned.logs, scanned.storage_writes, scanned.bytes
    );
    assert!(scanned.transactions >= story + simulated, "every demo transaction was scanned");
    assert!(scanned.logs >= scanned.transactions - 4, "the receipts' logs were scanned");
    assert!(scanned.storage_writes >= scanned.transactions, "the storage writes were scanned");

    // Self-check on the same chain: a transaction that does put a drug name on chain is caught in its
    // calldata, its log and its storage write.
    let from = anvil.addresses()[0].to_string();
    let send = |data: String, to: Option<String>| {
        let url = url.clone();
        let from = from.clone();
        async move {
            let mut tx = json!({"from": from, "data": data, "gas": "0x100000"});
            if let Some(to) = to {
                tx["to"] = json!(to);
            }
            let hash = rpc(&url, "eth_sendTransaction", json!([tx])).await;
            rpc(&url, "eth_getTransactionReceipt", json!([hash])).await
        }
    };
    let deployed = send(ECHO_INIT_CODE.to_owned(), None).await;
    let echo = deployed["contractAddress"].as_str().unwrap().to_owned();
    let mut word = b"Lisinopril".to_vec();
    word.resize(32, 0);
    let planted = send(alloy::hex::encode_prefixed(&word), Some(echo.clone())).await;
    assert_eq!(planted["status"], "0x1");
    let after = scan_blocks(&url, demo_head + 1, head(&url).await, &m).await;
    let tx = planted["transactionHash"].as_str().unwrap();
    let slot0 = format!("storage of {} slot 0x{}", echo.to_lowercase(), "0".repeat(64));
    for place in ["calldata".to_owned(), "log 0 data".to_owned(), slot0] {
        assert!(
            after
                .findings
                .iter()
                .any(|f| f.tx == tx && f.place == place && f.text == "Lisinopril" && f.encoding == "utf-8"),
            "the planted drug name is found in the {place}: {:#?}",
            after.findings
        );
    }

    assert!(
        scanned.findings.is_empty(),
        "clinical content on chain ({} findings):\n{}",
        scanned.findings.len(),
        scanned.findings.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn matcher_finds_every_encoding_built_independently() {
    let texts = vec!["Amoxicillin".to_owned(), "308191".to_owned()];
    let m = Matcher::new(&texts);
    let framed = |b: &[u8]| [vec![0xab; 37], b.to_vec(), vec![0xcd; 41]].concat();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("utf-8", b"Amoxicillin".to_vec()),
        ("utf-8 lower case", b"amoxicillin".to_vec()),
        ("utf-8 upper case", b"AMOXICILLIN".to_vec()),
        ("hex text", alloy::hex::encode("Amoxicillin").into_bytes()),
        ("hex text (upper case)", alloy::hex::encode_upper("Amoxicillin").into_bytes()),
        ("utf-16le", "Amoxicillin".encode_utf16().flat_map(u16::to_le_bytes).collect()),
        ("utf-16be", "Amoxicillin".encode_utf16().flat_map(u16::to_be_bytes).collect()),
        ("keccak256 (unsalted)", keccak256("Amoxicillin").to_vec()),
        // What a contract call with a `string` argument carries (after the offset word).
        ("abi-encoded string", "Amoxicillin".to_owned().abi_encode()[32..].to_vec()),
    ];
    for (encoding, b) in &cases {
        let hits = m.find(&framed(b));
        assert!(
            hits.iter().any(|p| p.text == "Amoxicillin" && p.encoding == *encoding),
            "{encoding} not found: {hits:?}"
        );
    }
    let code = m.find(&framed(&U256::from(308_191u64).to_be_bytes::<32>()));
    assert!(code.iter().any(|p| p.text == "308191" && p.encoding == "32-byte integer"));
    assert!(m.find(&framed(b"308191")).iter().any(|p| p.encoding == "utf-8"));
    // Nothing where there is nothing.
    assert!(m.find(&framed(b"Amoxicilli")).is_empty());
    assert!(m.find(&[0u8; 4096]).is_empty());
    assert!(m.find(&framed(&U256::from(308_192u64).to_be_bytes::<32>())).is_empty());
}

#[test]
fn clinical_strings_cover_every_document_field_kind() {
    let (texts, skipped) = clinical_strings();
    for want in [
        "Amoxicillin",                                                         // drug name
        "308191",                                                              // RxNorm code
        "amoxicillin 500 MG Oral Capsule",                                     // code display
        "500 mg",                                                              // strength
        "Take 1 capsule by mouth every 8 hours for 7 days; finish the course", // dosage text
        "James Whitfield",                                                     // patient name
        "MRN-5530-7781",                                                       // patient identifier
        "capsule",                                                             // unit
        "Depressive disorder",                                                 // encounter reason
    ] {
        assert!(texts.iter().any(|t| t == want), "{want} missing from {texts:#?}");
    }
    assert!(!texts.iter().any(|t| t.starts_with("0x")), "addresses are not clinical content");
    assert!(skipped.iter().all(|s| s.len() < MIN_LEN));
}
