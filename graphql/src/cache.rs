//! What the hot lookups (`verifyPrescription`, `prescription(id)`) read besides their own rows — the `asOf`
//! time and credentials — cached per version of the index.
//!
//! The indexer writes (or reverts) a batch's rows and moves the checkpoint to the batch's last block in one
//! transaction, and the indexed rows are a function of the chain up to that block: the checkpoint's block
//! number and hash are a version of the whole index. A hot lookup is one statement: it reads the
//! checkpoint in the same snapshot as its own rows, is told the latest version the cache holds, and reads
//! `asOf` and credentials too whenever its snapshot is of another version (or the server asks, because the
//! cache lacks the lookup's accounts). So a cached value is only taken when it was read under the
//! statement's exact version, never combined with rows of another indexed state, not even between a commit
//! and its `NOTIFY`, and the cache needs no listener to stay exact: the first lookup after a commit sees the
//! new checkpoint and starts a new version.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Most accounts whose credentials are kept per version; when full the maps start over, so a stream of
/// lookups for unknown accounts keeps the memory bounded.
const MAX_ACCOUNTS: usize = 65_536;
/// Most prescriptions whose prescriber is kept; when full the map starts over.
const MAX_PRESCRIPTIONS: usize = 131_072;

/// The checkpoint: the last indexed block's number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    number: i64,
    hash: Vec<u8>,
}

impl Version {
    /// The version of a statement's snapshot (none before the indexer's first checkpoint: nothing is cached).
    pub(crate) fn of(number: Option<i64>, hash: Option<&Vec<u8>>) -> Option<Self> {
        Some(Self { number: number?, hash: hash?.clone() })
    }

    /// The checkpoint's block number.
    pub(crate) const fn number(&self) -> i64 {
        self.number
    }

    /// The checkpoint's block hash.
    pub(crate) fn hash(&self) -> &[u8] {
        &self.hash
    }
}

/// A credential's current row, as verification needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialNow {
    /// Its kind, status and expiry.
    pub(crate) credential: medledger_core::dispense::Credential,
    /// The block of its last change.
    pub(crate) updated_block: i64,
}

/// One entry of a credential's history: its status and expiry after a change (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CredentialStep {
    /// The block of the change.
    pub(crate) block_number: i64,
    /// The status after the change.
    pub(crate) status: Option<String>,
    /// The expiry after the change.
    pub(crate) expires_at: Option<DateTime<Utc>>,
}

/// What verification reads besides the prescription: the prescriber's and the pharmacy's credentials and
/// the prescriber's history (in chain order).
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// The prescriber's credential, if any.
    pub(crate) prescriber: Option<CredentialNow>,
    /// The pharmacy's credential, if any.
    pub(crate) pharmacy: Option<CredentialNow>,
    /// The prescriber's credential history, oldest first.
    pub(crate) history: Arc<[CredentialStep]>,
}

/// The values of one version.
struct Entry {
    version: Version,
    as_of: DateTime<Utc>,
    current: HashMap<Vec<u8>, Option<CredentialNow>>,
    history: HashMap<Vec<u8>, Arc<[CredentialStep]>>,
}

/// The cache: the values of the latest version seen, and the prescriber of each prescription seen (which
/// every version agrees on: the id is a digest of the terms, the prescriber among them), so a lookup knows
/// before its statement whether the cache holds its accounts.
#[derive(Default)]
pub(crate) struct IndexCache {
    entry: Mutex<Option<Entry>>,
    prescribers: Mutex<HashMap<[u8; 32], Vec<u8>>>,
}

impl IndexCache {
    fn with<T>(&self, version: &Version, f: impl FnOnce(&Entry) -> Option<T>) -> Option<T> {
        let entry = self.entry.lock().ok()?;
        entry.as_ref().filter(|e| e.version == *version).and_then(f)
    }

    /// The version whose values the cache holds, if any.
    pub(crate) fn latest(&self) -> Option<Version> {
        Some(self.entry.lock().ok()?.as_ref()?.version.clone())
    }

    /// Whether the values of `version` include the credentials of `prescriber` and `pharmacy`.
    pub(crate) fn holds(&self, version: &Version, prescriber: &[u8], pharmacy: &[u8]) -> bool {
        self.with(version, |e| {
            Some(
                e.current.contains_key(prescriber)
                    && e.current.contains_key(pharmacy)
                    && e.history.contains_key(prescriber),
            )
        })
        .unwrap_or(false)
    }

    /// The prescriber of prescription `id`, if a lookup read it before.
    pub(crate) fn prescriber_of(&self, id: &[u8; 32]) -> Option<Vec<u8>> {
        self.prescribers.lock().ok()?.get(id).cloned()
    }

    /// Records the prescriber of prescription `id`.
    pub(crate) fn remember_prescriber(&self, id: [u8; 32], prescriber: &[u8]) {
        let Ok(mut map) = self.prescribers.lock() else { return };
        if map.get(&id).is_some_and(|p| p.as_slice() == prescriber) {
            return;
        }
        if map.len() >= MAX_PRESCRIPTIONS {
            map.clear();
        }
        map.insert(id, prescriber.to_vec());
    }

    /// The `asOf` time read under `version`, if cached.
    pub(crate) fn as_of(&self, version: &Version) -> Option<DateTime<Utc>> {
        self.with(version, |e| Some(e.as_of))
    }

    /// The `asOf` time and the credentials of `prescriber` and `pharmacy` read under `version`, if cached.
    pub(crate) fn credentials(
        &self,
        version: &Version,
        prescriber: &[u8],
        pharmacy: &[u8],
    ) -> Option<(DateTime<Utc>, Credentials)> {
        self.with(version, |e| {
            let credentials = Credentials {
                prescriber: e.current.get(prescriber)?.clone(),
                pharmacy: e.current.get(pharmacy)?.clone(),
                history: e.history.get(prescriber)?.clone(),
            };
            Some((e.as_of, credentials))
        })
    }

    /// The entry of `version`, replacing another version's.
    fn entry(&self, version: Version, as_of: DateTime<Utc>, f: impl FnOnce(&mut Entry)) {
        let Ok(mut slot) = self.entry.lock() else { return };
        let entry = match &mut *slot {
            Some(e) if e.version == version => e,
            other => other.insert(Entry { version, as_of, current: HashMap::new(), history: HashMap::new() }),
        };
        if entry.current.len() >= MAX_ACCOUNTS || entry.history.len() >= MAX_ACCOUNTS {
            entry.current.clear();
            entry.history.clear();
        }
        f(entry);
    }

    /// Records the `asOf` time read under `version`.
    pub(crate) fn remember_as_of(&self, version: Version, as_of: DateTime<Utc>) {
        self.entry(version, as_of, |_| {});
    }

    /// Records what one statement read under `version`.
    pub(crate) fn remember(
        &self,
        version: Version,
        as_of: DateTime<Utc>,
        prescriber: &[u8],
        pharmacy: &[u8],
        credentials: &Credentials,
    ) {
        self.entry(version, as_of, |e| {
            e.current.insert(prescriber.to_vec(), credentials.prescriber.clone());
            e.current.insert(pharmacy.to_vec(), credentials.pharmacy.clone());
            e.history.insert(prescriber.to_vec(), credentials.history.clone());
        });
    }
}
