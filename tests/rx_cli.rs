//! `medledger rx …` end to end: the real binary against anvil with the contracts deployed, a throwaway
//! PostgreSQL, and `medledger run` (indexer + GraphQL API). Round trips new → issue → verify → dispense
//! with a raw private key and with keystore files, a signature made by `cast wallet sign` and relayed, and
//! every refusal with its message and exit status.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[macro_use]
mod support;

use alloy::{
    primitives::{aliases::U40, Address, FixedBytes, B256, U256},
    providers::Provider,
    signers::local::PrivateKeySigner,
};
use medledger::{
    devnet::{repo_root, toolchain_command, Devnet},
    rx::PatientCopy,
};
use medledger_core::bindings::{ConsentRegistry, CredentialRegistry, IPrescriptions, Prescriptions};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use support::*;

const BIN: &str = env!("CARGO_BIN_EXE_medledger");
const PRESCRIBE: u8 = 4;

/// What one run of the binary gave.
#[derive(Debug)]
struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success:\n{self:#?}");
        self
    }

    /// Asserts a failure with `code` whose stderr contains every part of `message`.
    #[track_caller]
    fn fails(self, code: i32, message: &[&str]) -> Self {
        assert_eq!(self.code, code, "expected exit status {code}:\n{self:#?}");
        for part in message {
            assert!(self.stderr.contains(part), "stderr lacks {part:?}:\n{self:#?}");
        }
        self
    }
}

/// The test world: a devnet with a licensed prescriber (schedules II–V) and pharmacy, a patient who granted
/// PRESCRIBE to the prescriber, keystores for both, and a scratch folder the commands run in.
struct World {
    devnet: Devnet,
    dir: tempfile::TempDir,
    keys: Vec<String>,
    prescriber: Address,
    pharmacy: Address,
    patient: Address,
    stranger: Address,
}

/// Issue 16: every address a command prints (`0x` and exactly 40 hex digits) is EIP-55 checksummed.
#[track_caller]
fn assert_checksummed(text: &str, out: &dyn std::fmt::Debug) {
    for (at, _) in text.match_indices("0x") {
        if text[..at].chars().next_back().is_some_and(|c| c.is_ascii_alphanumeric()) {
            continue;
        }
        let digits = text[at + 2..].chars().take_while(char::is_ascii_hexdigit).count();
        if digits != 40 {
            continue;
        }
        let printed = &text[at..at + 42];
        let address: Address = printed.to_lowercase().parse().unwrap();
        assert_eq!(printed, address.to_checksum(None), "an address printed without its checksum:\n{out:#?}");
    }
}

fn key_hex(s: &PrivateKeySigner) -> String {
    format!("0x{}", alloy::hex::encode(s.to_bytes()))
}

impl World {
    async fn new() -> Self {
        Self::on(devnet().await).await
    }

    /// The world on a devnet whose anvil was started with `anvil_args`.
    async fn with_anvil(anvil_args: &[&str]) -> Self {
        init_logs();
        let args: Vec<String> = anvil_args.iter().map(|a| (*a).to_owned()).collect();
        let devnet = tokio::task::spawn_blocking(move || {
            Devnet::start_with(&repo_root(), &args.iter().map(String::as_str).collect::<Vec<_>>())
        })
        .await
        .unwrap()
        .expect("devnet");
        Self::on(devnet).await
    }

    async fn on(devnet: Devnet) -> Self {
        let p = wallet_provider(&devnet);
        let m = devnet.manifest().contracts;
        let a = devnet.addresses().to_vec();
        let (admin, prescriber, pharmacy, patient, stranger) = (a[0], a[1], a[2], a[3], a[4]);
        let cr = CredentialRegistry::new(m.credential_registry, p.clone());
        let cs = ConsentRegistry::new(m.consent_registry, p.clone());
        let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
        let year = U40::from(now + 365 * 86_400);
        let jur = FixedBytes::<8>::from_slice(b"US-CA\0\0\0");
        send!(cr.register(prescriber, 1, B256::repeat_byte(0x11), jur, year, 0b0011_1100).from(admin));
        send!(cr.register(pharmacy, 2, B256::repeat_byte(0x22), jur, year, 0b0011_1100).from(admin));
        send!(cs.grant(prescriber, PRESCRIBE, year).from(patient));
        let keys = devnet.signers().iter().map(key_hex).collect();
        let dir = tempfile::tempdir().unwrap();
        let world = Self { devnet, dir, keys, prescriber, pharmacy, patient, stranger };
        world.keystore("prescriber", 1);
        world.keystore("pharmacy", 2);
        std::fs::write(world.path("password.txt"), "correct horse\n").unwrap();
        world
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cast wallet import` of anvil key `index` into `<dir>/keys/<name>` with password "correct horse".
    fn keystore(&self, name: &str, index: usize) {
        let out = toolchain_command(&repo_root(), "cast")
            .args(["wallet", "import", name, "--unsafe-password", "correct horse", "--private-key"])
            .arg(&self.keys[index])
            .arg("--keystore-dir")
            .arg(self.path("keys"))
            .output()
            .unwrap();
        assert!(out.status.success(), "cast wallet import: {}", String::from_utf8_lossy(&out.stderr));
    }

    fn keystore_path(&self, name: &str) -> String {
        self.path("keys").join(name).display().to_string()
    }

    fn manifest(&self) -> String {
        self.devnet.manifest_path().display().to_string()
    }

    /// Runs `medledger rx <args>` in the scratch folder, with no MEDLEDGER_* variables inherited.
    fn rx(&self, args: &[&str]) -> Out {
        self.rx_env(args, &[])
    }

    fn rx_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        self.run("rx", args, env)
    }

    /// Runs `medledger <command> <args>` as [`Self::rx_env`] does.
    fn run(&self, command: &str, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(BIN);
        cmd.arg(command).args(args).current_dir(self.dir.path()).env("RUST_LOG", "warn");
        for (k, _) in std::env::vars() {
            if k.starts_with("MEDLEDGER_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied());
        let out = cmd.output().unwrap();
        let out = Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_checksummed(&out.stdout, &out);
        assert_checksummed(&out.stderr, &out);
        out
    }

    fn chain_args(&self) -> Vec<String> {
        vec!["--rpc.url".into(), self.devnet.rpc_url(), "--manifest".into(), self.manifest()]
    }

    /// `rx new <example> --out <name>`, dated by the chain's clock (`--rpc.url`).
    fn new_rx(&self, example: &str, name: &str) -> PatientCopy {
        let doc = repo_root().join("examples/rx").join(example);
        let rpc = self.devnet.rpc_url();
        self.rx(&[
            "new",
            doc.to_str().unwrap(),
            "--manifest",
            &self.manifest(),
            "--rpc.url",
            &rpc,
            "--out",
            name,
        ])
        .ok();
        self.copy(name)
    }

    /// The latest block's timestamp.
    async fn chain_time(&self) -> u64 {
        let p = read_provider(&self.devnet.rpc_url());
        p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp
    }

    fn copy(&self, name: &str) -> PatientCopy {
        PatientCopy::parse(&std::fs::read_to_string(self.path(&format!("{name}.patient.json"))).unwrap())
            .unwrap()
    }

    fn with_chain<'a>(&'a self, head: &[&'a str], chain: &'a [String], tail: &[&'a str]) -> Vec<&'a str> {
        head.iter().copied().chain(chain.iter().map(String::as_str)).chain(tail.iter().copied()).collect()
    }
}

/// `medledger run` (indexer + API) on the world's chain; killed on drop.
struct Api {
    child: Child,
    url: String,
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_api(world: &World) -> Api {
    let (db_url, _pool) = fresh_db("rx_cli").await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(BIN)
        .args([
            "run",
            "--rpc.url",
            &world.devnet.ws_url(),
            "--db.url",
            &db_url,
            "--manifest",
            &world.manifest(),
        ])
        .args(["--api.addr", &format!("127.0.0.1:{port}"), "--metrics.addr", "off", "--log.filter", "warn"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Api { child, url: format!("http://127.0.0.1:{port}") }
}

/// Runs `rx verify` until its exit status is `code` and its output contains `expect` (the indexer catches
/// up within a few blocks).
async fn verify_until(world: &World, args: &[&str], code: i32, expect: &str) -> Out {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = world.rx(args);
        if out.code == code && out.stdout.contains(expect) {
            return out;
        }
        assert!(Instant::now() < deadline, "rx verify never exited with {code} saying {expect:?}:\n{out:#?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn cast_sign(world: &World, key: &str, typed_data: &Path) -> String {
    let out = toolchain_command(&repo_root(), "cast")
        .args(["wallet", "sign", "--private-key", key, "--data", "--from-file"])
        .arg(typed_data)
        .output()
        .unwrap();
    assert!(out.status.success(), "cast wallet sign: {}", String::from_utf8_lossy(&out.stderr));
    let _ = world;
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trips_with_raw_key_keystore_and_relayed_cast_signature() {
    let w = World::new().await;
    let api = start_api(&w).await;
    let chain = w.chain_args();
    let pharmacy = w.pharmacy.to_string();

    // 1. Raw keys: amoxicillin, 2 fills of 30, any pharmacy.
    let amox = w.new_rx("amoxicillin.json", "amox");
    // The contract hashes the content and the terms as the patient copy does.
    let contract =
        Prescriptions::new(w.devnet.manifest().contracts.prescriptions, read_provider(&w.devnet.rpc_url()));
    let c = &amox.prescription().content;
    let on_chain_content = IPrescriptions::PrescriptionContent {
        patientName: c.patientName.clone(),
        patientIdentifier: c.patientIdentifier.clone(),
        rxnormCode: c.rxnormCode.clone(),
        drugName: c.drugName.clone(),
        strength: c.strength.clone(),
        dosageInstructions: c.dosageInstructions.clone(),
        quantity: c.quantity,
        unit: c.unit.clone(),
        substitutionAllowed: c.substitutionAllowed,
        salt: c.salt,
    };
    assert_eq!(contract.hashContent(on_chain_content).call().await.unwrap(), amox.content_hash());
    assert_eq!(contract.hashPrescription(amox.prescription().terms()).call().await.unwrap(), amox.rx_id());
    assert!(w.path("amox.typed-data.json").exists() && w.path("amox.code.txt").exists());
    // The files it writes carry checksummed addresses too.
    for file in ["amox.patient.json", "amox.typed-data.json"] {
        let text = std::fs::read_to_string(w.path(file)).unwrap();
        assert!(text.contains(&w.prescriber.to_checksum(None)), "{file}: {text}");
        assert_checksummed(&text, &file);
    }
    assert!(amox.issued().is_none());
    let out =
        w.rx(&w.with_chain(&["issue", "amox.patient.json"], &chain, &["--private-key", &w.keys[1]])).ok();
    assert!(out.stdout.contains(&amox.rx_id().to_string()), "{out:#?}");
    let issued = w.copy("amox").issued().expect("the copy records the issuing transaction");
    assert!(out.stdout.contains(&issued.tx_hash.to_string()));
    let verify = ["verify", "amox.patient.json", "--api.url", &api.url, "--pharmacy", &pharmacy];
    let out = verify_until(&w, &verify, 0, "DISPENSABLE   up to 30 capsule").await;
    assert!(out.stdout.contains("proven against the issued terms"), "{out:#?}");
    let out = w
        .rx_env(
            &w.with_chain(&["dispense", "amox.patient.json", "--quantity", "10"], &chain, &[]),
            &[("MEDLEDGER_PRIVATE_KEY", &w.keys[2])],
        )
        .ok();
    assert!(out.stdout.contains("fill 1 of 2, 10 of 60 units dispensed"), "{out:#?}");
    verify_until(&w, &verify, 0, "DISPENSABLE   up to 20 capsule").await;

    // 2. Keystores: oxycodone (schedule II, designated pharmacy); verify and dispense from the QR text.
    let oxy = w.new_rx("oxycodone.json", "oxy");
    let prescriber_ks = w.keystore_path("prescriber");
    let pharmacy_ks = w.keystore_path("pharmacy");
    w.rx(&w.with_chain(
        &["issue", "oxy.patient.json"],
        &chain,
        &["--keystore", &prescriber_ks, "--password-file", "password.txt"],
    ))
    .ok();
    let code = std::fs::read_to_string(w.path("oxy.code.txt")).unwrap().trim().to_owned();
    assert!(code.starts_with("MEDRX2:"));
    // No --pharmacy: the designated one.
    let out = verify_until(
        &w,
        &["verify", &code, "--api.url", &api.url, "--manifest", &w.manifest()],
        0,
        "up to 20 tablet",
    )
    .await;
    assert!(out.stdout.contains(&oxy.rx_id().to_string()) && out.stdout.contains("schedule II"), "{out:#?}");
    // The API checked the declared schedule from the content the command sent (issue 19, point 1).
    assert!(
        out.stdout.contains("schedule      schedule II (matches controlled-substance table 2026-12-04.1)"),
        "{out:#?}"
    );
    assert!(out.stdout.contains(&format!("pharmacy      {}", w.pharmacy)), "{out:#?}");
    w.rx_env(
        &w.with_chain(
            &["dispense", "oxy.code.txt", "--quantity", "20", "--keystore", &pharmacy_ks],
            &chain,
            &[],
        ),
        &[("MEDLEDGER_KEYSTORE_PASSWORD", "correct horse")],
    )
    .ok();
    // Fully dispensed: the verdict says why, with exit status 3.
    let out =
        verify_until(&w, &["verify", "oxy.patient.json", "--api.url", &api.url], 3, "NOTHING_LEFT").await;
    assert!(out.stdout.contains("NOT DISPENSABLE"), "{out:#?}");

    // 3. Signed with `cast wallet sign --data --from-file` over the typed data, relayed by a stranger.
    let relayed = w.new_rx("amoxicillin.json", "relayed");
    let signature = cast_sign(&w, &w.keys[1], &w.path("relayed.typed-data.json"));
    let ours = w.rx(&["sign", "relayed.patient.json", "--private-key", &w.keys[1]]).ok();
    assert_eq!(ours.stdout.trim(), signature, "rx sign and cast wallet sign agree");
    let out = w
        .rx(&w.with_chain(
            &["issue", "relayed.patient.json", "--signature", &signature],
            &chain,
            &["--private-key", &w.keys[4]],
        ))
        .ok();
    assert!(out.stdout.contains(&format!("relayed by    {}", w.stranger)), "{out:#?}");
    let rx_id = relayed.rx_id().to_string();
    verify_until(
        &w,
        &["verify", "relayed.code.txt", "--api.url", &api.url, "--pharmacy", &pharmacy],
        0,
        &rx_id,
    )
    .await;

    // Unknown to the API: a prescription never issued.
    w.new_rx("amoxicillin.json", "never");
    let out = w.rx(&["verify", "never.patient.json", "--api.url", &api.url, "--pharmacy", &pharmacy]);
    assert_eq!(out.code, 3, "{out:#?}");
    assert!(out.stdout.contains("UNKNOWN_PRESCRIPTION"), "{out:#?}");
    let _ = w.patient;
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_have_messages_and_exit_codes() {
    let w = World::new().await;
    let chain = w.chain_args();
    let doc = repo_root().join("examples/rx/amoxicillin.json");
    let text = std::fs::read_to_string(&doc).unwrap();
    let manifest = w.manifest();

    // Bad JSON: line, column and field.
    std::fs::write(w.path("bad.json"), text.replace("\"value\": 30", "\"value\": \"30\"")).unwrap();
    let line = text.lines().position(|l| l.contains("\"value\": 30")).unwrap() + 1;
    w.rx(&["new", "bad.json", "--manifest", &manifest]).fails(
        1,
        &[&format!("line {line}, column"), "dispenseRequest.quantity.value: invalid type: string \"30\""],
    );
    std::fs::write(w.path("typo.json"), text.replace("numberOfRepeatsAllowed", "numberOfRefills")).unwrap();
    w.rx(&["new", "typo.json", "--manifest", &manifest])
        .fails(1, &["dispenseRequest", "unknown field `numberOfRefills`"]);
    let oxy = std::fs::read_to_string(repo_root().join("examples/rx/oxycodone.json")).unwrap();
    std::fs::write(
        w.path("refill.json"),
        oxy.replace("\"numberOfRepeatsAllowed\": 0", "\"numberOfRepeatsAllowed\": 2"),
    )
    .unwrap();
    w.rx(&["new", "refill.json", "--manifest", &manifest])
        .fails(1, &["dispenseRequest.numberOfRepeatsAllowed: schedule II allows at most 0 repeats"]);
    // Issue 19: the declared schedule is checked against the bundled controlled-substance table.
    std::fs::write(
        w.path("mislabelled.json"),
        oxy.replace("\"controlledSubstanceSchedule\": \"II\"", "\"controlledSubstanceSchedule\": \"IV\""),
    )
    .unwrap();
    w.rx(&["new", "mislabelled.json", "--manifest", &manifest]).fails(
        1,
        &[
            "medication.controlledSubstanceSchedule: RxNorm 1049621 (oxycodone hydrochloride 5 MG Oral Tablet)",
            "is schedule II in the controlled-substance table 2026-12-04.1",
            "but the prescription declares it schedule IV",
        ],
    );
    std::fs::write(
        w.path("undeclared.json"),
        oxy.replace(",\n    \"controlledSubstanceSchedule\": \"II\"", ""),
    )
    .unwrap();
    w.rx(&["new", "undeclared.json", "--manifest", &manifest])
        .fails(1, &["is schedule II in the controlled-substance table", "declares it not controlled"]);
    // Bad command line: exit status 2.
    let out = w.rx(&w.with_chain(&["dispense", "x.patient.json"], &chain, &[]));
    assert_eq!(out.code, 2, "{out:#?}");
    assert!(out.stderr.contains("--quantity"), "{out:#?}");

    // A patient copy is never overwritten silently.
    w.new_rx("amoxicillin.json", "a");
    w.rx(&["new", doc.to_str().unwrap(), "--manifest", &manifest, "--out", "a"])
        .fails(1, &["a.patient.json exists"]);

    // Wrong chain: a manifest for chain 1, against the anvil node; a prescription made for chain 1.
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    m["chainId"] = 1.into();
    std::fs::write(w.path("mainnet.json"), m.to_string()).unwrap();
    w.rx(&[
        "issue",
        "a.patient.json",
        "--rpc.url",
        &w.devnet.rpc_url(),
        "--manifest",
        "mainnet.json",
        "--private-key",
        &w.keys[1],
    ])
    .fails(1, &["wrong chain: the RPC node is on chain 31337, the deployment manifest is for chain 1"]);
    w.rx(&["new", doc.to_str().unwrap(), "--manifest", "mainnet.json", "--out", "m1"]).ok();
    w.rx(&w.with_chain(&["issue", "m1.patient.json"], &chain, &["--private-key", &w.keys[1]])).fails(
        1,
        &["wrong chain: the prescription is on chain 1, the deployment manifest is for chain 31337"],
    );

    // Unknown prescription: dispensing one never issued.
    let a = w.copy("a");
    w.rx(&w.with_chain(
        &["dispense", "a.patient.json", "--quantity", "1"],
        &chain,
        &["--private-key", &w.keys[2]],
    ))
    .fails(1, &[&format!("unknown prescription {}: it was never issued on chain 31337", a.rx_id())]);

    // No consent: a patient who granted nothing.
    let stranger = w.stranger.to_string();
    let patient = w.patient.to_string();
    std::fs::write(w.path("noconsent.json"), text.replace(&patient, &stranger)).unwrap();
    w.rx(&["new", "noconsent.json", "--manifest", &manifest, "--rpc.url", &w.devnet.rpc_url()]).ok();
    w.rx(&w.with_chain(&["issue", "noconsent.patient.json"], &chain, &["--private-key", &w.keys[1]])).fails(
        1,
        &[&format!("no consent: patient {} has not granted PRESCRIBE to {}", w.stranger, w.prescriber)],
    );

    // The pharmacy cannot issue in the prescriber's name; a signature by the wrong key is refused.
    w.rx(&w.with_chain(&["issue", "a.patient.json"], &chain, &["--private-key", &w.keys[2]]))
        .fails(1, &[&format!("the sender {} is not the prescriber {}", w.pharmacy, w.prescriber)]);
    let forged = cast_sign(&w, &w.keys[2], &w.path("a.typed-data.json"));
    w.rx(&w.with_chain(
        &["issue", "a.patient.json", "--signature", &forged],
        &chain,
        &["--private-key", &w.keys[4]],
    ))
    .fails(1, &["invalid signature", &w.prescriber.to_string()]);
    w.rx(&["sign", "a.patient.json", "--private-key", &w.keys[2]]).fails(1, &["is not the prescriber"]);

    // Insufficient funds: a relayer with no ether.
    let broke = PrivateKeySigner::random();
    let signature = cast_sign(&w, &w.keys[1], &w.path("a.typed-data.json"));
    w.rx(&w.with_chain(
        &["issue", "a.patient.json", "--signature", &signature],
        &chain,
        &["--private-key", &key_hex(&broke)],
    ))
    .fails(1, &[&format!("insufficient funds: {} has 0 wei", broke.address())]);

    // Issued once; a second time is refused.
    w.rx(&w.with_chain(&["issue", "a.patient.json"], &chain, &["--private-key", &w.keys[1]])).ok();
    w.rx(&w.with_chain(&["issue", "a.patient.json"], &chain, &["--private-key", &w.keys[1]]))
        .fails(1, &[&format!("prescription {} is already issued", a.rx_id())]);
    // Dispensing more than a fill holds.
    w.rx(&w.with_chain(
        &["dispense", "a.patient.json", "--quantity", "31"],
        &chain,
        &["--private-key", &w.keys[2]],
    ))
    .fails(1, &["31 units requested but only 30 remain"]);
    // Issue 19: a retried dispense (the same dispensing record hash) is refused before anything is sent.
    let record = format!("0x{}", "ab".repeat(32));
    let retry = ["dispense", "a.patient.json", "--quantity", "1", "--dispense-hash", record.as_str()];
    w.rx(&w.with_chain(&retry, &chain, &["--private-key", &w.keys[2]])).ok();
    w.rx(&w.with_chain(&retry, &chain, &["--private-key", &w.keys[2]])).fails(
        1,
        &[
            &format!("already dispensed: a dispense of {} with record hash {record}", a.rx_id()),
            "nothing was sent",
        ],
    );
    // A dispense by an account that is not a pharmacy.
    w.rx(&w.with_chain(
        &["dispense", "a.patient.json", "--quantity", "1"],
        &chain,
        &["--private-key", &w.keys[4]],
    ))
    .fails(1, &[&format!("{} is not an active pharmacy", w.stranger)]);

    // Altered copy, damaged code, wrong keystore password, missing signer.
    let copy_text = std::fs::read_to_string(w.path("a.patient.json")).unwrap();
    std::fs::write(w.path("edited.patient.json"), copy_text.replace("\"value\": 30", "\"value\": 60"))
        .unwrap();
    w.rx(&w.with_chain(
        &["dispense", "edited.patient.json", "--quantity", "1"],
        &chain,
        &["--private-key", &w.keys[2]],
    ))
    .fails(1, &["patient copy: contentHash is", "the copy was altered"]);
    let code = std::fs::read_to_string(w.path("a.code.txt")).unwrap();
    let mut damaged: Vec<char> = code.trim().chars().collect();
    let i = damaged.len() / 2;
    damaged[i] = if damaged[i] == 'x' { 'y' } else { 'x' };
    let damaged: String = damaged.into_iter().collect();
    w.rx(&["verify", &damaged, "--api.url", "http://127.0.0.1:9", "--pharmacy", &w.pharmacy.to_string()])
        .fails(1, &["prescription code: checksum mismatch"]);
    let pharmacy_ks = w.keystore_path("pharmacy");
    w.rx(&w.with_chain(
        &["dispense", "a.patient.json", "--quantity", "1", "--keystore", &pharmacy_ks, "--password", "wrong"],
        &chain,
        &[],
    ))
    .fails(1, &["signer:", "wrong password?"]);
    w.rx(&w.with_chain(&["dispense", "a.patient.json", "--quantity", "1"], &chain, &[]))
        .fails(1, &["no signer: give --private-key"]);
    // The API unreachable.
    w.rx(&[
        "verify",
        "a.patient.json",
        "--api.url",
        "http://127.0.0.1:9",
        "--pharmacy",
        &w.pharmacy.to_string(),
    ])
    .fails(1, &["API: http://127.0.0.1:9/graphql"]);
}

/// Issue 19's other actions from the command line: the patient cancels her prescription, the prescriber
/// cancels his, a registrar voids one (directly, and from calldata sent by another wallet), the prescriber
/// withdraws an unrelayed signature, and a schedule II short-supply partial fill; every refusal in words.
#[tokio::test(flavor = "multi_thread")]
async fn cancel_void_invalidate_nonces_and_short_supply() {
    let w = World::new().await;
    let chain = w.chain_args();
    let contract =
        Prescriptions::new(w.devnet.manifest().contracts.prescriptions, read_provider(&w.devnet.rpc_url()));
    let cancelled = |id| {
        let contract = contract.clone();
        async move { contract.prescriptionOf(id).call().await.unwrap().rx.flags & 1 == 1 }
    };
    let (prescriber_key, pharmacy_key, patient_key, stranger_key) =
        (&w.keys[1], &w.keys[2], &w.keys[3], &w.keys[4]);
    let issue = |name: &str| {
        w.rx(&w.with_chain(
            &["issue", &format!("{name}.patient.json")],
            &chain,
            &["--private-key", prescriber_key],
        ))
        .ok();
    };

    // The patient cancels her prescription (proving the terms with her copy); twice is refused, and so is
    // a dispense after it.
    let mine = w.new_rx("amoxicillin.json", "mine");
    issue("mine");
    w.rx(&w.with_chain(
        &["cancel", "mine.patient.json", "--reason", "1"],
        &chain,
        &["--private-key", stranger_key],
    ))
    .fails(1, &[&format!("the signer {} is neither the patient {}", w.stranger, w.patient)]);
    let out = w
        .rx(&w.with_chain(
            &["cancel", "mine.patient.json", "--reason", "1"],
            &chain,
            &["--private-key", patient_key],
        ))
        .ok();
    assert!(
        out.stdout.contains(&format!("cancelled     {} by its patient (reason code 1)", mine.rx_id())),
        "{out:#?}"
    );
    assert!(cancelled(mine.rx_id()).await);
    w.rx(&w.with_chain(
        &["cancel", "mine.patient.json", "--reason", "1"],
        &chain,
        &["--private-key", patient_key],
    ))
    .fails(
        1,
        &[&format!(
            "prescription {} was cancelled (by its prescriber, its patient or a registrar)",
            mine.rx_id()
        )],
    );
    w.rx(&w.with_chain(
        &["dispense", "mine.patient.json", "--quantity", "1"],
        &chain,
        &["--private-key", pharmacy_key],
    ))
    .fails(1, &["was cancelled"]);
    // --as must name the signer.
    w.new_rx("amoxicillin.json", "his");
    issue("his");
    w.rx(&w.with_chain(
        &["cancel", "his.patient.json", "--reason", "2", "--as", "patient"],
        &chain,
        &["--private-key", prescriber_key],
    ))
    .fails(1, &[&format!("--as names {}, but the signer is {}", w.patient, w.prescriber)]);
    let out = w
        .rx(&w.with_chain(
            &["cancel", "his.code.txt", "--reason", "2"],
            &chain,
            &["--private-key", prescriber_key],
        ))
        .ok();
    assert!(out.stdout.contains("by its prescriber (reason code 2)"), "{out:#?}");

    // A registrar voids by id; anyone else is refused; an unknown id is said so.
    let stolen = w.new_rx("amoxicillin.json", "stolen");
    issue("stolen");
    let id = stolen.rx_id().to_string();
    w.rx(&w.with_chain(&["void", &id, "--reason", "7"], &chain, &["--private-key", stranger_key]))
        .fails(1, &[&format!("{} is not a registrar of the CredentialRegistry", w.stranger)]);
    let out =
        w.rx(&w.with_chain(&["void", &id, "--reason", "7"], &chain, &["--private-key", &w.keys[0]])).ok();
    assert!(out.stdout.contains(&format!("voided        {id} by registrar")), "{out:#?}");
    assert!(cancelled(stolen.rx_id()).await);
    let unknown = format!("0x{}", "42".repeat(32));
    w.rx(&w.with_chain(&["void", &unknown, "--reason", "7"], &chain, &["--private-key", &w.keys[0]]))
        .fails(1, &[&format!("unknown prescription {unknown}")]);

    // Signed elsewhere: --calldata prints the transaction, which `cast send` sends from the registrar.
    let elsewhere = w.new_rx("amoxicillin.json", "elsewhere");
    issue("elsewhere");
    let out = w
        .rx(&["void", "elsewhere.patient.json", "--reason", "9", "--calldata", "--manifest", &w.manifest()])
        .ok();
    let field = |name: &str| {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_owned()
    };
    let (to, data) = (field("to"), field("calldata"));
    assert_eq!(to, w.devnet.manifest().contracts.prescriptions.to_string());
    assert!(!cancelled(elsewhere.rx_id()).await, "nothing was sent");
    let sent = toolchain_command(&repo_root(), "cast")
        .args(["send", &to, &data, "--private-key", &w.keys[0], "--rpc-url", &w.devnet.rpc_url()])
        .output()
        .unwrap();
    assert!(sent.status.success(), "cast send: {}", String::from_utf8_lossy(&sent.stderr));
    assert!(cancelled(elsewhere.rx_id()).await);
    w.rx(&["cancel", "elsewhere.patient.json", "--reason", "1", "--calldata", "--manifest", &w.manifest()])
        .fails(1, &["--calldata needs --as patient or --as prescriber"]);

    // The prescriber withdraws a signature not yet relayed: nonce 3 signed, floor raised to 4.
    let doc = repo_root().join("examples/rx/amoxicillin.json");
    let rpc = w.devnet.rpc_url();
    let new =
        ["new", doc.to_str().unwrap(), "--manifest", &w.manifest(), "--rpc.url", &rpc, "--out", "signed"];
    w.rx(&[&new[..], &["--nonce", "3"]].concat()).ok();
    let signature = w.rx(&["sign", "signed.patient.json", "--private-key", prescriber_key]).ok().stdout;
    let out = w
        .rx(&w.with_chain(&["invalidate-nonces", "--below", "4"], &chain, &["--private-key", prescriber_key]))
        .ok();
    assert!(
        out.stdout.contains(&format!("nonce floor   0 -> 4 for prescriber {}", w.prescriber)),
        "{out:#?}"
    );
    w.rx(&w.with_chain(
        &["issue", "signed.patient.json", "--signature", signature.trim()],
        &chain,
        &["--private-key", stranger_key],
    ))
    .fails(
        1,
        &[&format!("the prescriber {} withdrew signatures with nonces below 4 (this one: 3)", w.prescriber)],
    );
    w.rx(&w.with_chain(&["invalidate-nonces", "--below", "4"], &chain, &["--private-key", prescriber_key]))
        .fails(1, &[&format!("prescriber {}'s nonce floor is 4", w.prescriber), "not 4"]);

    // Short supply: a schedule II fill opened with 5 of 20 tablets; the balance is due within 72 hours.
    w.new_rx("oxycodone.json", "oxy");
    issue("oxy");
    let out = w
        .rx(&w.with_chain(
            &["dispense", "oxy.patient.json", "--quantity", "5", "--short-supply"],
            &chain,
            &["--private-key", pharmacy_key],
        ))
        .ok();
    assert!(out.stdout.contains("short supply  the balance is due before"), "{out:#?}");
    let state = contract.prescriptionOf(w.copy("oxy").rx_id()).call().await.unwrap().rx;
    let now = read_provider(&w.devnet.rpc_url())
        .get_block(alloy::eips::BlockId::latest())
        .await
        .unwrap()
        .unwrap()
        .header
        .timestamp;
    assert_eq!(u64::from(state.validUntil), now + 72 * 3600, "the balance is due 72 hours after the fill");
    // Not schedule II: refused in words.
    w.new_rx("amoxicillin.json", "plain");
    issue("plain");
    w.rx(&w.with_chain(
        &["dispense", "plain.patient.json", "--quantity", "5", "--short-supply"],
        &chain,
        &["--private-key", pharmacy_key],
    ))
    .fails(
        1,
        &[
            "a short-supply partial fill opens a schedule II fill with less than its quantity",
            "not controlled",
        ],
    );
}

/// A node whose clock lags this machine's (an anvil under load lags by a second; this one, started with its
/// genesis an hour ago, by an hour): `rx new --rpc.url` dates the prescription by the chain's clock, so the
/// contract does not refuse it as written in the future; dated by this machine's clock (offline), it would.
#[tokio::test(flavor = "multi_thread")]
async fn dates_prescriptions_by_the_chains_clock_when_it_lags() {
    let hour_ago = (chrono::Utc::now().timestamp() - 3600).to_string();
    let w = World::with_anvil(&["--timestamp", &hour_ago]).await;
    let chain = w.chain_args();
    let before = w.chain_time().await;
    let wall = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    assert!(before + 3000 < wall, "the chain's clock ({before}) does not lag the wall clock ({wall})");

    // Offline, dated by this machine's clock: written in the future as far as the chain can tell.
    let doc = repo_root().join("examples/rx/amoxicillin.json");
    w.rx(&["new", doc.to_str().unwrap(), "--manifest", &w.manifest(), "--out", "offline"]).ok();
    assert!(u64::from(w.copy("offline").prescription().dateWritten) >= wall);
    w.rx(&w.with_chain(&["issue", "offline.patient.json"], &chain, &["--private-key", &w.keys[1]]))
        .fails(1, &["the date written", "is after the chain's time"]);

    // With --rpc.url: dated by the chain's latest block, and issued.
    let dated = w.new_rx("amoxicillin.json", "dated");
    let written = u64::from(dated.prescription().dateWritten);
    assert!((before..=w.chain_time().await).contains(&written), "dateWritten {written}, chain time {before}");
    // Without --nonce the nonce is that same time (the chain's), as the web app's.
    assert_eq!(dated.prescription().nonce, U256::from(written));
    w.rx(&w.with_chain(&["issue", "dated.patient.json"], &chain, &["--private-key", &w.keys[1]])).ok();
    assert!(w.copy("dated").issued().is_some());

    // A floor the prescriber raised ahead of the chain's clock: the default nonce is raised to it, and the
    // prescription is issued (a nonce of 0, the old default, would be refused as withdrawn).
    let floor = (w.chain_time().await + 7 * 86_400).to_string();
    w.rx(&w.with_chain(&["invalidate-nonces", "--below", &floor], &chain, &["--private-key", &w.keys[1]]))
        .ok();
    let above = w.new_rx("amoxicillin.json", "above");
    assert_eq!(above.prescription().nonce, U256::from_str_radix(&floor, 10).unwrap());
    w.rx(&w.with_chain(&["issue", "above.patient.json"], &chain, &["--private-key", &w.keys[1]])).ok();
}

/// Issue 19 point 3 off chain: `rx verify` (the API's `verifyPrescription`) refuses a schedule II
/// prescription for a pharmacy registered without schedule II and, once the registrar removes the
/// prescriber's schedule II, for every pharmacy — where the chain reverts — and `rx dispense`, which sends
/// without verifying, prints the chain's refusal in the same sentence.
#[tokio::test(flavor = "multi_thread")]
async fn verify_and_dispense_follow_the_schedule_authority() {
    use medledger_core::schedule;
    let w = World::new().await;
    let api = start_api(&w).await;
    let chain = w.chain_args();
    let p = wallet_provider(&w.devnet);
    let cr = CredentialRegistry::new(w.devnet.manifest().contracts.credential_registry, p.clone());
    let admin = w.devnet.addresses()[0];
    let year = U40::from(w.chain_time().await + 365 * 86_400);
    let jur = FixedBytes::<8>::from_slice(b"US-CA\0\0\0");
    // A second pharmacy (the stranger's account), registered for schedules III–V only.
    let without_ii = 0b0011_1000;
    send!(cr.register(w.stranger, 2, B256::repeat_byte(0x33), jur, year, without_ii).from(admin));

    // Amoxicillin (not controlled, any pharmacy): the stranger pharmacy may dispense it.
    w.new_rx("amoxicillin.json", "amox");
    w.rx(&w.with_chain(&["issue", "amox.patient.json"], &chain, &["--private-key", &w.keys[1]])).ok();
    let stranger = w.stranger.to_string();
    verify_until(
        &w,
        &["verify", "amox.patient.json", "--api.url", &api.url, "--pharmacy", &stranger],
        0,
        "DISPENSABLE",
    )
    .await;

    // Oxycodone, schedule II: refused for the pharmacy without schedule II, in the revert's sentence.
    w.new_rx("oxycodone.json", "oxy");
    w.rx(&w.with_chain(&["issue", "oxy.patient.json"], &chain, &["--private-key", &w.keys[1]])).ok();
    let lacks_pharmacy = schedule::pharmacy_lacks_schedule(w.stranger, 2, without_ii);
    let out = verify_until(
        &w,
        &["verify", "oxy.patient.json", "--api.url", &api.url, "--pharmacy", &stranger],
        3,
        "PHARMACY_LACKS_SCHEDULE",
    )
    .await;
    assert!(out.stdout.contains(&format!("PHARMACY_LACKS_SCHEDULE: {lacks_pharmacy}")), "{out:#?}");
    // The designated pharmacy holds schedule II: dispensable.
    let pharmacy = w.pharmacy.to_string();
    let verify = ["verify", "oxy.patient.json", "--api.url", &api.url, "--pharmacy", &pharmacy];
    verify_until(&w, &verify, 0, "DISPENSABLE").await;

    // The registrar removes the prescriber's schedule II (the kill switch): no longer dispensable anywhere.
    send!(cr.setSchedules(w.prescriber, without_ii).from(admin));
    let lacks_prescriber = schedule::prescriber_lacks_schedule(w.prescriber, 2, without_ii);
    let out = verify_until(&w, &verify, 3, "PRESCRIBER_LACKS_SCHEDULE").await;
    assert!(out.stdout.contains(&format!("PRESCRIBER_LACKS_SCHEDULE: {lacks_prescriber}")), "{out:#?}");
    assert!(!out.stdout.contains("PHARMACY_LACKS_SCHEDULE"), "{out:#?}");
    // `rx dispense` sends without verifying: the chain refuses, and the command says why in the same words.
    w.rx(&w.with_chain(
        &["dispense", "oxy.patient.json", "--quantity", "5"],
        &chain,
        &["--private-key", &w.keys[2]],
    ))
    .fails(1, &[&lacks_prescriber]);
    // Amoxicillin is not controlled: unaffected.
    let amox = ["verify", "amox.patient.json", "--api.url", &api.url, "--pharmacy", &pharmacy];
    verify_until(&w, &amox, 0, "DISPENSABLE").await;
}

/// The patient moves a prescription to another pharmacy (`changePharmacy`): only she may; the pharmacy must
/// be one; "any" opens a non-controlled prescription to every pharmacy; a controlled one moves once, to a
/// named pharmacy (21 CFR 1306.08(e), 1306.25(a)); `--calldata` prints the transaction instead.
#[tokio::test(flavor = "multi_thread")]
async fn the_patient_moves_a_prescription_to_another_pharmacy() {
    let w = World::new().await;
    let chain = w.chain_args();
    let (prescriber_key, patient_key, stranger_key) = (&w.keys[1], &w.keys[3], &w.keys[4]);
    let issue = |name: &str| {
        w.rx(&w.with_chain(
            &["issue", &format!("{name}.patient.json")],
            &chain,
            &["--private-key", prescriber_key],
        ))
        .ok();
    };
    let pharmacy = w.pharmacy.to_string();
    // A second pharmacy, for the schedule II prescription that designates the first.
    let second = w.devnet.addresses()[5];
    {
        let p = wallet_provider(&w.devnet);
        let cr = CredentialRegistry::new(w.devnet.manifest().contracts.credential_registry, p.clone());
        let now = p.get_block(alloy::eips::BlockId::latest()).await.unwrap().unwrap().header.timestamp;
        let jur = FixedBytes::<8>::from_slice(b"US-CA\0\0\0");
        let year = U40::from(now + 365 * 86_400);
        send!(cr
            .register(second, 2, B256::repeat_byte(0x33), jur, year, 0b0011_1100)
            .from(w.devnet.addresses()[0]));
    }
    let second = second.to_string();
    let transfer = |name: &str, to: &str, key: &str| {
        w.rx(&w.with_chain(
            &["transfer", &format!("{name}.patient.json"), "--to", to],
            &chain,
            &["--private-key", key],
        ))
    };

    let plain = w.new_rx("amoxicillin.json", "plain");
    issue("plain");
    transfer("plain", &pharmacy, stranger_key).fails(
        1,
        &[&format!(
            "the signer {} is not the patient {} of prescription {}",
            w.stranger,
            w.patient,
            plain.rx_id()
        )],
    );
    transfer("plain", &w.stranger.to_string(), patient_key)
        .fails(1, &[&format!("{} is not an active pharmacy", w.stranger)]);
    let out = transfer("plain", &pharmacy, patient_key).ok();
    assert!(out.stdout.contains(&format!("moved         {} to {pharmacy}\n", plain.rx_id())), "{out:#?}");
    transfer("plain", &pharmacy, patient_key)
        .fails(1, &[&format!("prescription {} already designates pharmacy {pharmacy}", plain.rx_id())]);
    let out = transfer("plain", "any", patient_key).ok();
    assert!(out.stdout.contains("to any pharmacy"), "{out:#?}");

    // Schedule II: a named pharmacy only, and the move is its one transfer.
    w.new_rx("oxycodone.json", "oxy");
    issue("oxy");
    transfer("oxy", "any", patient_key).fails(1, &["prescription must name its pharmacy"]);
    let out = transfer("oxy", &second, patient_key).ok();
    assert!(out.stdout.contains("(its one transfer, 21 CFR 1306.08(e) and 1306.25(a))"), "{out:#?}");
    transfer("oxy", &pharmacy, patient_key).fails(1, &["was already transferred once between pharmacies"]);

    // Signed elsewhere: the calldata of `changePharmacy`, nothing sent.
    let out = w
        .rx(&["transfer", "plain.patient.json", "--to", &pharmacy, "--calldata", "--manifest", &w.manifest()])
        .ok();
    assert!(out.stdout.contains("transaction   move"), "{out:#?}");
    assert!(out.stdout.contains("calldata      0x"), "{out:#?}");
}

/// The registrar's work from the command line (`medledger credential`): license a pharmacy with its DEA
/// schedules, show it, change its schedules, renew, suspend, reinstate and revoke it, each read back from
/// the chain; a stranger refused in the contract's words; bad input refused before anything is sent;
/// `--calldata` for a Safe.
#[tokio::test(flavor = "multi_thread")]
async fn the_registrar_manages_credentials_from_the_command_line() {
    let w = World::new().await;
    let chain = w.chain_args();
    let registrar = ["--private-key", w.keys[0].as_str()];
    let cred = |args: &[&str], signer: &[&str]| w.run("credential", &w.with_chain(args, &chain, signer), &[]);
    let shop = w.devnet.addresses()[5].to_string();
    let license =
        ["license", &shop, "--kind", "pharmacy", "--license", "CA PHY 59812", "--jurisdiction", "US-CA"];
    let license: Vec<&str> = [&license[..], &["--until", "2030-12-31", "--schedules", "II,III"]].concat();

    cred(&license, &["--private-key", &w.keys[4]])
        .fails(1, &[&format!("refused: {} lacks the registrar role this needs", w.stranger)]);
    let out = cred(&license, &registrar).ok();
    // The license text is committed to with a random salt, printed for the registrar to keep.
    let salt: B256 = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("license salt  "))
        .and_then(|l| l.split_whitespace().next())
        .expect("the salt is printed")
        .parse()
        .unwrap();
    let committed = medledger_core::salted_hash(salt, b"CA PHY 59812");
    assert!(out.stdout.contains(&format!("license hash  {committed}")), "{out:#?}");
    for line in [
        &format!(
            "done          license {shop} as a pharmacy until 2030-12-31T23:59:59+00:00 (schedules II, III)"
        )[..],
        &format!("pharmacy {shop}, active"),
        "expires       2030-12-31T23:59:59+00:00",
        "schedules     II, III",
        "jurisdiction  US-CA",
    ] {
        assert!(out.stdout.contains(line), "{line}\n{out:#?}");
    }
    let out = cred(&["schedules", &shop, "--schedules", "II,IV,V"], &registrar).ok();
    assert!(out.stdout.contains("schedules     II, IV, V"), "{out:#?}");
    let out = cred(&["renew", &shop, "--until", "2031-06-30"], &registrar).ok();
    assert!(out.stdout.contains("expires       2031-06-30T23:59:59+00:00"), "{out:#?}");
    assert!(out.stdout.contains(&format!("license hash  {committed}")), "renewal keeps the hash\n{out:#?}");
    let out = cred(&["suspend", &shop, "--reason", "4"], &registrar).ok();
    assert!(out.stdout.contains(&format!("pharmacy {shop}, suspended")), "{out:#?}");
    let out = cred(&["reinstate", &shop], &registrar).ok();
    assert!(out.stdout.contains(&format!("pharmacy {shop}, active")), "{out:#?}");
    let out = cred(&["revoke", &shop, "--reason", "9"], &registrar).ok();
    assert!(out.stdout.contains(&format!("pharmacy {shop}, revoked")), "{out:#?}");
    cred(&["renew", &shop, "--until", "2032-01-01"], &registrar).fails(1, &["refused:"]);
    let out = w
        .run(
            "credential",
            &[&["show", &shop][..], &chain.iter().map(String::as_str).collect::<Vec<_>>()].concat(),
            &[],
        )
        .ok();
    assert!(out.stdout.contains("revoked"), "{out:#?}");

    // Bad input never reaches the chain.
    cred(&["schedules", &shop, "--schedules", "I"], &registrar).fails(2, &["`I` is not a schedule"]);
    cred(&["renew", &shop, "--until", "31/12/2030"], &registrar).fails(2, &["neither a date"]);
    let mut bad = license.clone();
    bad[7] = "UNITED-STATES";
    cred(&bad, &registrar).fails(2, &["not a jurisdiction code"]);

    // For a Safe: the calldata, nothing sent.
    let out =
        w.run("credential", &[&license[..], &["--calldata", "--manifest", &w.manifest()]].concat(), &[]).ok();
    assert!(out.stdout.contains("(CredentialRegistry, chain"), "{out:#?}");
    assert!(out.stdout.contains("calldata      0x"), "{out:#?}");
}

/// Consent and break-glass from the command line (`medledger consent`): the patient grants and revokes;
/// the prescriber opens emergency access with a justification committed as keccak256(salt ‖ text), cannot
/// extend it, the patient ends it, the cooldown holds; a patient's block refuses it; only a reviewer
/// (appointed with `credential add-reviewer`) flags a use. Each state read back from the chain.
#[tokio::test(flavor = "multi_thread")]
async fn consent_and_break_glass_from_the_command_line() {
    let w = World::new().await;
    let chain = w.chain_args();
    let (admin, doctor, patient, stranger) = (&w.keys[0], &w.keys[1], &w.keys[3], &w.keys[4]);
    let consent = |args: &[&str], key: &str| {
        w.run("consent", &w.with_chain(args, &chain, &["--private-key", key]), &[])
    };
    let (me, doc) = (w.patient.to_string(), w.prescriber.to_string());

    let out = consent(&["grant", &doc, "--scopes", "read,prescribe", "--until", "2030-01-01"], patient).ok();
    assert!(out.stdout.contains("scopes        read, prescribe until 2030-01-01T23:59:59+00:00"), "{out:#?}");
    assert!(out.stdout.contains("reads now     yes"), "{out:#?}");
    let out = consent(&["revoke", &doc], patient).ok();
    assert!(out.stdout.contains("reads now     no"), "{out:#?}");
    consent(&["grant", &doc, "--scopes", "admin", "--until", "2030-01-01"], patient)
        .fails(2, &["`admin` is not a scope"]);

    // Break-glass: committed justification, no extension, ended by the patient, then the cooldown.
    let why = "Unconscious in the ED; allergy history needed before anaesthesia";
    let open = ["emergency-open", me.as_str(), "--reason", "1", "--justification", why, "--minutes", "30"];
    consent(&open, doctor).ok();
    let out = consent(&["emergency-end", &me, &doc], patient).ok();
    assert!(out.stdout.contains("reads now     no"), "{out:#?}");
    consent(&open, doctor)
        .fails(1, &[&format!("{doc} cannot open emergency access to {me}'s records again before")]);
    let mut zero = open;
    zero[3] = "0";
    consent(&zero, doctor).fails(2, &["--reason"]);

    let maria = w.devnet.addresses()[5].to_string();
    let maria_key = key_hex(&w.devnet.signers()[5]);
    let open = ["emergency-open", maria.as_str(), "--reason", "2", "--justification", why];
    let out = consent(&open, doctor).ok();
    let field = |name: &str| -> B256 {
        out.stdout
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(field("justification "), medledger_core::salted_hash(field("salt          "), why.as_bytes()));
    assert!(out.stdout.contains("emergency     opened"), "{out:#?}");
    assert!(out.stdout.contains("reads now     yes"), "{out:#?}");
    consent(&open, doctor)
        .fails(1, &["'s emergency access to", "is already open until", "it cannot be extended"]);

    // A reviewer flags it; nobody else may.
    let flag = ["flag", maria.as_str(), doc.as_str(), "--finding", "3"];
    consent(&flag, stranger)
        .fails(1, &[&format!("{} is not a reviewer: only a reviewer may flag", w.stranger)]);
    w.run(
        "credential",
        &w.with_chain(&["add-reviewer", &w.stranger.to_string()], &chain, &["--private-key", admin]),
        &[],
    )
    .ok();
    let out = consent(&flag, stranger).ok();
    assert!(out.stdout.contains("done          flag the latest emergency access"), "{out:#?}");

    // The patient blocks the doctor: the open access ends at once, and a new one is refused.
    let out = consent(&["block", &doc], &maria_key).ok();
    assert!(out.stdout.contains("blocked       yes, from emergency access"), "{out:#?}");
    assert!(out.stdout.contains("reads now     no"), "{out:#?}");
    consent(&["block", &doc], &maria_key).fails(1, &["is already on", "emergency-access block list"]);
    let out = w
        .run(
            "consent",
            &[
                &["show", maria.as_str(), doc.as_str()][..],
                &chain.iter().map(String::as_str).collect::<Vec<_>>(),
            ]
            .concat(),
            &[],
        )
        .ok();
    assert!(out.stdout.contains("blocked       yes"), "{out:#?}");
}
