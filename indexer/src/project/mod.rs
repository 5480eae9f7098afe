//! The projections, folded in Rust: the current row of each entity (credential, consent, episode, record,
//! prescription, role membership) is the fold of its events in (block, log index) order, and the history
//! tables (credential_history, consent_history, dispenses) hold one row per event. A dispense row also names
//! the prescription's patient, which its event does not carry: it is written after the batch's fold, from
//! the folded prescription ([`Fold::dispenses`]).
//!
//! A batch loads the current rows of the entities its events touch, applies its events ([`Fold::apply`])
//! and writes the results back in bulk. A reorg deletes the rows of the entities its reverted events
//! touched and folds them again, from nothing, over the events that remain. Both go through the same
//! [`Fold::apply`]: the one definition of every projection.
//!
//! The folds are pure, one module per entity ([`credentials`], [`consents`], [`episodes`] with records,
//! [`prescriptions`] with dispenses, [`roles`]), each tested against the contract's rules; the SQL is
//! apart: [`load`] reads stored rows (and, for a refold, events), [`write`] replaces them with COPY.

mod carry;
mod consents;
mod credentials;
mod episodes;
mod event;
mod load;
mod prescriptions;
mod roles;
mod write;

use crate::error::IndexerError;
pub(crate) use carry::Carried;
use consents::{consent_change, fold_consent, Consent, ConsentChange};
use credentials::{credential_change, fold_credential, Credential, CredentialChange};
use episodes::{fold_episode, fold_record, Episode, Record};
pub(crate) use event::{Ev, EvArgs};
use prescriptions::{dispense, fold_prescription, Dispense, Prescription};
use roles::{fold_role, Role};
use std::collections::BTreeMap;

/// The projection an event belongs to, with the key of its row (borrowed from the event: classifying an
/// event allocates nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key<'a> {
    Credential(&'a [u8]),
    Consent(&'a [u8]),
    /// Episode events (opened, closed) and record events of an episode both move the episode's row.
    Episode(i64, Option<&'a [u8]>),
    Prescription(&'a [u8]),
    Role(&'a [u8]),
}

/// The projection rows an event moves (none for e.g. `NoncesInvalidated` or `RoleAdminChanged`).
fn key_of<'a>(contract: &str, event: &str, entity: &'a [u8], episode_id: Option<i64>) -> Option<Key<'a>> {
    if entity.is_empty() {
        return None;
    }
    match contract {
        "CredentialRegistry" if event == "RoleGranted" || event == "RoleRevoked" => Some(Key::Role(entity)),
        "CredentialRegistry" if event.starts_with("Credential") => Some(Key::Credential(entity)),
        "ConsentRegistry" => Some(Key::Consent(entity)),
        "RecordAnchors" => {
            let record = (entity.len() == 16).then_some(entity);
            episode_id.map(|ep| Key::Episode(ep, record))
        }
        "Prescriptions" => Some(Key::Prescription(entity)),
        _ => None,
    }
}

/// The touched entities' rows (`None`: no row yet, or deleted for a refold) and the keys of the rows stored
/// before the fold (deleted before the fold's rows are written).
#[derive(Debug, Default)]
pub(crate) struct Fold {
    credentials: BTreeMap<Vec<u8>, Option<Credential>>,
    consents: BTreeMap<Vec<u8>, Option<Consent>>,
    episodes: BTreeMap<i64, Option<Episode>>,
    records: BTreeMap<Vec<u8>, Option<Record>>,
    prescriptions: BTreeMap<Vec<u8>, Option<Prescription>>,
    roles: BTreeMap<Vec<u8>, Option<Role>>,
    stored: Stored,
}

/// A batch's history rows: one per credential change and consent change. Each is a function of its event
/// alone (no stored state), so they can be written as soon as the batch's events are. (Dispense rows need
/// the folded prescription: [`Fold::dispenses`].)
#[derive(Debug, Default)]
pub(crate) struct History {
    credential: Vec<CredentialChange>,
    consent: Vec<ConsentChange>,
}

/// A batch's `dispenses` rows, in event order.
#[derive(Debug, Default)]
pub(crate) struct Dispenses(Vec<Dispense>);

/// Keys whose rows exist in the database and must go before the fold's rows are written.
#[derive(Debug, Default)]
struct Stored {
    credentials: Vec<Vec<u8>>,
    consents: Vec<Vec<u8>>,
    episodes: Vec<i64>,
    records: Vec<Vec<u8>>,
    prescriptions: Vec<Vec<u8>>,
    roles: Vec<Vec<u8>>,
}

impl Fold {
    /// Registers the row an event of `contract.event` on `entity` moves, so that loading and applying
    /// consider it.
    pub(crate) fn touch(&mut self, contract: &str, event: &str, entity: &[u8], episode_id: Option<i64>) {
        match key_of(contract, event, entity, episode_id) {
            Some(Key::Credential(k)) => {
                self.credentials.entry(k.to_vec()).or_default();
            }
            Some(Key::Consent(k)) => {
                self.consents.entry(k.to_vec()).or_default();
            }
            Some(Key::Episode(ep, record)) => {
                self.episodes.entry(ep).or_default();
                if let Some(r) = record {
                    self.records.entry(r.to_vec()).or_default();
                }
            }
            Some(Key::Prescription(k)) => {
                self.prescriptions.entry(k.to_vec()).or_default();
            }
            Some(Key::Role(k)) => {
                self.roles.entry(k.to_vec()).or_default();
            }
            None => {}
        }
    }

    /// Whether no projection row is touched.
    pub(crate) fn is_empty(&self) -> bool {
        self.credentials.is_empty()
            && self.consents.is_empty()
            && self.episodes.is_empty()
            && self.records.is_empty()
            && self.prescriptions.is_empty()
            && self.roles.is_empty()
    }

    /// Applies one event to the touched rows it moves. Events must come in (block, log index) order.
    pub(crate) fn apply(&mut self, e: &Ev<'_>) -> Result<(), IndexerError> {
        match key_of(e.contract, e.event_name, e.entity, e.episode_id) {
            Some(Key::Credential(k)) => {
                if let Some(row) = self.credentials.get_mut(k) {
                    fold_credential(row, e)?;
                }
            }
            Some(Key::Consent(k)) => {
                if let Some(row) = self.consents.get_mut(k) {
                    fold_consent(row, e)?;
                }
            }
            Some(Key::Episode(ep, record)) => {
                if let Some(row) = self.episodes.get_mut(&ep) {
                    fold_episode(row, ep, e)?;
                }
                if let Some(row) = record.and_then(|r| self.records.get_mut(r)) {
                    fold_record(row, e)?;
                }
            }
            Some(Key::Prescription(k)) => {
                if let Some(row) = self.prescriptions.get_mut(k) {
                    fold_prescription(row, e)?;
                }
            }
            Some(Key::Role(k)) => {
                if let Some(row) = self.roles.get_mut(k) {
                    fold_role(row, e)?;
                }
            }
            None => {}
        }
        Ok(())
    }
}

impl Fold {
    /// The `dispenses` rows of a batch's `events` once they are applied: each with its prescription's patient
    /// from the folded row (a dispense's prescription is always touched by the dispense itself).
    pub(crate) fn dispenses<'e>(
        &self,
        events: impl Iterator<Item = Ev<'e>>,
    ) -> Result<Dispenses, IndexerError> {
        let mut rows = Vec::new();
        for e in events {
            if e.contract != "Prescriptions" || e.event_name != "PrescriptionDispensed" {
                continue;
            }
            let patient = self
                .prescriptions
                .get(e.entity)
                .and_then(Option::as_ref)
                .map(|rx| rx.patient.clone())
                .ok_or_else(|| {
                    IndexerError::Corrupt(format!(
                        "Prescriptions.PrescriptionDispensed at block {} log {}: no prescription with this id",
                        e.block_number, e.log_index
                    ))
                })?;
            rows.push(dispense(&e, patient)?);
        }
        Ok(Dispenses(rows))
    }
}

impl History {
    /// Records the history row of one event, if it has one.
    pub(crate) fn push(&mut self, e: &Ev<'_>) -> Result<(), IndexerError> {
        match key_of(e.contract, e.event_name, e.entity, e.episode_id) {
            Some(Key::Credential(_)) => self.credential.push(credential_change(e)?),
            Some(Key::Consent(_)) => self.consent.extend(consent_change(e)?),
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use event::fixture::{addr, fold, hex, word, Log};
    use serde_json::json;

    /// Each event moves the rows of its projection only, keyed by the entity `decode` derives; events of no
    /// projection (and events whose entity is unknown) move none.
    /// An event's routing case: (contract, event, entity, episode id, expected key).
    type Route = (&'static str, &'static str, Vec<u8>, Option<i64>, Option<Key<'static>>);

    #[test]
    fn events_route_to_their_projection() {
        let record = [3i64.to_be_bytes(), 0i64.to_be_bytes()].concat();
        let cases: Vec<Route> = vec![
            ("CredentialRegistry", "CredentialSuspended", addr(1), None, Some(Key::Credential(&[1; 20]))),
            ("CredentialRegistry", "RoleGranted", word(2), None, Some(Key::Role(&[2; 32]))),
            ("CredentialRegistry", "RoleAdminChanged", word(2), None, None),
            ("ConsentRegistry", "ConsentGranted", addr(4), None, Some(Key::Consent(&[4; 20]))),
            ("ConsentRegistry", "NoncesInvalidated", vec![], None, None),
            (
                "RecordAnchors",
                "EpisodeOpened",
                3i64.to_be_bytes().to_vec(),
                Some(3),
                Some(Key::Episode(3, None)),
            ),
            (
                "RecordAnchors",
                "RecordAnchored",
                record.clone(),
                Some(3),
                Some(Key::Episode(3, Some(&[0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]))),
            ),
            ("RecordAnchors", "RecordAnchored", record, None, None),
            ("Prescriptions", "PrescriptionIssued", word(5), None, Some(Key::Prescription(&[5; 32]))),
            ("Prescriptions", "PrescriptionIssued", vec![], None, None),
            ("Other", "PrescriptionIssued", word(5), None, None),
        ];
        for (contract, event, entity, episode, want) in cases {
            assert_eq!(key_of(contract, event, &entity, episode), want, "{contract}.{event}");
        }
    }

    /// A fold moves only the rows it was told about (`touch`): the rows a batch loaded, or a refold deleted.
    #[test]
    fn only_touched_rows_move() {
        let args = json!({"patient": hex(&addr(0xaa)), "grantee": hex(&addr(0xbb)), "scopes": 1,
                          "expiresAt": 2_000_000_000, "relayed": false});
        let l = Log::new("ConsentRegistry", "ConsentGranted", [addr(0xaa), addr(0xbb)].concat(), args);
        let mut f = Fold::default();
        assert!(f.apply(&l.ev()).is_ok() && f.is_empty());
        let f = fold(&[l]);
        assert!(!f.is_empty() && f.consents.values().all(Option::is_some));
        let unknown = Log::new("ConsentRegistry", "NoncesInvalidated", vec![], json!({}));
        assert!(fold(&[unknown]).is_empty());
    }
}
