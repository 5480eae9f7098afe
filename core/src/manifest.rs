//! The deployment manifest written by `contracts/script/Deploy.s.sol`: which contracts to follow, on which
//! chain, from which block.

use crate::error::ManifestError;
use alloy::primitives::Address;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where the medledger contracts of one chain live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The chain id the contracts were deployed to.
    pub chain_id: u64,
    /// The block of the first deployment transaction: indexing starts there.
    pub deploy_block: u64,
    /// The contract addresses.
    pub contracts: Contracts,
}

/// The medledger contracts: the four the indexer follows, and where vaults anchor their access logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contracts {
    /// Licensed prescribers and pharmacies.
    #[serde(rename = "CredentialRegistry", deserialize_with = "crate::address::deserialize")]
    pub credential_registry: Address,
    /// Patients' consents and emergency access.
    #[serde(rename = "ConsentRegistry", deserialize_with = "crate::address::deserialize")]
    pub consent_registry: Address,
    /// Episodes and their hash-linked record anchors.
    #[serde(rename = "RecordAnchors", deserialize_with = "crate::address::deserialize")]
    pub record_anchors: Address,
    /// Prescriptions and dispenses.
    #[serde(rename = "Prescriptions", deserialize_with = "crate::address::deserialize")]
    pub prescriptions: Address,
    /// Where record vaults anchor their access logs' heads (absent from manifests of older deployments:
    /// the vault then cannot anchor its log).
    #[serde(
        rename = "AccessLogAnchors",
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::address::deserialize_option"
    )]
    pub access_log_anchors: Option<Address>,
}

impl Contracts {
    /// The four indexed contracts' addresses, in a fixed order.
    pub const fn all(&self) -> [Address; 4] {
        [self.credential_registry, self.consent_registry, self.record_anchors, self.prescriptions]
    }
}

impl Manifest {
    /// Reads and validates a manifest file.
    pub fn load(path: &Path) -> Result<Self, ManifestError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        Self::parse(&text).map_err(|reason| ManifestError::Invalid { path: path.to_owned(), reason })
    }

    /// Parses manifest JSON; the error says which field is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let manifest: Self = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if manifest.chain_id == 0 {
            return Err("chainId must not be 0".into());
        }
        let mut all = manifest.contracts.all().to_vec();
        all.extend(manifest.contracts.access_log_anchors);
        if all.iter().any(|a| a.is_zero()) {
            return Err("a contract address is zero".into());
        }
        if (1..all.len()).any(|i| all[..i].contains(&all[i])) {
            return Err("two contracts share an address".into());
        }
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"chainId":31337,"deployBlock":1,"contracts":{
        "CredentialRegistry":"0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "ConsentRegistry":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "RecordAnchors":"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        "Prescriptions":"0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"}}"#;

    #[test]
    fn parses_a_manifest() {
        let m = Manifest::parse(GOOD).expect("valid manifest");
        assert_eq!(m.chain_id, 31337);
        assert_eq!(m.deploy_block, 1);
        assert_eq!(m.contracts.all().len(), 4);
        assert_eq!(m.contracts.access_log_anchors, None, "older manifests have no AccessLogAnchors");
        let with = GOOD.replace(
            "\"Prescriptions\"",
            "\"AccessLogAnchors\":\"0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9\",\"Prescriptions\"",
        );
        let m = Manifest::parse(&with).expect("valid manifest");
        assert_eq!(
            m.contracts.access_log_anchors,
            Some("0xDc64a140Aa3E981100a9becA4E685f962f0cF6C9".parse().unwrap())
        );
    }

    #[test]
    fn rejects_bad_manifests_with_a_reason() {
        assert!(Manifest::parse("{").is_err());
        let zero = GOOD.replace("0x5FbDB2315678afecb367f032d93F642f64180aa3", &Address::ZERO.to_string());
        assert_eq!(Manifest::parse(&zero).unwrap_err(), "a contract address is zero");
        let dup = GOOD.replace(
            "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
            "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        );
        assert_eq!(Manifest::parse(&dup).unwrap_err(), "two contracts share an address");
        let missing = GOOD.replace("\"Prescriptions\"", "\"Other\"");
        assert!(Manifest::parse(&missing).unwrap_err().contains("Prescriptions"));
    }
}
