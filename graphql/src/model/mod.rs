//! The GraphQL object types and the rows they are read from.

mod consent;
mod credential;
mod event;
mod prescription;
mod record;
mod status;
mod vault;

pub(crate) use consent::{
    ConsentChangeRow, ConsentFilter, ConsentRow, CONSENT_CHANGE_COLUMNS, CONSENT_COLUMNS,
};
pub(crate) use credential::{CredentialRow, CREDENTIAL_COLUMNS};
pub(crate) use event::{EventFilter, EventRow, EVENT_COLUMNS};
pub(crate) use prescription::{
    prescription_fields, DispenseRow, FailureReason, PrescriptionContentInput, PrescriptionFilter,
    PrescriptionRow, Verification, VerificationFailure, DISPENSE_COLUMNS, PRESCRIPTION_COLUMNS,
};
pub(crate) use record::{EpisodeRow, RecordRow, EPISODE_COLUMNS, RECORD_COLUMNS};
pub(crate) use status::{as_of_sql, AsOf, IndexerStatus, AS_OF_SQL};
pub(crate) use vault::{AccessLogEntryRow, VaultDocumentRow};

/// Stored bytes of any length as `0x…` hex.
pub(crate) fn hex0x(bytes: impl AsRef<[u8]>) -> String {
    format!("0x{}", hex::encode(bytes))
}
