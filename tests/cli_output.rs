//! The command line's own output: errors say their cause once, and a reader that goes away (`| head`) ends
//! a command quietly instead of making it panic, and every address it takes (arguments and file fields) is
//! EIP-55 checked.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::{
    io::Read,
    process::{Command, Stdio},
};

const MANIFEST: &str = r#"{"chainId":31337,"deployBlock":1,"contracts":{
    "CredentialRegistry":"0x5FbDB2315678afecb367f032d93F642f64180aa3",
    "ConsentRegistry":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
    "RecordAnchors":"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
    "Prescriptions":"0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"}}"#;

fn medledger() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_medledger"));
    cmd.env("RUST_BACKTRACE", "0");
    cmd
}

#[test]
fn a_missing_file_is_reported_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let missing = dir.path().join("missing.json");

    let out =
        medledger().args(["rx", "new"]).arg(&missing).arg("--manifest").arg(&manifest).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("missing.json"), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");

    let out = medledger()
        .args(["serve", "--db.url", "postgres://127.0.0.1:1/x", "--manifest"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot read deployment manifest"), "{stderr}");
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
}

#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    std::fs::write(&manifest, MANIFEST).unwrap();
    let document = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rx/amoxicillin.json");
    let mut child = medledger()
        .current_dir(dir.path())
        .args(["rx", "new", document, "--manifest"])
        .arg(&manifest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the command writes a line.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(141), "{stderr}");
}

/// The manifest's first address with one letter's case flipped: a mistyped address whose EIP-55 checksum
/// is wrong, and the checksummed form the refusal must name.
const CHECKSUMMED: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
const MISTYPED: &str = "0x5FbDB2315678afecb367f032d93F642f64180aA3";

/// Runs `medledger args…`; returns its exit code and standard error.
fn run<S: AsRef<std::ffi::OsStr>>(args: &[S], dir: &std::path::Path) -> (Option<i32>, String) {
    let out = medledger().current_dir(dir).args(args).stdin(Stdio::null()).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Every argument that takes an address refuses a mixed-case one with a wrong EIP-55 checksum, naming the
/// checksummed form (a usage error, exit 2, before anything runs), and accepts it all in lowercase (the
/// command then goes on, and fails later for want of a vault, a database or a prescription).
#[test]
fn address_arguments_are_eip55_checked() {
    let dir = tempfile::tempdir().unwrap();
    let lower = CHECKSUMMED.to_lowercase();
    let commands: [&[&str]; 5] = [
        &["rx", "verify", "missing.json", "--api.url", "http://127.0.0.1:1", "--pharmacy", "ADDRESS"],
        &["records", "ls", "--vault.url", "http://127.0.0.1:1", "--patient", "ADDRESS"],
        &["records", "log", "--vault.url", "http://127.0.0.1:1", "--patient", "ADDRESS"],
        &[
            "records",
            "put",
            "missing.pdf",
            "--episode",
            "1",
            "--vault.url",
            "http://127.0.0.1:1",
            "--rpc.url",
            "http://127.0.0.1:1",
            "--manifest",
            "missing.json",
            "--patient",
            "ADDRESS",
        ],
        &["vault", "verify-log", "--db.url", "postgres://127.0.0.1:1/x", "--vault.operator", "ADDRESS"],
    ];
    for command in commands {
        let with = |address: &str| -> Vec<String> {
            command.iter().map(|a| if *a == "ADDRESS" { address } else { a }.to_owned()).collect()
        };
        let (code, stderr) = run(&with(MISTYPED), dir.path());
        assert_eq!(code, Some(2), "{command:?}: {stderr}");
        assert!(
            stderr.contains("wrong EIP-55 checksum") && stderr.contains(&format!("expected {CHECKSUMMED}")),
            "{command:?}: {stderr}"
        );
        let (code, stderr) = run(&with(&lower), dir.path());
        assert_ne!(code, Some(2), "{command:?}: {stderr}");
        assert_ne!(code, Some(0), "{command:?}: {stderr}");
        assert!(!stderr.contains("checksum"), "{command:?}: {stderr}");
    }
}

/// Addresses in the files the command line reads (a prescription document's accounts, the deployment
/// manifest's contracts) are EIP-55 checked the same way: `rx new` refuses a mistyped one, naming the field
/// (the document's) or the file (the manifest) and the checksummed form, and writes nothing; all-lowercase is accepted.
#[test]
fn address_fields_in_files_are_eip55_checked() {
    let dir = tempfile::tempdir().unwrap();
    let document =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rx/amoxicillin.json"))
            .unwrap();
    let patient = "0x90F79bf6EB2c4f870365E785982E1f101E93b906";
    let mistyped_patient = "0x90F79bf6EB2c4f870365E785982E1f101E93B906";
    let cases = [
        ("bad-document", document.replace(patient, mistyped_patient), MANIFEST.to_owned(), Some(patient)),
        ("lower-document", document.replace(patient, &patient.to_lowercase()), MANIFEST.to_owned(), None),
        ("bad-manifest", document.clone(), MANIFEST.replace(CHECKSUMMED, MISTYPED), Some(CHECKSUMMED)),
        (
            "lower-manifest",
            document.clone(),
            MANIFEST.replace(CHECKSUMMED, &CHECKSUMMED.to_lowercase()),
            None,
        ),
    ];
    for (name, document, manifest, expected) in cases {
        let case = dir.path().join(name);
        std::fs::create_dir(&case).unwrap();
        std::fs::write(case.join("rx.json"), document).unwrap();
        std::fs::write(case.join("manifest.json"), manifest).unwrap();
        let (code, stderr) = run(&["rx", "new", "rx.json", "--manifest", "manifest.json"], &case);
        match expected {
            Some(expected) => {
                assert_ne!(code, Some(0), "{name}: {stderr}");
                assert!(stderr.contains(&format!("expected {expected}")), "{name}: {stderr}");
                let field = if name.ends_with("manifest") { "manifest.json" } else { "subject.account" };
                assert!(stderr.contains(field), "{name}: {stderr}");
                let written: Vec<_> = std::fs::read_dir(&case).unwrap().collect();
                assert_eq!(written.len(), 2, "{name}: wrote files although refused");
            }
            None => assert_eq!(code, Some(0), "{name}: {stderr}"),
        }
    }
}

/// `rx new` without `--nonce` takes the time it dates the prescription by (offline: this machine's clock)
/// as the nonce, as the web app takes the chain's time at signing: never 0, which the prescriber's nonce
/// floor (`rx invalidate-nonces --below N`) would withdraw at once. `--nonce` still sets it.
#[test]
fn rx_new_defaults_the_nonce_to_the_date_written() {
    use medledger::rx::PatientCopy;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("manifest.json"), MANIFEST).unwrap();
    let document = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/rx/amoxicillin.json");
    let copy = |name: &str, extra: &[&str]| {
        let mut args = vec!["rx", "new", document, "--manifest", "manifest.json", "--out", name];
        args.extend_from_slice(extra);
        let out = medledger().current_dir(dir.path()).args(&args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(dir.path().join(format!("{name}.patient.json"))).unwrap();
        PatientCopy::parse(&text).unwrap()
    };
    let before = u64::try_from(chrono::Utc::now().timestamp()).unwrap();
    let dated = copy("dated", &[]);
    let p = dated.prescription();
    assert_eq!(p.nonce, alloy::primitives::U256::from(p.dateWritten), "the nonce is the date written");
    assert!(u64::from(p.dateWritten) >= before);
    let chosen = copy("chosen", &["--nonce", "7"]);
    assert_eq!(chosen.prescription().nonce, alloy::primitives::U256::from(7));
    let help = medledger().args(["rx", "new", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("default: the time the prescription is dated by"), "{help}");
}
