//! The patient's copy: the document with its salt, the deployment it is for, and the prescription id; and
//! the typed data the prescriber's wallet signs.

use super::{document::MedicationRequest, error::RxError, ticket::Ticket};
use alloy::{
    dyn_abi::TypedData,
    primitives::{Address, B256, U256},
};
use chrono::{DateTime, Utc};
use medledger_core::eip712::{self, Prescription};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The version tag of the patient-copy JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CopyFormat {
    /// Version 1.
    #[serde(rename = "medledger-rx/1")]
    V1,
}

/// The transaction that issued a prescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Issued {
    /// The transaction hash.
    pub tx_hash: B256,
    /// Its block.
    pub block_number: u64,
}

/// The JSON form of a patient copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CopyJson {
    format: CopyFormat,
    chain_id: u64,
    #[serde(deserialize_with = "medledger_core::address::deserialize")]
    prescriptions: Address,
    rx_id: B256,
    content_hash: B256,
    salt: B256,
    nonce: U256,
    medication_request: MedicationRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issued: Option<Issued>,
}

/// The patient's copy of a prescription: the resolved document, the secret salt that hides its content
/// on chain, the nonce, the chain and Prescriptions contract it is for, and (once sent) the issuing
/// transaction. The patient hands it (or its [code](Ticket::to_code)) to the pharmacy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientCopy {
    json: CopyJson,
    prescription: Prescription,
}

/// A fresh random 32-byte salt: without it anyone could confirm a guessed content against the on-chain hash.
pub fn random_salt() -> B256 {
    B256::from(rand::random::<[u8; 32]>())
}

impl PatientCopy {
    /// A new copy for `document`, to be issued on `chain_id` through the Prescriptions contract at
    /// `prescriptions`; the validity is made absolute as of `now` ([`MedicationRequest::resolved`]).
    pub fn new(
        document: &MedicationRequest,
        chain_id: u64,
        prescriptions: Address,
        now: DateTime<Utc>,
        salt: B256,
        nonce: U256,
    ) -> Result<Self, RxError> {
        let document = document.resolved(now)?;
        let prescription = document.prescription(salt, nonce)?;
        let domain = eip712::domain(chain_id, prescriptions);
        let json = CopyJson {
            format: CopyFormat::V1,
            chain_id,
            prescriptions,
            rx_id: prescription.rx_id(&domain),
            content_hash: prescription.content.content_hash(),
            salt,
            nonce,
            medication_request: document,
            issued: None,
        };
        Ok(Self { json, prescription })
    }

    /// Parses a patient copy and checks that its stored `rxId` and `contentHash` are the ones its document
    /// gives.
    pub fn parse(text: &str) -> Result<Self, RxError> {
        let json: CopyJson = super::parse_json("patient copy", text)?;
        json.medication_request.check()?;
        let prescription = json.medication_request.prescription(json.salt, json.nonce)?;
        let content_hash = prescription.content.content_hash();
        if content_hash != json.content_hash {
            return Err(RxError::Altered {
                field: "contentHash",
                stored: json.content_hash,
                computed: content_hash,
            });
        }
        let rx_id = prescription.rx_id(&eip712::domain(json.chain_id, json.prescriptions));
        if rx_id != json.rx_id {
            return Err(RxError::Altered { field: "rxId", stored: json.rx_id, computed: rx_id });
        }
        Ok(Self { json, prescription })
    }

    /// The copy as pretty JSON.
    pub fn to_json(&self) -> String {
        let mut value = serde_json::to_value(&self.json).unwrap_or(Value::Null);
        super::checksum_addresses(&mut value);
        let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The resolved document.
    pub const fn document(&self) -> &MedicationRequest {
        &self.json.medication_request
    }

    /// The EIP-712 typed data (with the content).
    pub const fn prescription(&self) -> &Prescription {
        &self.prescription
    }

    /// The prescription id (EIP-712 digest).
    pub const fn rx_id(&self) -> B256 {
        self.json.rx_id
    }

    /// The content hash sent on chain.
    pub const fn content_hash(&self) -> B256 {
        self.json.content_hash
    }

    /// The salt.
    pub const fn salt(&self) -> B256 {
        self.json.salt
    }

    /// The chain id the prescription is for.
    pub const fn chain_id(&self) -> u64 {
        self.json.chain_id
    }

    /// The Prescriptions contract the prescription is for.
    pub const fn prescriptions(&self) -> Address {
        self.json.prescriptions
    }

    /// The issuing transaction, once recorded.
    pub const fn issued(&self) -> Option<Issued> {
        self.json.issued
    }

    /// Records the issuing transaction.
    pub const fn set_issued(&mut self, issued: Issued) {
        self.json.issued = Some(issued);
    }

    /// What the pharmacy needs: the typed data and its deployment (also as a QR code text).
    pub fn ticket(&self) -> Ticket {
        Ticket::new(self.json.chain_id, self.json.prescriptions, self.prescription.clone())
    }

    /// The EIP-712 typed data in the `eth_signTypedData_v4` JSON format, for `cast wallet sign --data`,
    /// MetaMask or a hardware wallet.
    pub fn typed_data(&self) -> Value {
        self.ticket().typed_data()
    }
}

/// `eth_signTypedData_v4` JSON of `prescription` under the Prescriptions domain (chain id as a number, as
/// wallets show it).
pub(crate) fn typed_data_json(chain_id: u64, prescriptions: Address, prescription: &Prescription) -> Value {
    let typed = TypedData::from_struct(prescription, Some(eip712::domain(chain_id, prescriptions)));
    let mut value = serde_json::to_value(&typed).unwrap_or(Value::Null);
    if let Some(domain) = value.get_mut("domain").and_then(Value::as_object_mut) {
        domain.insert("chainId".into(), chain_id.into());
    }
    super::checksum_addresses(&mut value);
    value
}
