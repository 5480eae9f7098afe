//! The EIP-712 typed data of a prescription, as `contracts/src/Prescriptions.sol` defines it: the
//! `Prescription` a prescriber's wallet signs (with the clinical `PrescriptionContent` nested in it), the
//! contract's domain, and the prescription id (rxId) = the typed-data digest.
//!
//! `Prescription` exists only as an EIP-712 type string in the contract (its calls take [`RxTerms`], the same
//! fields with the content replaced by its struct hash), so the two types are declared here with `sol!`;
//! alloy's [`SolStruct`] does all the encoding. The rxId can be computed from the full typed data
//! ([`Prescription::rx_id`]) or from the terms alone ([`prescription_id`]): both give the same digest.

use crate::abi::bindings::IPrescriptions::RxTerms;
use alloy::{
    primitives::{keccak256, Address, B256},
    sol_types::{eip712_domain, Eip712Domain, SolStruct},
};

#[allow(missing_docs, unreachable_pub)]
mod types {
    alloy::sol! {
        /// Off-chain clinical content; never sent on chain, only its struct hash (`RxTerms.contentHash`).
        #[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

        /// The typed data a prescriber signs; its EIP-712 digest is the rxId.
        #[derive(Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        struct Prescription {
            address patient;
            address prescriber;
            PrescriptionContent content;
            uint8 fills;
            uint32 quantityPerFill;
            uint16 daysSupply;
            uint32 dateWritten;
            uint32 earliestFillAt;
            uint32 validUntil;
            uint32 minFillInterval;
            uint8 schedule;
            bool longTermCare;
            address pharmacy;
            uint256 nonce;
            uint32 deadline;
        }
    }
}

pub use types::{Prescription, PrescriptionContent};

/// The EIP-712 domain name of the Prescriptions contract.
pub const DOMAIN_NAME: &str = "medledger Prescriptions";
/// The EIP-712 domain version of the Prescriptions contract.
pub const DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of the Prescriptions contract at `prescriptions` on chain `chain_id`.
pub fn domain(chain_id: u64, prescriptions: Address) -> Eip712Domain {
    eip712_domain! {
        name: DOMAIN_NAME,
        version: DOMAIN_VERSION,
        chain_id: chain_id,
        verifying_contract: prescriptions,
    }
}

/// The rxId of a set of terms: `keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(Prescription))`, where
/// `hashStruct` uses the `Prescription` type hash over the terms' fields (all static, the content already
/// hashed), exactly as the contract's `hashPrescription`.
pub fn prescription_id(domain: &Eip712Domain, terms: &RxTerms) -> B256 {
    let mut data = Vec::with_capacity(16 * 32);
    data.extend_from_slice(keccak256(Prescription::eip712_encode_type().as_bytes()).as_slice());
    data.extend_from_slice(&terms.eip712_encode_data());
    let mut digest = [0u8; 66];
    digest[..2].copy_from_slice(&[0x19, 0x01]);
    digest[2..34].copy_from_slice(domain.hash_struct().as_slice());
    digest[34..].copy_from_slice(keccak256(&data).as_slice());
    keccak256(digest)
}

impl PrescriptionContent {
    /// The content hash: the EIP-712 struct hash, as the contract's `hashContent`.
    pub fn content_hash(&self) -> B256 {
        self.eip712_hash_struct()
    }
}

impl Prescription {
    /// The terms sent on chain: these fields with the content replaced by its hash.
    pub fn terms(&self) -> RxTerms {
        RxTerms {
            patient: self.patient,
            prescriber: self.prescriber,
            contentHash: self.content.content_hash(),
            fills: self.fills,
            quantityPerFill: self.quantityPerFill,
            daysSupply: self.daysSupply,
            dateWritten: self.dateWritten,
            earliestFillAt: self.earliestFillAt,
            validUntil: self.validUntil,
            minFillInterval: self.minFillInterval,
            schedule: self.schedule,
            longTermCare: self.longTermCare,
            pharmacy: self.pharmacy,
            nonce: self.nonce,
            deadline: self.deadline,
        }
    }

    /// The rxId: the EIP-712 signing hash of this typed data under `domain`.
    pub fn rx_id(&self, domain: &Eip712Domain) -> B256 {
        self.eip712_signing_hash(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{address, FixedBytes, U256};

    /// The type string copied from `contracts/src/Prescriptions.sol` (`PRESCRIPTION_TYPEHASH`).
    const SOLIDITY_TYPE: &str = "Prescription(address patient,address prescriber,PrescriptionContent content,\
uint8 fills,uint32 quantityPerFill,uint16 daysSupply,uint32 dateWritten,uint32 earliestFillAt,uint32 validUntil,\
uint32 minFillInterval,uint8 schedule,bool longTermCare,address pharmacy,uint256 nonce,uint32 deadline)PrescriptionContent(string patientName,string patientIdentifier,string rxnormCode,\
string drugName,string strength,string dosageInstructions,uint32 quantity,string unit,bool substitutionAllowed,\
bytes32 salt)";

    fn sample() -> Prescription {
        Prescription {
            patient: Address::repeat_byte(1),
            prescriber: Address::repeat_byte(2),
            content: PrescriptionContent {
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
            },
            fills: 3,
            quantityPerFill: 30,
            daysSupply: 30,
            dateWritten: 1_700_000_000,
            earliestFillAt: 1_700_000_000,
            validUntil: 1_800_000_000,
            minFillInterval: 86_400,
            schedule: 0,
            longTermCare: false,
            pharmacy: Address::ZERO,
            nonce: U256::from(99u64),
            deadline: 1_700_086_400,
        }
    }

    #[test]
    fn type_string_matches_the_contract() {
        assert_eq!(Prescription::eip712_encode_type(), SOLIDITY_TYPE);
    }

    #[test]
    fn rx_id_from_terms_equals_typed_data_digest() {
        let d = domain(31337, address!("0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"));
        let rx = sample();
        assert_eq!(prescription_id(&d, &rx.terms()), rx.rx_id(&d));
        let mut other = rx.terms();
        other.nonce = U256::from(100u64);
        assert_ne!(prescription_id(&d, &other), rx.rx_id(&d));
        assert_ne!(rx.rx_id(&domain(1, Address::repeat_byte(9))), rx.rx_id(&d));
    }
}
