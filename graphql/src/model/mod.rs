//! The GraphQL object types and the rows they are read from.

mod consent;
mod credential;
mod event;
mod prescription;
mod record;
mod status;

pub(crate) use consent::{
    ConsentChangeRow, ConsentFilter, ConsentRow, CONSENT_CHANGE_COLUMNS, CONSENT_COLUMNS,
};
pub(crate) use credential::{CredentialRow, CREDENTIAL_COLUMNS};
pub(crate) use event::{EventFilter, EventRow, EVENT_COLUMNS};
pub(crate) use prescription::{
    prescription_fields, DispenseRow, FailureReason, PrescriptionFilter, PrescriptionRow, Verification,
    VerificationFailure, DISPENSE_COLUMNS, PRESCRIPTION_COLUMNS,
};
pub(crate) use record::{EpisodeRow, RecordRow, EPISODE_COLUMNS, RECORD_COLUMNS};
pub(crate) use status::{as_of_sql, AsOf, IndexerStatus, AS_OF_SQL};

use crate::error::{ApiError, GqlResult, ResultExt};
use crate::scalars::{Address, Bytes32};

/// A stored 20-byte column as an `Address`.
pub(crate) fn addr(bytes: &[u8]) -> GqlResult<Address> {
    Address::from_slice(bytes)
        .ok_or_else(|| ApiError::Corrupt(format!("address of {} bytes", bytes.len())))
        .gql()
}

/// A nullable stored address.
pub(crate) fn opt_addr(bytes: Option<&Vec<u8>>) -> GqlResult<Option<Address>> {
    bytes.map(|b| addr(b)).transpose()
}

/// A stored 32-byte column as `Bytes32`.
pub(crate) fn b32(bytes: &[u8]) -> GqlResult<Bytes32> {
    Bytes32::from_slice(bytes)
        .ok_or_else(|| ApiError::Corrupt(format!("hash of {} bytes", bytes.len())))
        .gql()
}

/// Stored bytes of any length as `0x…` hex.
pub(crate) fn hex0x(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}
