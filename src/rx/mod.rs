//! Prescriptions from the command line: the doctor's document, the patient's copy and the pharmacy's code.
//!
//! - [`MedicationRequest`]: a FHIR-MedicationRequest-like JSON document (RxNorm code, drug, strength,
//!   dosage, quantity, repeats, validity, dispense interval, substitution, schedule, accounts), parsed with
//!   errors that name line, column and field ([`MedicationRequest::parse`]).
//! - [`PatientCopy`]: the document made absolute ([`MedicationRequest::resolved`]) with a [`random_salt`],
//!   a nonce and the deployment; gives the EIP-712 [`Prescription`] (its digest is the rxId), the
//!   `eth_signTypedData_v4` JSON a wallet signs ([`PatientCopy::typed_data`]) and the terms sent on chain.
//! - [`Ticket`]: what a pharmacy reads, from a patient copy or from its QR text (`MEDRX2:…`,
//!   [`Ticket::to_code`]).
//! - [`RxClient`] issues and dispenses on chain (custom errors decoded by [`explain_revert`]); [`verify`] asks
//!   the GraphQL API for a pharmacy's verdict.
//!
//! Example documents live in `examples/rx/`.

mod api;
mod chain;
mod copy;
mod document;
mod error;
mod revert;
mod ticket;

pub use api::{verify, Failure, Verdict, SCHEDULE_MISMATCH};
pub use chain::{check_deployment, Canceller, OnChain, RxClient, Sent};
pub use copy::{random_salt, CopyFormat, Issued, PatientCopy};
pub use document::{
    Coding, DispenseRequest, Dosage, Duration, Medication, MedicationRequest, Party, Period, Quantity,
    ResourceType, Schedule, Subject, Substitution, TimeUnit, RXNORM_SYSTEM,
};
pub use error::RxError;
pub use medledger_core::{
    bindings::IPrescriptions::RxTerms,
    eip712::{domain, prescription_id, Prescription, PrescriptionContent},
};
pub use revert::{explain_revert, schedule_name, time_text};
pub use ticket::{Ticket, CODE_PREFIX};

/// Deserializes `text`, reporting the line, column and field path of the first error.
fn parse_json<T: serde::de::DeserializeOwned>(what: &'static str, text: &str) -> Result<T, RxError> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        RxError::Json { what, line: inner.line(), column: inner.column(), path, message: message_of(&inner) }
    })?;
    // Trailing content after the object.
    de.end().map_err(|e| RxError::Json {
        what,
        line: e.line(),
        column: e.column(),
        path: String::new(),
        message: message_of(&e),
    })?;
    Ok(value)
}

/// serde_json's message without its " at line L column C" suffix (reported apart).
fn message_of(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((message, _)) => message.to_owned(),
        None => text,
    }
}

/// Writes every address in `value` (a string of `0x` and exactly 40 hex digits) EIP-55 checksummed, as the
/// command line prints addresses: alloy serializes them in lowercase.
pub(crate) fn checksum_addresses(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            let is_address =
                s.len() == 42 && s.starts_with("0x") && s[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if let Some(address) = is_address.then(|| s.parse::<alloy::primitives::Address>().ok()).flatten()
            {
                *s = address.to_checksum(None);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(checksum_addresses),
        serde_json::Value::Object(map) => map.values_mut().for_each(checksum_addresses),
        _ => {}
    }
}

/// Reads a file for one of the parsers here.
pub fn read_file(path: &std::path::Path) -> Result<String, RxError> {
    std::fs::read_to_string(path).map_err(|source| RxError::Io { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests;
