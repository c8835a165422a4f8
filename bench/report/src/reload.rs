//! What the reload experiment's raw figures say: percentiles of the reload
//! times, the frames lost, and the delivered rate per timeline bucket with
//! and without reloads. Pure, and nothing here panics on any input: a
//! figure with nothing to compute it from is NaN, which the report shows as
//! missing.

use crate::numbers::{finite, pps};
use crate::results::{ReloadPhase, ReloadRun};

/// The `p`th percentile (0 to 100) of the finite `values`, interpolated
/// between the two closest ranks (so the 99th of 50 values lies between the
/// two largest); NaN when there are none.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|value| value.is_finite()).collect();
    if sorted.is_empty() || !p.is_finite() {
        return f64::NAN;
    }
    sorted.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 100.0) / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

/// The delivered rate over a set of timeline buckets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BucketSummary {
    /// The buckets the figures are over: those where the generator sent at
    /// least half the rate asked for.
    pub buckets: usize,
    /// The buckets left out, where the generator sent less than that: it
    /// pauses for tens of milliseconds between two of its test-run calls,
    /// once a second, which says nothing of the device; on a loaded machine
    /// it also slows down itself (it shares the cores with the device).
    pub left_out: usize,
    /// Frames per second that came back: on average, at the 1st
    /// percentile of the buckets, and in the lowest bucket.
    pub mean_pps: f64,
    pub p1_pps: f64,
    pub min_pps: f64,
    /// The lowest share of a bucket's sent frames that came back in it.
    pub lowest_share: f64,
}

impl ReloadRun {
    /// `two-tier at 200.0 kpps`: the tier and the rate asked for.
    pub fn label(&self) -> String {
        format!("{} at {}", self.tier.label(), pps(self.target_pps))
    }

    /// `reload-two-tier-200kpps.svg`.
    pub fn plot_file(&self) -> String {
        // A rate that could not make a short name (not a number, or absurd)
        // is not part of it.
        let rate = finite(self.target_pps)
            .filter(|rate| (0.0..1e12).contains(rate))
            .map_or_else(|| "other".to_string(), |rate| format!("{:.0}kpps", rate / 1e3));
        format!("reload-{}-{rate}.svg", self.tier.slug())
    }

    /// Each reload's switch time as the runtime reported it, in ms.
    pub fn switch_ms(&self) -> Vec<f64> {
        self.reloads.iter().map(|reload| reload.switch_ns as f64 / 1e6).collect()
    }

    /// Each `galette reload`'s wall time, spawned to exited, in ms.
    pub fn command_ms(&self) -> Vec<f64> {
        self.reloads.iter().map(|reload| reload.ended_ns.saturating_sub(reload.started_ns) as f64 / 1e6).collect()
    }

    pub fn bucket_seconds(&self) -> f64 {
        self.bucket_ns as f64 / 1e9
    }

    /// The buckets of the phase without reloads in which the generator sent
    /// from start to end.
    pub fn steady_buckets(&self) -> BucketSummary {
        let buckets: Vec<usize> = sending_buckets(&self.steady).collect();
        self.summary(&self.steady, &buckets)
    }

    /// The buckets of the reload phase that overlap a `galette reload`
    /// command, from its start to its exit.
    pub fn reload_buckets(&self) -> BucketSummary {
        let width = self.bucket_ns;
        let during = |bucket: usize| {
            let (start, end) = ((bucket as u64).saturating_mul(width), (bucket as u64 + 1).saturating_mul(width));
            self.reloads.iter().any(|reload| reload.started_ns < end && reload.ended_ns >= start)
        };
        let buckets: Vec<usize> = sending_buckets(&self.reloading).filter(|&bucket| during(bucket)).collect();
        self.summary(&self.reloading, &buckets)
    }

    fn summary(&self, phase: &ReloadPhase, buckets: &[usize]) -> BucketSummary {
        let seconds = self.bucket_seconds();
        let at = |counts: &[u64], bucket: usize| counts.get(bucket).copied().unwrap_or(0) as f64;
        // A rate that is not a number leaves every bucket in.
        let half = self.target_pps * seconds / 2.0;
        let full: Vec<usize> = buckets
            .iter()
            .copied()
            .filter(|&bucket| half.is_nan() || at(&phase.sent_per_bucket, bucket) >= half)
            .collect();
        let rates: Vec<f64> = full.iter().map(|&bucket| at(&phase.received_per_bucket, bucket) / seconds).collect();
        let lowest_share = full
            .iter()
            .map(|&bucket| at(&phase.received_per_bucket, bucket) / at(&phase.sent_per_bucket, bucket))
            .filter(|share| share.is_finite())
            .fold(f64::NAN, f64::min);
        let mean_pps = if rates.is_empty() { f64::NAN } else { rates.iter().sum::<f64>() / rates.len() as f64 };
        BucketSummary {
            buckets: full.len(),
            left_out: buckets.len() - full.len(),
            mean_pps,
            p1_pps: percentile(&rates, 1.0),
            min_pps: rates.iter().copied().fold(f64::NAN, f64::min),
            lowest_share,
        }
    }
}

impl ReloadPhase {
    /// Frames sent that did not come back (negative: more came back than
    /// were sent, copies).
    pub fn lost(&self) -> i64 {
        let difference = i128::from(self.sent) - i128::from(self.received);
        difference.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Frames that came back with none of the `marks`: they ran in neither
    /// chain alone.
    pub fn unmarked(&self, marks: &[u8]) -> u64 {
        self.by_ttl.iter().filter(|count| !marks.contains(&count.ttl)).map(|count| count.frames).sum()
    }
}

/// The buckets between the first and the last one the generator sent in,
/// both left out: the generator starts and stops inside them.
fn sending_buckets(phase: &ReloadPhase) -> impl Iterator<Item = usize> {
    let sent = &phase.sent_per_bucket;
    let first = sent.iter().position(|&frames| frames > 0);
    let last = sent.iter().rposition(|&frames| frames > 0);
    match (first, last) {
        (Some(first), Some(last)) if last > first + 1 => first + 1..last,
        _ => 0..0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{ReloadTier, ReloadTiming, TtlCount};

    #[test]
    fn percentiles_interpolate_between_ranks() {
        let values: Vec<f64> = (1..=50).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), 25.5);
        assert!((percentile(&values, 99.0) - 49.51).abs() < 1e-9);
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 100.0), 50.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert!(percentile(&[], 50.0).is_nan());
        assert_eq!(percentile(&[f64::NAN, 2.0], 50.0), 2.0, "values that are not finite are left out");
    }

    fn phase(sent: &[u64], received: &[u64]) -> ReloadPhase {
        ReloadPhase {
            sent: sent.iter().sum(),
            received: received.iter().sum(),
            sending_ns: 0,
            sent_per_bucket: sent.to_vec(),
            received_per_bucket: received.to_vec(),
            by_ttl: vec![TtlCount { ttl: 63, frames: 5 }, TtlCount { ttl: 61, frames: 2 }],
        }
    }

    /// 1000 pps in buckets of 10 ms: 10 frames a bucket.
    fn run(steady: ReloadPhase, reloading: ReloadPhase, reloads: Vec<ReloadTiming>) -> ReloadRun {
        ReloadRun {
            tier: ReloadTier::Xdp,
            chains: vec!["a.gal".into(), "b.gal".into()],
            marks: vec![63, 62],
            frame_bytes: 64,
            target_pps: 1000.0,
            bucket_ns: 10_000_000,
            steady,
            reloading,
            reloads,
        }
    }

    #[test]
    fn buckets_where_the_generator_started_or_stopped_are_left_out() {
        let steady = phase(&[0, 4, 10, 10, 2, 10, 7, 0], &[0, 4, 10, 9, 2, 10, 7, 1]);
        let summary = run(steady, ReloadPhase::default(), vec![]).steady_buckets();
        assert_eq!((summary.buckets, summary.left_out), (3, 1), "buckets 2 to 5, the generator sent little in 4");
        assert_eq!(summary.min_pps, 900.0);
        assert!((summary.mean_pps - 2900.0 / 3.0).abs() < 1e-6, "{}", summary.mean_pps);
        assert_eq!(summary.lowest_share, 0.9);
    }

    #[test]
    fn reload_buckets_are_those_a_command_overlaps() {
        let reloading = phase(&[5, 10, 10, 10, 10, 10, 3], &[5, 10, 6, 10, 10, 8, 3]);
        let reloads = vec![
            ReloadTiming { started_ns: 21_000_000, ended_ns: 29_000_000, switch_ns: 3_000_000 },
            ReloadTiming { started_ns: 45_000_000, ended_ns: 52_000_000, switch_ns: 5_000_000 },
        ];
        let run = run(ReloadPhase::default(), reloading, reloads);
        let summary = run.reload_buckets();
        assert_eq!((summary.buckets, summary.left_out), (3, 0), "buckets 2, 4 and 5");
        assert_eq!(summary.min_pps, 600.0);
        assert_eq!(summary.lowest_share, 0.6);
        assert_eq!(run.switch_ms(), [3.0, 5.0]);
        assert_eq!(run.command_ms(), [8.0, 7.0]);
    }

    #[test]
    fn no_buckets_no_figures_and_no_panic() {
        let empty = run(ReloadPhase::default(), ReloadPhase::default(), vec![]);
        for summary in [empty.steady_buckets(), empty.reload_buckets()] {
            assert_eq!(summary.buckets, 0);
            assert!(summary.mean_pps.is_nan() && summary.p1_pps.is_nan() && summary.min_pps.is_nan());
            assert!(summary.lowest_share.is_nan());
        }
        let zero_width =
            ReloadRun { bucket_ns: 0, ..run(phase(&[1, 1, 1], &[1, 1, 1]), ReloadPhase::default(), vec![]) };
        assert!(zero_width.steady_buckets().mean_pps.is_infinite(), "shown as missing, not a panic");
    }

    #[test]
    fn lost_and_unmarked_frames_are_counted() {
        let phase = phase(&[10, 10], &[10, 7]);
        assert_eq!(phase.lost(), 3);
        assert_eq!(phase.unmarked(&[63, 62]), 2);
        assert_eq!(ReloadPhase { sent: 1, received: 3, ..ReloadPhase::default() }.lost(), -2);
    }
}
