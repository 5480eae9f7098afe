//! The story's off-chain documents, committed under `examples/demo/` and built into the binary: FHIR-like
//! `MedicationRequest`s (the prescriptions) and `Encounter` notes (the records anchored in the episode).
//! Only salted hashes of them ever reach the chain.

use anyhow::{Context, Result};

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    /// A prescription (`MedicationRequest`, parsed by [`crate::rx::MedicationRequest`]).
    Prescription,
    /// An encounter note of the episode of care.
    Encounter,
}

/// One committed demo document.
#[derive(Debug, Clone, Copy)]
pub struct Document {
    /// Its path under `examples/demo/`.
    pub name: &'static str,
    /// What it is.
    pub kind: DocumentKind,
    /// Its JSON text.
    pub text: &'static str,
}

macro_rules! documents {
    ($($kind:ident $name:literal),* $(,)?) => {
        [$(Document {
            name: $name,
            kind: DocumentKind::$kind,
            text: include_str!(concat!("../../examples/demo/", $name)),
        }),*]
    };
}

/// Every demo document.
pub const DOCUMENTS: [Document; 11] = documents![
    Prescription "prescriptions/lisinopril.json",
    Prescription "prescriptions/amoxicillin.json",
    Prescription "prescriptions/oxycodone.json",
    Prescription "prescriptions/atorvastatin.json",
    Prescription "prescriptions/metformin.json",
    Encounter "encounters/01-intake.json",
    Encounter "encounters/02-labs.json",
    Encounter "encounters/03-behavioral-health.json",
    Encounter "encounters/04-follow-up.json",
    Encounter "encounters/05-telehealth-check-in.json",
    Encounter "encounters/06-chen-wei-allergies.json",
];

/// The document named `name` (its path under `examples/demo/`).
pub(crate) fn document(name: &str) -> Result<&'static Document> {
    DOCUMENTS.iter().find(|d| d.name == name).with_context(|| format!("no demo document {name}"))
}

pub use medledger_core::salted_hash;
