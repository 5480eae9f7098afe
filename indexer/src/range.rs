//! Sizing `eth_getLogs` ranges: towards [`TARGET_LOGS`] logs per answer, fast across empty stretches (×8 per
//! answer, so a provider's span limit is reached in a few calls), at once smaller on a dense answer or a
//! refusal. A refusal of a range that was likely sparse (by the last answer's density) is taken for the
//! provider's span limit: ranges stay below it, closing in on it by bisection (within 1/8), but for a probe
//! twice as wide now and then (limits differ by method and change).

use std::sync::atomic::{AtomicU64, Ordering};

/// Logs per `eth_getLogs` answer the range size aims at: big enough to amortise a request, small enough
/// that fetching, decoding and writing overlap in the backfill pipeline.
pub(crate) const TARGET_LOGS: u64 = 5_000;

/// Most a range grows per answer when answers are small.
const GROWTH: u64 = 8;

/// Answers at the refused ceiling after which one range twice as wide is tried again.
const PROBE_AFTER: u64 = 16;

/// The current range size, shared by concurrent fetches.
#[derive(Debug)]
pub(crate) struct RangeSizer {
    range: AtomicU64,
    /// Below the smallest span refused so far (`max` until one is).
    ceiling: AtomicU64,
    /// Sparse answers at the ceiling since it last moved.
    at_ceiling: AtomicU64,
    /// The smallest sparse span refused (`u64::MAX`: none, or it passed since).
    refused_at: AtomicU64,
    /// The widest sparse span that passed.
    passed: AtomicU64,
    /// Logs per million blocks in the last answer.
    density: AtomicU64,
    max: u64,
}

impl RangeSizer {
    /// Starts at `initial` blocks, never above `max`.
    pub(crate) fn new(initial: u64, max: u64) -> Self {
        let max = max.max(1);
        Self {
            range: AtomicU64::new(initial.clamp(1, max)),
            ceiling: AtomicU64::new(max),
            at_ceiling: AtomicU64::new(0),
            refused_at: AtomicU64::new(u64::MAX),
            passed: AtomicU64::new(0),
            density: AtomicU64::new(0),
            max,
        }
    }

    /// Blocks per request now.
    pub(crate) fn get(&self) -> u64 {
        self.range.load(Ordering::Relaxed)
    }

    /// Below the smallest span refused so far.
    pub(crate) fn ceiling(&self) -> u64 {
        self.ceiling.load(Ordering::Relaxed)
    }

    /// After an answer of `logs` logs for `size` blocks: far more than the target shrinks the range at once
    /// (to what would have brought the target); fewer than half of it grows the range up to ×[`GROWTH`]
    /// (towards the target, within the ceiling); else it stays.
    pub(crate) fn answered(&self, size: u64, logs: u64) {
        let current = self.get();
        let ceiling = self.ceiling();
        self.density.store(logs.saturating_mul(1_000_000) / size.max(1), Ordering::Relaxed);
        let next = if logs > TARGET_LOGS * 2 {
            (size.saturating_mul(TARGET_LOGS) / logs.max(1)).clamp(1, current)
        } else if logs < TARGET_LOGS / 2 && size >= current {
            self.passed.fetch_max(size, Ordering::Relaxed);
            let refused_at = self.refused_at.load(Ordering::Relaxed);
            if size >= refused_at {
                // A span refused before passes now: the limit moved.
                self.refused_at.store(u64::MAX, Ordering::Relaxed);
            } else if size >= ceiling && refused_at != u64::MAX && refused_at - ceiling > ceiling / 8 {
                // Close in on the limit: halfway between what passed and what was refused.
                self.ceiling.fetch_max(ceiling + (refused_at - ceiling) / 2, Ordering::Relaxed);
            } else if size >= ceiling && self.at_ceiling.fetch_add(1, Ordering::Relaxed) + 1 >= PROBE_AFTER {
                // Long sparse at the ceiling: try twice as wide once (a refusal costs one split).
                self.at_ceiling.store(0, Ordering::Relaxed);
                let raised = ceiling.saturating_mul(2).min(self.max);
                self.ceiling.fetch_max(raised, Ordering::Relaxed);
            }
            let by_logs = size.saturating_mul(TARGET_LOGS) / logs.max(1);
            size.saturating_mul(GROWTH).min(by_logs).max(current).min(self.ceiling())
        } else {
            return;
        };
        self.range.store(next.clamp(1, self.max), Ordering::Relaxed);
    }

    /// After the node refused `size` blocks. If those blocks likely held few logs (a span limit, not a
    /// result-count one): ranges go back to the widest span known to pass (else half of `size`) and stay
    /// below `size` until a probe. Otherwise ranges are at most half of it. Returns whether the range size shrank (a state change worth a log line).
    pub(crate) fn refused(&self, size: u64) -> bool {
        let half = size.div_ceil(2).max(1);
        let likely_logs = size.saturating_mul(self.density.load(Ordering::Relaxed)) / 1_000_000;
        let limit = if likely_logs < TARGET_LOGS {
            self.at_ceiling.store(0, Ordering::Relaxed);
            self.refused_at.fetch_min(size, Ordering::Relaxed);
            // Back to the widest span known to pass, else half of the refused one.
            let passed = self.passed.load(Ordering::Relaxed);
            let below = if passed > 0 && passed < size { passed } else { half };
            self.ceiling.fetch_min(below, Ordering::Relaxed);
            self.ceiling()
        } else {
            half
        };
        self.range.fetch_min(limit, Ordering::Relaxed) > limit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node refusing spans over `limit` blocks, over a chain with `logs(block)` logs per block: fetches
    /// `blocks` blocks one range after another as `Rpc::logs` does (a refused range split in halves) and
    /// returns the `eth_getLogs` calls made.
    fn backfill(sizer: &RangeSizer, blocks: u64, limit: u64, logs: impl Fn(u64) -> u64) -> u64 {
        let (mut from, mut calls) = (0, 0);
        while from < blocks {
            let to = (from + sizer.get() - 1).min(blocks - 1);
            let mut pending = vec![(from, to)];
            while let Some((a, b)) = pending.pop() {
                calls += 1;
                let size = b - a + 1;
                if size > limit && a < b {
                    sizer.refused(size);
                    let mid = a + size.div_ceil(2) - 1;
                    pending.push((mid + 1, b));
                    pending.push((a, mid));
                } else {
                    sizer.answered(size, (a..=b).map(&logs).sum());
                }
            }
            from = to + 1;
        }
        calls
    }

    /// A million empty blocks behind a 10,000-block span limit, from a 1-block start: within 2× the floor
    /// of ⌈blocks ÷ limit⌉ calls, and the limit reached in a handful of calls.
    #[test]
    fn empty_stretches_reach_the_span_limit_in_a_few_calls() {
        let sizer = RangeSizer::new(1, 100_000);
        let calls = backfill(&sizer, 1_000_000, 10_000, |_| 0);
        let floor = 1_000_000u64.div_ceil(10_000);
        assert!(calls <= 2 * floor, "{calls} calls for a floor of {floor}");
        let sizer = RangeSizer::new(1, 100_000);
        let calls = backfill(&sizer, 10_000, 10_000, |_| 0);
        assert!(calls <= 6, "{calls} calls to cover the first 10,000 blocks");
    }

    /// Sparse events (one every 100 blocks) still let ranges reach the limit.
    #[test]
    fn sparse_events_do_not_hold_the_range_back() {
        let sizer = RangeSizer::new(1, 100_000);
        let calls = backfill(&sizer, 1_000_000, 10_000, |b| u64::from(b % 100 == 0));
        assert!(calls <= 2 * 100, "{calls} calls");
    }

    /// A dense stretch after a sparse one: the range shrinks at once to what brings about the target.
    #[test]
    fn a_dense_answer_shrinks_the_range_at_once() {
        let sizer = RangeSizer::new(1, 100_000);
        backfill(&sizer, 200_000, 100_000, |_| 0);
        assert_eq!(sizer.get(), 100_000);
        sizer.answered(100_000, 50_000);
        assert_eq!(sizer.get(), 10_000);
        // A moderate answer (within [target/2, 2×target]) keeps it.
        sizer.answered(10_000, 4_000);
        assert_eq!(sizer.get(), 10_000);
    }

    /// A refusal of a dense range (a result-count limit) shrinks the range but does not cap a later sparse
    /// stretch.
    #[test]
    fn a_dense_refusal_does_not_cap_sparse_stretches() {
        let sizer = RangeSizer::new(1_000, 100_000);
        sizer.answered(1_000, 8_000);
        assert!(sizer.refused(1_000));
        assert_eq!((sizer.get(), sizer.ceiling()), (500, 100_000));
        let calls = backfill(&sizer, 1_000_000, 100_000, |_| 0);
        assert!(calls <= 20, "{calls} calls");
    }

    /// A refusal halves the range; answers then close in on the refused span by bisection (to within 1/8),
    /// stay there, and probe twice as wide now and then, after which a limit that went away is used again.
    #[test]
    fn a_refusal_is_closed_in_on_and_probed() {
        let sizer = RangeSizer::new(4_096, 100_000);
        assert!(sizer.refused(4_096));
        assert_eq!((sizer.get(), sizer.ceiling()), (2_048, 2_048));
        // A node whose limit is 4,000 blocks: 2,048 passes, then 3,072, 3,584, 3,840 (within 1/8 of 4,096).
        for want in [3_072, 3_584, 3_840, 3_840] {
            sizer.answered(sizer.get(), 0);
            assert_eq!(sizer.get(), want);
        }
        for _ in 0..PROBE_AFTER - 2 {
            sizer.answered(3_840, 0);
            assert_eq!(sizer.get(), 3_840);
        }
        sizer.answered(3_840, 0);
        assert_eq!(sizer.get(), 7_680, "probe twice as wide");
        assert!(sizer.refused(7_680));
        assert_eq!(sizer.get(), 3_840, "back under the limit, no new bisection");
        sizer.answered(3_840, 0);
        assert_eq!(sizer.get(), 3_840);
        // No limit any more: the ceiling rises probe by probe.
        let calls = backfill(&sizer, 1_000_000, u64::MAX, |_| 0);
        assert!(
            sizer.ceiling() > 3_840 && calls < 1_000_000 / 3_840,
            "{calls} calls, ceiling {}",
            sizer.ceiling()
        );
    }

    /// Against limits that are not a power of two, the ranges settle close to the limit.
    #[test]
    fn ranges_settle_close_to_the_limit() {
        for limit in [500, 2_000, 3_000, 10_000] {
            let sizer = RangeSizer::new(1, 100_000);
            let blocks = 400 * limit;
            let calls = backfill(&sizer, blocks, limit, |_| 0);
            let floor = blocks.div_ceil(limit);
            assert!(calls * 4 <= floor * 5, "limit {limit}: {calls} calls for a floor of {floor}");
        }
    }
}
