//! The command line's own output: errors say their cause once, and a reader that goes away (`| head`) ends
//! a command quietly instead of making it panic.
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
