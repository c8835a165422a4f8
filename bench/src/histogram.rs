//! The sink's latency histogram: the inverse of `bucket` in
//! `bench/ebpf/lib.rs`, and percentiles from bucket counts.

use galette_bench_report::Latency;

/// Buckets in the sink's histogram.
pub const BUCKETS: usize = 1152;

/// The range of nanoseconds bucket `index` holds, `[low, high)`.
pub fn bucket_range(index: usize) -> (f64, f64) {
    if index < 32 {
        return (index as f64, index as f64 + 1.0);
    }
    // Bucket (log - 4) * 32 + sub holds (32 + sub) << (log - 5) and up.
    let (log, sub) = (index / 32 + 4, index % 32);
    let width = (1u64 << (log - 5)) as f64;
    let low = (32 + sub) as f64 * width;
    (low, low + width)
}

/// The 1st, 25th, 50th, 75th and 99th percentiles, in microseconds, each the
/// middle of the bucket it falls in.
pub fn percentiles(counts: &[u64]) -> Latency {
    let samples: u64 = counts.iter().sum();
    if samples == 0 {
        return Latency::default();
    }
    let at = |fraction: f64| -> f64 {
        let rank = ((samples as f64) * fraction).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (index, &count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, high) = bucket_range(index);
                return (low + high) / 2.0 / 1000.0;
            }
        }
        f64::NAN
    };
    Latency { p1: at(0.01), p25: at(0.25), p50: at(0.50), p75: at(0.75), p99: at(0.99), samples }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The eBPF side's bucket function, for checking the inverse.
    fn bucket(ns: u64) -> usize {
        if ns < 32 {
            return ns as usize;
        }
        let log = 63 - ns.leading_zeros() as u64;
        let sub = (ns >> (log - 5)) & 31;
        (((log - 4) * 32 + sub) as usize).min(BUCKETS - 1)
    }

    #[test]
    fn every_value_lies_in_its_bucket() {
        for ns in [0u64, 1, 31, 32, 33, 63, 64, 100, 1_000, 12_345, 1_000_000, 987_654_321] {
            let (low, high) = bucket_range(bucket(ns));
            assert!(low <= ns as f64 && (ns as f64) < high, "{ns} not in [{low}, {high})");
            assert!(high - low <= (ns as f64 / 16.0).max(1.0), "bucket of {ns} too wide");
        }
    }

    #[test]
    fn percentiles_follow_the_counts() {
        let mut counts = vec![0u64; BUCKETS];
        counts[bucket(10_000)] = 98;
        counts[bucket(1_000_000)] = 2;
        let latency = percentiles(&counts);
        assert_eq!(latency.samples, 100);
        assert!((latency.p50 - 10.0).abs() < 0.5, "{latency:?}");
        assert!((latency.p99 - 1000.0).abs() < 40.0, "{latency:?}");
        assert_eq!(percentiles(&[0; 4]).samples, 0);
    }
}
