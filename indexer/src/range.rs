//! Sizing `eth_getLogs` ranges: towards [`TARGET_LOGS`] logs per answer, fast across empty stretches (×8 per
//! answer, so a provider's span limit is reached in a few calls), at once smaller on a dense answer or a
//! refusal. A refusal of a range that was likely sparse (by the last answer's density) is taken for the
//! provider's span limit: ranges stay below it, but for a probe twice as wide now and then (limits differ
//! by method and change).

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
            if size >= ceiling && self.at_ceiling.fetch_add(1, Ordering::Relaxed) + 1 >= PROBE_AFTER {
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

    /// After the node refused `size` blocks: ranges from now on are at most half of it; and if those blocks
    /// likely held few logs (a span limit, not a result-count one), they grow no wider than that until a
    /// probe. Returns whether the range size shrank (a state change worth a log line).
    pub(crate) fn refused(&self, size: u64) -> bool {
        let half = size.div_ceil(2).max(1);
        let likely_logs = size.saturating_mul(self.density.load(Ordering::Relaxed)) / 1_000_000;
        if likely_logs < TARGET_LOGS {
            self.at_ceiling.store(0, Ordering::Relaxed);
            self.ceiling.fetch_min(half, Ordering::Relaxed);
        }
        self.range.fetch_min(half, Ordering::Relaxed) > half
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

    /// A refusal halves the range and caps growth there until a probe, after which a limit that went away
    /// is used again.
    #[test]
    fn a_refusal_caps_growth_until_a_probe() {
        let sizer = RangeSizer::new(4_096, 100_000);
        assert!(sizer.refused(4_096));
        assert_eq!((sizer.get(), sizer.ceiling()), (2_048, 2_048));
        assert!(!sizer.refused(4_096), "already as small: no state change");
        for _ in 0..PROBE_AFTER - 1 {
            sizer.answered(2_048, 0);
            assert_eq!(sizer.get(), 2_048);
        }
        sizer.answered(2_048, 0);
        assert_eq!(sizer.get(), 4_096, "probe twice as wide");
        // No limit any more: the ceiling rises probe by probe.
        let calls = backfill(&sizer, 1_000_000, u64::MAX, |_| 0);
        assert!(
            sizer.ceiling() > 4_096 && calls < 1_000_000 / 4_096,
            "{calls} calls, ceiling {}",
            sizer.ceiling()
        );
    }
}
