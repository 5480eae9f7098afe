//! `episodes` and `records`: `RecordAnchors`' episodes and the records anchored in them.
//!
//! The contract's rules the fold mirrors: an episode opens with no records and a zero head; each anchored
//! record takes the next index and moves the episode's hash-chain head to the one the event carries
//! (`keccak256(abi.encode(previousHead, index, contentHash, pointerHash))`); a closed episode keeps its count
//! and head; the patient hides and unhides a record, which moves the record only.

use super::Ev;
use crate::error::IndexerError;
use chrono::{DateTime, Utc};

/// A row of `episodes`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Episode {
    pub(super) episode_id: i64,
    pub(super) patient: Vec<u8>,
    pub(super) opened_by: Vec<u8>,
    pub(super) opened_at: DateTime<Utc>,
    pub(super) opened_block: i64,
    pub(super) record_count: i64,
    pub(super) head: Vec<u8>,
    pub(super) closed: bool,
    pub(super) closed_by: Option<Vec<u8>>,
    pub(super) closed_at: Option<DateTime<Utc>>,
    pub(super) closed_block: Option<i64>,
    pub(super) updated_block: i64,
}

/// A row of `records`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Record {
    pub(super) episode_id: i64,
    pub(super) record_index: i64,
    pub(super) patient: Vec<u8>,
    pub(super) author: Vec<u8>,
    pub(super) content_hash: Vec<u8>,
    pub(super) pointer_hash: Vec<u8>,
    pub(super) head: Vec<u8>,
    pub(super) hidden: bool,
    pub(super) anchored_block: i64,
    pub(super) anchored_at: DateTime<Utc>,
    pub(super) tx_hash: Vec<u8>,
    pub(super) visibility_changed_at: Option<DateTime<Utc>>,
}

pub(super) fn fold_episode(
    row: &mut Option<Episode>,
    episode_id: i64,
    e: &Ev<'_>,
) -> Result<(), IndexerError> {
    match (e.event_name, row.as_mut()) {
        ("EpisodeOpened", existing) => {
            let (patient, opened_by) = (e.bytes("patient")?, e.bytes("openedBy")?);
            match existing {
                Some(ep) => {
                    (ep.patient, ep.opened_by) = (patient, opened_by);
                    (ep.opened_at, ep.opened_block) = (e.block_time, e.block_number);
                    ep.updated_block = ep.updated_block.max(e.block_number);
                }
                None => {
                    *row = Some(Episode {
                        episode_id,
                        patient,
                        opened_by,
                        opened_at: e.block_time,
                        opened_block: e.block_number,
                        record_count: 0,
                        head: vec![0; 32],
                        closed: false,
                        closed_by: None,
                        closed_at: None,
                        closed_block: None,
                        updated_block: e.block_number,
                    });
                }
            }
        }
        ("RecordAnchored", Some(ep)) => {
            ep.record_count = e.int("index")? + 1;
            ep.head = e.bytes("head")?;
            ep.updated_block = ep.updated_block.max(e.block_number);
        }
        ("EpisodeClosed", Some(ep)) => {
            ep.closed = true;
            ep.closed_by = Some(e.bytes("closedBy")?);
            ep.closed_at = Some(e.block_time);
            ep.closed_block = Some(e.block_number);
            ep.updated_block = ep.updated_block.max(e.block_number);
        }
        // Visibility changes move records, not episodes; nothing precedes an episode's opening.
        _ => {}
    }
    Ok(())
}

pub(super) fn fold_record(row: &mut Option<Record>, e: &Ev<'_>) -> Result<(), IndexerError> {
    match (e.event_name, row.as_mut()) {
        ("RecordAnchored", existing) => {
            let (hidden, visibility_changed_at) =
                existing.map_or((false, None), |r| (r.hidden, r.visibility_changed_at));
            *row = Some(Record {
                episode_id: e.episode_id.ok_or_else(|| e.bad("episodeId"))?,
                record_index: e.int("index")?,
                patient: e.bytes("patient")?,
                author: e.bytes("author")?,
                content_hash: e.bytes("contentHash")?,
                pointer_hash: e.bytes("pointerHash")?,
                head: e.bytes("head")?,
                hidden,
                anchored_block: e.block_number,
                anchored_at: e.block_time,
                tx_hash: e.tx_hash.to_vec(),
                visibility_changed_at,
            });
        }
        ("RecordVisibilityChanged", Some(r)) => {
            r.hidden = e.flag("hidden")?;
            r.visibility_changed_at = Some(e.block_time);
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::event::fixture::{addr, block_time, fold, hex, tx_hash, word, Case, Log};
    use alloy::primitives::keccak256;
    use serde_json::{json, Value};

    const EP: i64 = 3;

    /// `RecordAnchors.<event>` of episode 3 (of its record `index` when given) in `block`.
    fn log(event: &'static str, block: i64, index: Option<i64>, mut args: Value) -> Log {
        args["episodeId"] = json!(EP);
        args["patient"] = hex(&addr(0xaa));
        let entity = match index {
            Some(i) => [EP.to_be_bytes(), i.to_be_bytes()].concat(),
            None => EP.to_be_bytes().to_vec(),
        };
        let mut l = Log::new("RecordAnchors", event, entity, args).at(block);
        l.episode_id = Some(EP);
        l
    }
    fn opened(block: i64) -> Log {
        log("EpisodeOpened", block, None, json!({"openedBy": hex(&addr(0xd0))}))
    }
    /// The contract's hash chain: `keccak256(abi.encode(previousHead, index, contentHash, pointerHash))`.
    fn next_head(previous: &[u8], index: i64, content: &[u8], pointer: &[u8]) -> Vec<u8> {
        let mut index_word = [0u8; 32];
        index_word[24..].copy_from_slice(&index.to_be_bytes());
        keccak256([previous, &index_word, content, pointer].concat()).to_vec()
    }
    /// Record `index`'s content and pointer hashes.
    fn hashes(index: i64) -> (Vec<u8>, Vec<u8>) {
        let b = u8::try_from(index).unwrap_or(0);
        (word(0x10 + b), word(0x40 + b))
    }
    /// The anchors of records 0..n, in blocks 2.., each carrying the head the contract computes.
    fn anchored(n: i64) -> Vec<Log> {
        let mut head = vec![0; 32];
        (0..n)
            .map(|i| {
                let (content, pointer) = hashes(i);
                head = next_head(&head, i, &content, &pointer);
                let args = json!({"author": hex(&addr(0xd0)), "index": i, "contentHash": hex(&content),
                                  "pointerHash": hex(&pointer), "head": hex(&head)});
                log("RecordAnchored", 2 + i, Some(i), args)
            })
            .collect()
    }
    fn closed(block: i64, count: i64, head: &[u8]) -> Log {
        let args = json!({"closedBy": hex(&addr(0xaa)), "recordCount": count, "head": hex(head)});
        log("EpisodeClosed", block, None, args)
    }
    fn visibility(block: i64, index: i64, hidden: bool) -> Log {
        log("RecordVisibilityChanged", block, Some(index), json!({"index": index, "hidden": hidden}))
    }

    fn opened_row() -> Episode {
        Episode {
            episode_id: EP,
            patient: addr(0xaa),
            opened_by: addr(0xd0),
            opened_at: block_time(1),
            opened_block: 1,
            record_count: 0,
            head: vec![0; 32],
            closed: false,
            closed_by: None,
            closed_at: None,
            closed_block: None,
            updated_block: 1,
        }
    }

    /// The head after records 0..n.
    fn head_after(n: i64) -> Vec<u8> {
        (0..n).fold(vec![0; 32], |head, i| {
            let (content, pointer) = hashes(i);
            next_head(&head, i, &content, &pointer)
        })
    }

    /// Each episode rule: the events after its opening (block 1), and how they change the opened row.
    #[test]
    fn the_episode_follows_the_contract_rules() {
        let cases: Vec<Case<Episode>> = vec![
            ("opening: no records, a zero head", vec![], |_| {}),
            ("each anchor moves the count and the head", anchored(3), |e| {
                (e.record_count, e.head, e.updated_block) = (3, head_after(3), 4);
            }),
            (
                "closing keeps the count and the head",
                [anchored(2), vec![closed(6, 2, &head_after(2))]].concat(),
                |e| {
                    (e.record_count, e.head) = (2, head_after(2));
                    (e.closed, e.closed_by, e.closed_at, e.closed_block) =
                        (true, Some(addr(0xaa)), Some(block_time(6)), Some(6));
                    e.updated_block = 6;
                },
            ),
            ("closing an empty episode", vec![closed(2, 0, &[0; 32])], |e| {
                (e.closed, e.closed_by, e.closed_at, e.closed_block) =
                    (true, Some(addr(0xaa)), Some(block_time(2)), Some(2));
                e.updated_block = 2;
            }),
            (
                "hiding and unhiding records moves no episode",
                [anchored(1), vec![visibility(5, 0, true), visibility(6, 0, false)]].concat(),
                |e| {
                    (e.record_count, e.head, e.updated_block) = (1, head_after(1), 2);
                },
            ),
        ];
        for (rule, events, change) in cases {
            let logs: Vec<Log> = [opened(1)].into_iter().chain(events).collect();
            let mut want = opened_row();
            change(&mut want);
            assert_eq!(fold(&logs).episodes[&EP], Some(want), "{rule}");
        }
    }

    /// Every record keeps the head its own anchoring produced: the chain can be checked link by link from
    /// the records, and its last link is the episode's head.
    #[test]
    fn records_keep_the_hash_chain() {
        let logs: Vec<Log> = [vec![opened(1)], anchored(4)].concat();
        let f = fold(&logs);
        let mut previous = vec![0; 32];
        for i in 0..4 {
            let key = [EP.to_be_bytes(), i64::to_be_bytes(i)].concat();
            let Some(Some(r)) = f.records.get(&key) else { panic!("record {i} missing") };
            let (content, pointer) = hashes(i);
            assert_eq!(
                (r.record_index, &r.content_hash, &r.pointer_hash),
                (i, &content, &pointer),
                "record {i}"
            );
            assert_eq!(r.head, next_head(&previous, i, &content, &pointer), "record {i}'s link");
            previous.clone_from(&r.head);
        }
        assert_eq!(f.episodes[&EP].as_ref().map(|e| (e.record_count, e.head.clone())), Some((4, previous)));
    }

    /// Each record rule: the events after record 0's anchoring (block 2), and how they change its row.
    #[test]
    fn the_record_follows_the_contract_rules() {
        let anchored_row = || {
            let (content_hash, pointer_hash) = hashes(0);
            Record {
                episode_id: EP,
                record_index: 0,
                patient: addr(0xaa),
                author: addr(0xd0),
                content_hash,
                pointer_hash,
                head: head_after(1),
                hidden: false,
                anchored_block: 2,
                anchored_at: block_time(2),
                tx_hash: tx_hash(2),
                visibility_changed_at: None,
            }
        };
        let cases: Vec<Case<Record>> = vec![
            ("anchoring: every term from the event, shown", vec![], |_| {}),
            ("hidden by the patient", vec![visibility(5, 0, true)], |r| {
                (r.hidden, r.visibility_changed_at) = (true, Some(block_time(5)));
            }),
            ("hidden, then shown again", vec![visibility(5, 0, true), visibility(7, 0, false)], |r| {
                r.visibility_changed_at = Some(block_time(7));
            }),
            (
                "another record's visibility leaves it",
                [anchored(2)[1..].to_vec(), vec![visibility(5, 1, true)]].concat(),
                |_| {},
            ),
            ("closing the episode leaves it", vec![closed(5, 1, &head_after(1))], |_| {}),
        ];
        for (rule, events, change) in cases {
            let logs: Vec<Log> = [vec![opened(1)], anchored(1), events].concat();
            let mut want = anchored_row();
            change(&mut want);
            let key = [EP.to_be_bytes(), 0i64.to_be_bytes()].concat();
            assert_eq!(fold(&logs).records[&key], Some(want), "{rule}");
        }
    }

    /// Nothing precedes an episode's opening, nor a record's anchoring: such events move no row.
    #[test]
    fn nothing_before_opening_or_anchoring() {
        let f = fold(&[closed(2, 0, &[0; 32])]);
        assert_eq!(f.episodes[&EP], None);
        let f = fold(&[opened(1), visibility(2, 0, true)]);
        assert_eq!(f.records[&[EP.to_be_bytes(), 0i64.to_be_bytes()].concat()], None);
    }
}
