//! The prescription id: the EIP-712 digest of the `Prescription` typed data, recomputed from stored terms so
//! that `verifyPrescription` can prove a content hash.

use alloy::primitives::{keccak256, B256, U256};

/// EIP-712 type string of `Prescription` followed by the referenced `PrescriptionContent`, exactly as in
/// `contracts/src/Prescriptions.sol`.
const PRESCRIPTION_TYPE: &str = "Prescription(address patient,address prescriber,PrescriptionContent content,\
uint8 fills,uint32 quantityPerFill,uint32 earliestFillAt,uint32 validUntil,uint32 minFillInterval,uint8 schedule,\
address pharmacy,uint256 nonce)PrescriptionContent(string patientName,string patientIdentifier,string rxnormCode,\
string drugName,string strength,string dosageInstructions,uint32 quantity,string unit,bool substitutionAllowed,\
bytes32 salt)";

const DOMAIN_TYPE: &str =
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";

/// The terms of a prescription as signed (the content replaced by its struct hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RxTerms {
    /// The patient.
    pub patient: [u8; 20],
    /// The prescriber.
    pub prescriber: [u8; 20],
    /// EIP-712 struct hash of the clinical content.
    pub content_hash: [u8; 32],
    /// Fills authorised.
    pub fills: u8,
    /// Units per fill.
    pub quantity_per_fill: u32,
    /// First fill at or after (unix seconds).
    pub earliest_fill_at: u32,
    /// No dispense after (unix seconds).
    pub valid_until: u32,
    /// Seconds between fill starts.
    pub min_fill_interval: u32,
    /// Controlled-substance schedule.
    pub schedule: u8,
    /// Pharmacy designated at issue (zero = any).
    pub pharmacy: [u8; 20],
    /// Prescriber's nonce.
    pub nonce: U256,
}

fn word_address(a: &[u8; 20]) -> [u8; 32] {
    let mut w = [0u8; 32];
    w[12..].copy_from_slice(a);
    w
}

fn word_u64(v: u64) -> [u8; 32] {
    U256::from(v).to_be_bytes()
}

/// The domain separator of the Prescriptions contract at `verifying_contract` on `chain_id`.
pub fn domain_separator(chain_id: u64, verifying_contract: [u8; 20]) -> [u8; 32] {
    let mut buf = Vec::with_capacity(5 * 32);
    buf.extend_from_slice(keccak256(DOMAIN_TYPE).as_slice());
    buf.extend_from_slice(keccak256("medledger Prescriptions").as_slice());
    buf.extend_from_slice(keccak256("1").as_slice());
    buf.extend_from_slice(&word_u64(chain_id));
    buf.extend_from_slice(&word_address(&verifying_contract));
    keccak256(&buf).0
}

/// The rxId of `terms`: `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(Prescription))`.
pub fn prescription_id(domain_separator: [u8; 32], terms: &RxTerms) -> [u8; 32] {
    let mut buf = Vec::with_capacity(12 * 32);
    buf.extend_from_slice(keccak256(PRESCRIPTION_TYPE).as_slice());
    buf.extend_from_slice(&word_address(&terms.patient));
    buf.extend_from_slice(&word_address(&terms.prescriber));
    buf.extend_from_slice(&terms.content_hash);
    buf.extend_from_slice(&word_u64(terms.fills.into()));
    buf.extend_from_slice(&word_u64(terms.quantity_per_fill.into()));
    buf.extend_from_slice(&word_u64(terms.earliest_fill_at.into()));
    buf.extend_from_slice(&word_u64(terms.valid_until.into()));
    buf.extend_from_slice(&word_u64(terms.min_fill_interval.into()));
    buf.extend_from_slice(&word_u64(terms.schedule.into()));
    buf.extend_from_slice(&word_address(&terms.pharmacy));
    buf.extend_from_slice(&terms.nonce.to_be_bytes::<32>());
    let struct_hash: B256 = keccak256(&buf);
    let mut digest = Vec::with_capacity(66);
    digest.extend_from_slice(&[0x19, 0x01]);
    digest.extend_from_slice(&domain_separator);
    digest.extend_from_slice(struct_hash.as_slice());
    keccak256(&digest).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, Address, FixedBytes};
    use alloy::sol_types::{eip712_domain, SolStruct};

    alloy::sol! {
        struct PrescriptionContent {
            string patientName;
            string patientIdentifier;
            string rxnormCode;
            string drugName;
            string strength;
            string dosageInstructions;
            uint32 quantity;
            string unit;
            bool substitutionAllowed;
            bytes32 salt;
        }
        struct Prescription {
            address patient;
            address prescriber;
            PrescriptionContent content;
            uint8 fills;
            uint32 quantityPerFill;
            uint32 earliestFillAt;
            uint32 validUntil;
            uint32 minFillInterval;
            uint8 schedule;
            address pharmacy;
            uint256 nonce;
        }
    }

    /// Cross-checks the hand-rolled digest against alloy's EIP-712 implementation.
    #[test]
    fn matches_alloy_eip712() {
        let verifying = address!("0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9");
        let content = PrescriptionContent {
            patientName: "Ada".into(),
            patientIdentifier: "P-1".into(),
            rxnormCode: "197361".into(),
            drugName: "Amlodipine".into(),
            strength: "5 mg".into(),
            dosageInstructions: "once daily".into(),
            quantity: 30,
            unit: "tablet".into(),
            substitutionAllowed: true,
            salt: FixedBytes::repeat_byte(7),
        };
        let rx = Prescription {
            patient: Address::repeat_byte(1),
            prescriber: Address::repeat_byte(2),
            content: content.clone(),
            fills: 3,
            quantityPerFill: 30,
            earliestFillAt: 1_700_000_000,
            validUntil: 1_800_000_000,
            minFillInterval: 86_400,
            schedule: 0,
            pharmacy: Address::ZERO,
            nonce: U256::from(99u64),
        };
        let domain = eip712_domain! {
            name: "medledger Prescriptions",
            version: "1",
            chain_id: 31337,
            verifying_contract: verifying,
        };
        let expected = rx.eip712_signing_hash(&domain);
        let terms = RxTerms {
            patient: [1; 20],
            prescriber: [2; 20],
            content_hash: content.eip712_hash_struct().0,
            fills: 3,
            quantity_per_fill: 30,
            earliest_fill_at: 1_700_000_000,
            valid_until: 1_800_000_000,
            min_fill_interval: 86_400,
            schedule: 0,
            pharmacy: [0; 20],
            nonce: U256::from(99u64),
        };
        assert_eq!(domain_separator(31337, verifying.0 .0), domain.hash_struct().0);
        assert_eq!(prescription_id(domain_separator(31337, verifying.0 .0), &terms), expected.0);
    }
}
