//! The contracts' ABIs (committed under `core/abi/`, refreshed by `scripts/update-abi`) and their `sol!`
//! bindings. A test fails while the committed ABIs differ from a fresh `forge build`.

/// `sol!` bindings generated from the committed ABIs (with RPC call builders), for clients and tests.
#[allow(missing_docs, clippy::too_many_arguments, unreachable_pub)]
pub mod bindings {
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        CredentialRegistry,
        "abi/CredentialRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        ConsentRegistry,
        "abi/ConsentRegistry.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        RecordAnchors,
        "abi/RecordAnchors.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        Prescriptions,
        "abi/Prescriptions.json"
    );
    alloy::sol!(
        #[sol(rpc)]
        #[derive(Debug)]
        AccessLogAnchors,
        "abi/AccessLogAnchors.json"
    );
}

/// The committed ABI JSON of each contract the indexer follows, by name (in [`crate::Contracts::all`]'s
/// order).
pub const ABIS: [(&str, &str); 4] = [
    ("CredentialRegistry", include_str!("../abi/CredentialRegistry.json")),
    ("ConsentRegistry", include_str!("../abi/ConsentRegistry.json")),
    ("RecordAnchors", include_str!("../abi/RecordAnchors.json")),
    ("Prescriptions", include_str!("../abi/Prescriptions.json")),
];

/// The committed ABI JSON of `AccessLogAnchors`, where record vaults anchor their access logs' heads (read
/// by the vault, not indexed).
pub const ACCESS_LOG_ANCHORS_ABI: (&str, &str) =
    ("AccessLogAnchors", include_str!("../abi/AccessLogAnchors.json"));

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::{json_abi::JsonAbi, sol_types::SolEvent};
    use serde_json::Value;
    use std::path::Path;

    #[test]
    fn abi_committed_abis_parse_and_bindings_match() {
        for (name, json) in ABIS.into_iter().chain([ACCESS_LOG_ANCHORS_ABI]) {
            let abi: JsonAbi = serde_json::from_str(json).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(abi.events().count() > 0, "{name} has events");
        }
        let abi: JsonAbi = serde_json::from_str(ABIS[3].1).expect("abi");
        let issued = abi.event("PrescriptionIssued").expect("event")[0].selector();
        assert_eq!(issued, bindings::Prescriptions::PrescriptionIssued::SIGNATURE_HASH);
    }

    /// Fails when `core/abi/` differs from a fresh `forge build` (`out/`): run `scripts/update-abi`.
    #[test]
    fn abi_committed_abis_match_forge_build() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (name, json) in ABIS.into_iter().chain([ACCESS_LOG_ANCHORS_ABI]) {
            let artifact = root.join(format!("out/{name}.sol/{name}.json"));
            let text = std::fs::read_to_string(&artifact).unwrap_or_else(|e| {
                panic!("{}: {e}: run `forge build` (scripts/test runs it first)", artifact.display())
            });
            let fresh: Value = serde_json::from_str::<Value>(&text).expect("artifact JSON")["abi"].clone();
            let committed: Value = serde_json::from_str(json).expect("committed JSON");
            assert!(
                fresh == committed,
                "core/abi/{name}.json differs from out/{name}.sol/{name}.json: run scripts/update-abi and commit"
            );
        }
    }
}
