//! The errors of the prescription documents, patient copies and codes.

use alloy::primitives::{Address, B256, U256};
use std::path::PathBuf;

/// Why a prescription document, patient copy or code was refused.
#[derive(Debug, thiserror::Error)]
pub enum RxError {
    /// The JSON is malformed, a field has the wrong type, or a field is unknown or missing.
    #[error("{what}: line {line}, column {column}: {}{message}", field_prefix(path))]
    Json {
        /// What was parsed ("prescription document", "patient copy").
        what: &'static str,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The field path (`dispenseRequest.quantity.value`), empty at the top level.
        path: String,
        /// serde's description.
        message: String,
    },
    /// A field's value breaks a rule.
    #[error("{path}: {message}")]
    Invalid {
        /// The field path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A patient copy whose stored hash is not the one its document gives (edited or corrupted).
    #[error("patient copy: {field} is {stored} but the document gives {computed}: the copy was altered")]
    Altered {
        /// Which stored value (`rxId`, `contentHash`).
        field: &'static str,
        /// The stored value.
        stored: B256,
        /// The recomputed value.
        computed: B256,
    },
    /// A prescription code (QR text) that cannot be decoded.
    #[error("prescription code: {0}")]
    Code(String),
    /// The RPC node, or a prescription, is for another chain than the deployment manifest.
    #[error("wrong chain: {what} is on chain {actual}, the deployment manifest is for chain {expected}")]
    WrongChain {
        /// Which side ("the RPC node", "the prescription").
        what: &'static str,
        /// Its chain id.
        actual: u64,
        /// The manifest's chain id.
        expected: u64,
    },
    /// The prescription is for another Prescriptions contract than the manifest's.
    #[error(
        "wrong contract: the prescription is for Prescriptions at {actual}, the manifest's is at {expected}"
    )]
    WrongContract {
        /// The prescription's contract.
        actual: Address,
        /// The manifest's contract.
        expected: Address,
    },
    /// No prescription with this id was issued.
    #[error("unknown prescription {rx_id}: it was never issued on chain {chain_id}")]
    UnknownPrescription {
        /// The id.
        rx_id: B256,
        /// The chain asked.
        chain_id: u64,
    },
    /// The signer may not cancel the prescription: only its patient or its prescriber may (a registrar voids).
    #[error(
        "the signer {signer} is neither the patient {patient} nor the prescriber {prescriber} of prescription \
         {rx_id}: only they may cancel it (a registrar voids it with `medledger rx void`)"
    )]
    NotAParty {
        /// The signer.
        signer: Address,
        /// The prescription's patient.
        patient: Address,
        /// The prescription's prescriber.
        prescriber: Address,
        /// The prescription.
        rx_id: B256,
    },
    /// The signer may not move the prescription to another pharmacy: only its patient may.
    #[error(
        "the signer {signer} is not the patient {patient} of prescription {rx_id}: only she may move it to \
         another pharmacy"
    )]
    NotThePatient {
        /// The signer.
        signer: Address,
        /// The prescription's patient.
        patient: Address,
        /// The prescription.
        rx_id: B256,
    },
    /// A contract refused the transaction (its custom error in words).
    #[error("refused: {0}")]
    Reverted(String),

    /// A dispense with this dispensing record hash is already on chain: sending it again would count the
    /// same record twice (issue 19, point 7).
    #[error(
        "already dispensed: a dispense of {rx_id} with record hash {dispense_hash} is on chain (transaction \
         {tx_hash}); a retry would count it twice, so nothing was sent"
    )]
    AlreadyDispensed {
        /// The prescription.
        rx_id: alloy::primitives::B256,
        /// The dispensing record hash given.
        dispense_hash: alloy::primitives::B256,
        /// The transaction that recorded it.
        tx_hash: alloy::primitives::B256,
    },
    /// The sender cannot pay for gas.
    #[error("insufficient funds: {account} has {balance} wei, not enough to pay for the transaction's gas")]
    InsufficientFunds {
        /// The sender.
        account: Address,
        /// Its balance in wei.
        balance: U256,
    },
    /// The command sends a transaction but no signer was given.
    #[error("no signer: give --private-key (or MEDLEDGER_PRIVATE_KEY) or --keystore with a password")]
    NoSigner,
    /// The signer could not be loaded (bad key, keystore or password).
    #[error("signer: {0}")]
    Signer(String),
    /// The JSON-RPC node failed or could not be reached.
    #[error("RPC: {0}")]
    Rpc(String),
    /// The GraphQL API failed or could not be reached.
    #[error("API: {0}")]
    Api(String),
    /// A file could not be read or written.
    #[error("{}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn field_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

impl RxError {
    /// Whether trying again may succeed: the network and files can be transient; everything else is in the
    /// input or the chain's state.
    pub const fn is_retryable(&self) -> bool {
        matches!(self, Self::Io { .. } | Self::Rpc(_) | Self::Api(_))
    }
}
