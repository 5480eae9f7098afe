//! What a pharmacy needs to check and dispense a prescription: the typed data (content with salt, and terms)
//! and the deployment; also as a compact, versioned, checksummed text for a QR code.

use super::{
    copy::{typed_data_json, PatientCopy},
    error::RxError,
};
use alloy::primitives::{keccak256, Address, B256, U256};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use medledger_core::{
    bindings::IPrescriptions::RxTerms,
    eip712::{self, Prescription, PrescriptionContent},
};
use serde_json::Value;

/// The prefix of a version-1 prescription code.
pub const CODE_PREFIX: &str = "MEDRX2:";
/// Bytes of keccak256 appended to the payload as a checksum.
const CHECKSUM_LEN: usize = 4;

/// A prescription as presented at a pharmacy: the typed data and the deployment it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The chain id.
    pub chain_id: u64,
    /// The Prescriptions contract.
    pub prescriptions: Address,
    /// The typed data (content with salt, and terms).
    pub prescription: Prescription,
}

/// The code's payload: every field, in a fixed order, RLP-encoded.
#[derive(Debug, RlpEncodable, RlpDecodable)]
struct Compact {
    chain_id: u64,
    prescriptions: Address,
    patient: Address,
    prescriber: Address,
    fills: u8,
    quantity_per_fill: u32,
    days_supply: u16,
    date_written: u32,
    earliest_fill_at: u32,
    valid_until: u32,
    min_fill_interval: u32,
    schedule: u8,
    long_term_care: bool,
    pharmacy: Address,
    nonce: U256,
    deadline: u32,
    patient_name: String,
    patient_identifier: String,
    rxnorm_code: String,
    drug_name: String,
    strength: String,
    dosage_instructions: String,
    quantity: u32,
    unit: String,
    substitution_allowed: bool,
    salt: B256,
}

impl Ticket {
    /// A ticket for `prescription` on `chain_id` at `prescriptions`.
    pub const fn new(chain_id: u64, prescriptions: Address, prescription: Prescription) -> Self {
        Self { chain_id, prescriptions, prescription }
    }

    /// Reads either a patient copy (JSON) or a prescription code (`MEDRX2:…`).
    pub fn parse(text: &str) -> Result<Self, RxError> {
        let trimmed = text.trim();
        if trimmed.starts_with("MEDRX") {
            Self::from_code(trimmed)
        } else if trimmed.starts_with('{') {
            Ok(PatientCopy::parse(text)?.ticket())
        } else {
            Err(RxError::Code(format!(
                "neither a patient copy (JSON object) nor a prescription code ({CODE_PREFIX}…)"
            )))
        }
    }

    /// The prescription id.
    pub fn rx_id(&self) -> B256 {
        self.prescription.rx_id(&eip712::domain(self.chain_id, self.prescriptions))
    }

    /// The content hash.
    pub fn content_hash(&self) -> B256 {
        self.prescription.content.content_hash()
    }

    /// The terms sent on chain.
    pub fn terms(&self) -> RxTerms {
        self.prescription.terms()
    }

    /// The EIP-712 typed data in the `eth_signTypedData_v4` JSON format.
    pub fn typed_data(&self) -> Value {
        typed_data_json(self.chain_id, self.prescriptions, &self.prescription)
    }

    /// The compact text for a QR code: `MEDRX2:` + base64url(RLP(fields) ‖ keccak256(RLP)[..4]).
    pub fn to_code(&self) -> String {
        let p = &self.prescription;
        let c = &p.content;
        let compact = Compact {
            chain_id: self.chain_id,
            prescriptions: self.prescriptions,
            patient: p.patient,
            prescriber: p.prescriber,
            fills: p.fills,
            quantity_per_fill: p.quantityPerFill,
            days_supply: p.daysSupply,
            date_written: p.dateWritten,
            earliest_fill_at: p.earliestFillAt,
            valid_until: p.validUntil,
            min_fill_interval: p.minFillInterval,
            schedule: p.schedule,
            long_term_care: p.longTermCare,
            pharmacy: p.pharmacy,
            nonce: p.nonce,
            deadline: p.deadline,
            patient_name: c.patientName.clone(),
            patient_identifier: c.patientIdentifier.clone(),
            rxnorm_code: c.rxnormCode.clone(),
            drug_name: c.drugName.clone(),
            strength: c.strength.clone(),
            dosage_instructions: c.dosageInstructions.clone(),
            quantity: c.quantity,
            unit: c.unit.clone(),
            substitution_allowed: c.substitutionAllowed,
            salt: c.salt,
        };
        let mut payload = Vec::with_capacity(compact.length() + CHECKSUM_LEN);
        compact.encode(&mut payload);
        let checksum = keccak256(&payload);
        payload.extend_from_slice(&checksum[..CHECKSUM_LEN]);
        format!("{CODE_PREFIX}{}", URL_SAFE_NO_PAD.encode(payload))
    }

    /// Decodes a prescription code, checking its version and checksum.
    pub fn from_code(text: &str) -> Result<Self, RxError> {
        let text = text.trim();
        let Some(body) = text.strip_prefix(CODE_PREFIX) else {
            let version = text.split(':').next().unwrap_or_default();
            return Err(RxError::Code(if version.starts_with("MEDRX") && text.contains(':') {
                format!("unsupported version {version} (this medledger reads {CODE_PREFIX})")
            } else {
                format!("does not start with {CODE_PREFIX}")
            }));
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|e| RxError::Code(format!("not base64url: {e} (was the code cut or mistyped?)")))?;
        if bytes.len() <= CHECKSUM_LEN {
            return Err(RxError::Code("too short".into()));
        }
        let (payload, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
        if keccak256(payload)[..CHECKSUM_LEN] != *checksum {
            return Err(RxError::Code("checksum mismatch: the code is damaged or mistyped".into()));
        }
        let mut buf = payload;
        let c = Compact::decode(&mut buf).map_err(|e| RxError::Code(format!("malformed payload: {e}")))?;
        if !buf.is_empty() {
            return Err(RxError::Code("trailing bytes after the payload".into()));
        }
        let prescription = Prescription {
            patient: c.patient,
            prescriber: c.prescriber,
            content: PrescriptionContent {
                patientName: c.patient_name,
                patientIdentifier: c.patient_identifier,
                rxnormCode: c.rxnorm_code,
                drugName: c.drug_name,
                strength: c.strength,
                dosageInstructions: c.dosage_instructions,
                quantity: c.quantity,
                unit: c.unit,
                substitutionAllowed: c.substitution_allowed,
                salt: c.salt,
            },
            fills: c.fills,
            quantityPerFill: c.quantity_per_fill,
            daysSupply: c.days_supply,
            dateWritten: c.date_written,
            earliestFillAt: c.earliest_fill_at,
            validUntil: c.valid_until,
            minFillInterval: c.min_fill_interval,
            schedule: c.schedule,
            longTermCare: c.long_term_care,
            pharmacy: c.pharmacy,
            nonce: c.nonce,
            deadline: c.deadline,
        };
        Ok(Self::new(c.chain_id, c.prescriptions, prescription))
    }
}
