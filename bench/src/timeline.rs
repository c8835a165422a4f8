//! The generator's and the sink's timeline (see `bench/ebpf/lib.rs`): how
//! many frames were sent and how many came back in each bucket of time
//! since a start, and with which IPv4 TTL they came back. For experiments
//! that need the rate over time rather than one total.

use std::time::Duration;

use aya::Ebpf;
use aya::maps::{Array, PerCpuArray, PerCpuValues};
use aya::util::nr_cpus;

use crate::BenchError;
use crate::traffic::{missing, setup};

/// Buckets of the timeline, as many as `TIMELINE_BUCKETS` in
/// `bench/ebpf/lib.rs`: frames after the last bucket are not counted there.
pub const BUCKETS: u32 = 8192;
const TIMELINE_MAPS: [&str; 2] = ["GEN_TIMELINE", "SINK_TIMELINE"];

/// What the timeline recorded since it started.
#[derive(Debug, Clone)]
pub struct TimelineReading {
    /// Frames sent in each bucket, by the time they were sent.
    pub sent: Vec<u64>,
    /// Frames that came back in each bucket, by the time they arrived.
    pub received: Vec<u64>,
    /// Frames that came back, by their TTL.
    pub by_ttl: Vec<u64>,
}

/// Now on CLOCK_MONOTONIC, in nanoseconds: `bpf_ktime_get_ns`'s clock, so
/// that times taken here fall into the timeline's buckets.
pub fn monotonic_ns() -> u64 {
    let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec it is given; with a
    // valid clock it cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(now.tv_nsec as u64)
}

/// Zeroes the buckets and the TTL counts, and starts the timeline now, in
/// buckets of `width`. Returns when it started (see [`monotonic_ns`]).
pub fn start(ebpf: &mut Ebpf, width: Duration) -> Result<u64, BenchError> {
    stop(ebpf)?;
    let cpus = nr_cpus().map_err(|(_, err)| setup(err))?;
    for (name, entries) in [(TIMELINE_MAPS[0], BUCKETS), (TIMELINE_MAPS[1], BUCKETS), ("SINK_TTL", 256)] {
        let mut map: PerCpuArray<_, u64> =
            PerCpuArray::try_from(ebpf.map_mut(name).ok_or_else(|| missing(name))?).map_err(setup)?;
        for index in 0..entries {
            map.set(index, PerCpuValues::try_from(vec![0u64; cpus]).map_err(setup)?, 0).map_err(setup)?;
        }
    }
    let width_ns = u64::try_from(width.as_nanos()).unwrap_or(u64::MAX).max(1);
    let started = monotonic_ns();
    let mut config = config(ebpf)?;
    // The width first: the programs only count once the start is set.
    config.set(1, width_ns, 0).map_err(setup)?;
    config.set(0, started, 0).map_err(setup)?;
    Ok(started)
}

/// Stops counting into the timeline (what it holds stays, to be read).
pub fn stop(ebpf: &mut Ebpf) -> Result<(), BenchError> {
    config(ebpf)?.set(0, 0, 0).map_err(setup)
}

/// The first `buckets` buckets (at most [`BUCKETS`]) and the TTL counts.
pub fn read(ebpf: &Ebpf, buckets: u32) -> Result<TimelineReading, BenchError> {
    let sums = |name: &str, entries: u32| -> Result<Vec<u64>, BenchError> {
        let map: PerCpuArray<_, u64> =
            PerCpuArray::try_from(ebpf.map(name).ok_or_else(|| missing(name))?).map_err(setup)?;
        (0..entries).map(|index| Ok(map.get(&index, 0).map_err(setup)?.iter().sum())).collect()
    };
    let buckets = buckets.min(BUCKETS);
    Ok(TimelineReading {
        sent: sums(TIMELINE_MAPS[0], buckets)?,
        received: sums(TIMELINE_MAPS[1], buckets)?,
        by_ttl: sums("SINK_TTL", 256)?,
    })
}

fn config(ebpf: &mut Ebpf) -> Result<Array<&mut aya::maps::MapData, u64>, BenchError> {
    Array::try_from(ebpf.map_mut("TIMELINE").ok_or_else(|| missing("TIMELINE"))?).map_err(setup)
}

#[cfg(test)]
mod tests {
    #[test]
    fn as_many_buckets_as_the_programs_have() {
        let programs = include_str!("../ebpf/lib.rs");
        assert!(programs.contains(&format!("const TIMELINE_BUCKETS: u32 = {};", super::BUCKETS)));
    }

    #[test]
    fn the_monotonic_clock_moves_forward() {
        let (first, second) = (super::monotonic_ns(), super::monotonic_ns());
        assert!(first > 0 && second >= first);
    }
}
