//! The rows a backfill carries from batch to batch ([`Carried`]), so that a batch need not read back what
//! the previous one wrote.

use super::{Consent, Credential, Episode, Fold, Prescription, Record, Role};
use std::{
    collections::{BTreeMap, HashMap},
    hash::Hash,
};

/// The rows one backfill has written, by key, carried from batch to batch so that a batch need not read
/// back what the previous one wrote. Every entry equals the stored row (a batch's rows are absorbed once it
/// is written; an error ends the backfill and drops them). When `complete`, a key without an entry has no
/// row at all: the chain had no projection rows when the backfill began, and nothing was left out since.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    pub(super) credentials: HashMap<Vec<u8>, Credential>,
    pub(super) consents: HashMap<Vec<u8>, Consent>,
    pub(super) episodes: HashMap<i64, Episode>,
    pub(super) records: HashMap<Vec<u8>, Record>,
    pub(super) prescriptions: HashMap<Vec<u8>, Prescription>,
    pub(super) roles: HashMap<Vec<u8>, Role>,
    pub(super) complete: bool,
    capacity: usize,
}

impl Carried {
    /// Most rows carried (about 300 bytes each); past it, new keys are read back from the database again.
    const CAPACITY: usize = 2_000_000;

    /// An empty carry; `complete` if the chain has no projection rows yet.
    pub(crate) fn new(complete: bool) -> Self {
        Self { complete, capacity: Self::CAPACITY, ..Self::default() }
    }

    /// Rows carried.
    fn len(&self) -> usize {
        self.credentials.len()
            + self.consents.len()
            + self.episodes.len()
            + self.records.len()
            + self.prescriptions.len()
            + self.roles.len()
    }
}

/// Takes the carried rows of the touched keys (as if loaded: their stored rows are replaced) and returns the
/// keys that still have to be read from the database.
pub(super) fn take_carried<K: Ord + Hash + Clone, R: Clone>(
    touched: &mut BTreeMap<K, Option<R>>,
    stored: &mut Vec<K>,
    carried: Option<&HashMap<K, R>>,
    complete: bool,
) -> Vec<K> {
    let Some(carried) = carried else { return touched.keys().cloned().collect() };
    let mut missing = Vec::new();
    for (k, row) in touched.iter_mut() {
        if let Some(r) = carried.get(k) {
            *row = Some(r.clone());
            stored.push(k.clone());
        } else if !complete {
            missing.push(k.clone());
        }
    }
    missing
}

/// Absorbs a written fold's rows into the carry. Keys already carried are always updated (so every entry
/// stays equal to its stored row); new ones only while there is room, else the carry is no longer complete.
fn carry<K: Ord + Hash, R>(
    rows: BTreeMap<K, Option<R>>,
    carried: &mut HashMap<K, R>,
    (room, complete): (&mut usize, &mut bool),
) {
    for (k, row) in rows {
        match row {
            Some(r) => {
                if carried.contains_key(&k) || *room > 0 {
                    if carried.insert(k, r).is_none() {
                        *room -= 1;
                    }
                } else {
                    *complete = false;
                }
            }
            None => {
                if carried.remove(&k).is_some() {
                    *room += 1;
                }
            }
        }
    }
}

impl Fold {
    /// Moves the fold's rows, written by now, into `c` for the next batch.
    pub(crate) fn carry_into(self, c: &mut Carried) {
        let mut room = c.capacity.saturating_sub(c.len());
        carry(self.credentials, &mut c.credentials, (&mut room, &mut c.complete));
        carry(self.consents, &mut c.consents, (&mut room, &mut c.complete));
        carry(self.episodes, &mut c.episodes, (&mut room, &mut c.complete));
        carry(self.records, &mut c.records, (&mut room, &mut c.complete));
        carry(self.prescriptions, &mut c.prescriptions, (&mut room, &mut c.complete));
        carry(self.roles, &mut c.roles, (&mut room, &mut c.complete));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carried_rows_stand_in_for_stored_ones_until_full() {
        let mut c = HashMap::new();
        let (mut room, mut complete) = (1, true);
        // Two new rows, room for one: the first is carried, the second is not, and absence no longer
        // means "no row".
        carry(BTreeMap::from([(1, Some("a")), (2, Some("b"))]), &mut c, (&mut room, &mut complete));
        assert_eq!((c.get(&1), c.get(&2), room, complete), (Some(&"a"), None, 0, false));
        // A carried row is updated even when full, and a row gone is dropped.
        carry(BTreeMap::from([(1, Some("a2"))]), &mut c, (&mut room, &mut complete));
        assert_eq!(c.get(&1), Some(&"a2"));
        carry(BTreeMap::from([(1, None)]), &mut c, (&mut room, &mut complete));
        assert_eq!((c.is_empty(), room), (true, 1));

        // Taking: carried keys come back as stored rows; others must be read back unless complete.
        let carried = HashMap::from([(7, "x")]);
        let mut touched = BTreeMap::from([(7, None), (8, None)]);
        let mut stored = Vec::new();
        let missing = take_carried(&mut touched, &mut stored, Some(&carried), false);
        assert_eq!((missing, stored.clone(), touched[&7]), (vec![8], vec![7], Some("x")));
        let mut touched = BTreeMap::from([(7, None), (8, None)]);
        assert!(take_carried(&mut touched, &mut Vec::new(), Some(&carried), true).is_empty());
        // Without a carry every touched key is read back.
        let mut touched = BTreeMap::from([(7, None::<&str>), (8, None)]);
        assert_eq!(take_carried(&mut touched, &mut Vec::new(), None, true), vec![7, 8]);
    }
}
