//! The living demo of `medledger dev`: a cast of anvil's public test accounts with roles ([`Cast`]), a
//! realistic story played through the real contracts ([`seed`]) and a trickle of further activity
//! ([`simulate`]) so that subscriptions and live statuses can be watched moving.
//!
//! Clinical content never goes on chain. The story's documents — prescriptions as FHIR-like
//! `MedicationRequest`s (see [`crate::rx`]) and encounter notes, committed under `examples/demo/` — stay off
//! chain; the contracts only receive salted EIP-712 commitments and salted hashes, plus addresses, schedules,
//! quantities and times. `tests/privacy.rs` plays the whole demo and scans every transaction, event and
//! storage write for the documents' text.

mod chain;
mod documents;
mod records;
mod simulate;
mod story;

pub use chain::Chain;
pub use documents::{salted_hash, Document, DocumentKind, DOCUMENTS};
pub use records::{store_records, VaultStory};
pub use simulate::simulate;
pub use story::{
    consent_domain, seed, Grant, SeededRx, SeededStory, CANCEL_REASON_DOSE_CHANGED,
    EMERGENCY_REASON_UNCONSCIOUS, EMERGENCY_SECS, SUSPEND_REASON_INVESTIGATION, TIME_JUMP_SECS,
};

use alloy::{primitives::Address, signers::local::PrivateKeySigner};
use anyhow::{ensure, Result};

/// What a cast member does in the story.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The licensing authority (REGISTRAR_ROLE); also deployed the contracts and administers them.
    Registrar,
    /// A licensed prescriber.
    Prescriber,
    /// A licensed pharmacy.
    Pharmacy,
    /// A patient.
    Patient,
    /// Submits signed consents and prescriptions and pays their gas.
    Relayer,
}

impl Role {
    /// The role's name as printed.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Registrar => "registrar",
            Self::Prescriber => "prescriber",
            Self::Pharmacy => "pharmacy",
            Self::Patient => "patient",
            Self::Relayer => "relayer",
        }
    }
}

/// One account of the story.
#[derive(Debug, Clone)]
pub struct Member {
    /// Who it is (fictional).
    pub name: &'static str,
    /// What it does.
    pub role: Role,
    /// Its part in the story, one line.
    pub part: &'static str,
    /// Its key: one of anvil's public test keys.
    pub signer: PrivateKeySigner,
}

impl Member {
    /// Its address.
    pub const fn address(&self) -> Address {
        self.signer.address()
    }

    /// Its private key as `0x` hex (anvil's public test key: for a local chain only).
    pub fn key_hex(&self) -> String {
        format!("0x{}", alloy::hex::encode(self.signer.to_bytes()))
    }
}

/// The story's accounts: anvil's ten public test accounts, in order.
#[derive(Debug, Clone)]
pub struct Cast {
    /// Account 0: the medical board's registrar (deployer, admin, REGISTRAR_ROLE).
    pub registrar: Member,
    /// Account 1: a family physician licensed for schedules II–V; treats Maria and James.
    pub okafor: Member,
    /// Account 2: a cardiologist whose consent is revoked and whose license is suspended.
    pub lindqvist: Member,
    /// Account 3: an emergency physician who opens break-glass access.
    pub haddad: Member,
    /// Account 4: a pharmacy.
    pub mission: Member,
    /// Account 5: a pharmacy.
    pub bayview: Member,
    /// Account 6: a patient with an episode of care and prescriptions (how many: counted on the chain).
    pub maria: Member,
    /// Account 7: a patient who consents by signature.
    pub james: Member,
    /// Account 8: a patient brought to the emergency department.
    pub chen: Member,
    /// Account 9: relays signed consents and prescriptions.
    pub relayer: Member,
}

impl Cast {
    /// The cast over anvil's ten test accounts (in anvil's order).
    pub fn new(signers: &[PrivateKeySigner]) -> Result<Self> {
        ensure!(
            signers.len() >= 10,
            "the demo needs anvil's 10 test accounts, the node has {}",
            signers.len()
        );
        let m = |i: usize, name, role, part| Member { name, role, part, signer: signers[i].clone() };
        Ok(Self {
            registrar: m(0, "Medical Board registrar", Role::Registrar, "deploys; licenses; suspends"),
            okafor: m(1, "Dr. Amara Okafor", Role::Prescriber, "family medicine, schedules II-V"),
            lindqvist: m(2, "Dr. Erik Lindqvist", Role::Prescriber, "cardiology; consent revoked, suspended"),
            haddad: m(3, "Dr. Leila Haddad", Role::Prescriber, "emergency medicine; break-glass access"),
            mission: m(4, "Mission Street Pharmacy", Role::Pharmacy, "designated pharmacy"),
            bayview: m(5, "Bayview Pharmacy", Role::Pharmacy, "fills the schedule II partially"),
            maria: m(6, "Maria Alvarez", Role::Patient, "episode of care, prescriptions"),
            james: m(7, "James Whitfield", Role::Patient, "consents by signature (relayed)"),
            chen: m(8, "Chen Wei", Role::Patient, "emergency access"),
            relayer: m(9, "clinic relayer", Role::Relayer, "submits signed consents and prescriptions"),
        })
    }

    /// Every member, in account order.
    pub fn members(&self) -> [&Member; 10] {
        [
            &self.registrar,
            &self.okafor,
            &self.lindqvist,
            &self.haddad,
            &self.mission,
            &self.bayview,
            &self.maria,
            &self.james,
            &self.chen,
            &self.relayer,
        ]
    }

    /// The member at `address`, if any.
    pub fn by_address(&self, address: Address) -> Option<&Member> {
        self.members().into_iter().find(|m| m.address() == address)
    }
}

#[cfg(test)]
mod tests;
