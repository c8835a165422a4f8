//! The DUT's CPU time per forwarded packet, where the generator's ceiling
//! cannot hide it: galette-xdp and aya-xdp each offered the same fixed rate
//! (below the generator's ceiling, so that both forward every frame), with
//! the kernel counting each eBPF program's run time, and the machine's
//! softirq time and the DUT's NAPI threads' run time (where its XDP program
//! runs) read around the point. Run by the forwarding experiment,
//! on the DUT it has started, after its forwarding points.

use std::collections::BTreeSet;
use std::time::Duration;

use aya::programs::Xdp;
use galette_bench_report::{Dut, DutCost, GeneratorCeiling};
use galette_bundle::error_chain;
use galette_testbed::thread_run_ns;

use crate::BenchError;
use crate::bpf_stats::{self, StatsEnabled};
use crate::cpu::CpuReading;
use crate::dut::StartedDut;
use crate::testbed::Testbed;

/// Minimum-size frames: the most packets per byte, so per-packet work shows
/// most.
pub const FRAME_BYTES: u32 = 64;
/// The offered rate, frames per second, unless the generator's ceiling is
/// below twice that. Both XDP devices forwarded 500 kpps of 64-byte frames
/// without loss in earlier runs, while they still shared the generator's
/// core; on a core of their own (see `testbed`) they have room to spare.
const RATE: f64 = 500e3;
/// How many forwarding points' time the cost point lasts, and at least how
/// long: softirq time comes in ticks of 10 ms, so a longer point measures it
/// finer; and the generator pauses for tens of ms between two of its
/// test-run calls, which in a 2 s point pulled one device's offered rate 6 %
/// below the other's (469 vs 497 kpps), too far apart to compare.
const POINTS: u32 = 4;
const MIN_DURATION: Duration = Duration::from_secs(5);
/// Frames still in flight when the generator stops are counted by the sink
/// after this.
const DRAIN: Duration = Duration::from_millis(200);

/// Whether the cost of `dut` is measured: the XDP devices, Galette's and the
/// hand-written one.
pub fn measures(dut: &Dut) -> bool {
    matches!(dut, Dut::GaletteXdp | Dut::AyaXdp)
}

/// The rate every device is offered: [`RATE`], or half the generator's
/// ceiling at [`FRAME_BYTES`] when that is lower.
pub fn rate(ceilings: &[GeneratorCeiling]) -> f64 {
    let ceiling = ceilings.iter().find(|ceiling| ceiling.frame_bytes == FRAME_BYTES).map(|ceiling| ceiling.pps);
    match ceiling {
        Some(ceiling) if ceiling.is_finite() && ceiling > 0.0 => RATE.min(ceiling / 2.0),
        _ => RATE,
    }
}

/// One cost point of the started `dut` at `rate`.
pub fn measure(testbed: &mut Testbed, dut: &Dut, started: &StartedDut, rate: f64) -> Result<DutCost, BenchError> {
    testbed.check_stop()?;
    testbed.check_dut_cpus()?;
    let ids = program_ids(testbed, started)?;
    let frame = testbed.frame(FRAME_BYTES);
    let duration = (testbed.point * POINTS).max(MIN_DURATION);
    testbed.traffic.reset_sink(&mut testbed.ebpf)?;
    // Dropped on every return below, which turns the statistics off again.
    let stats = StatsEnabled::new()?;
    let programs_before = bpf_stats::snapshot(&ids)?;
    let napi_before = napi_run_ns(testbed)?;
    let cpu_before = CpuReading::now(&[]);
    let sent = testbed.traffic.send(&mut testbed.ebpf, &frame, Some(rate), duration, &testbed.stop)?;
    let cpu_after = CpuReading::now(&[]);
    let napi_after = napi_run_ns(testbed)?;
    let programs_after = bpf_stats::snapshot(&ids)?;
    drop(stats);
    std::thread::sleep(DRAIN);
    testbed.check_stop()?;
    let received = testbed.traffic.received(&testbed.ebpf)?;
    Ok(DutCost {
        dut: dut.clone(),
        frame_bytes: FRAME_BYTES,
        target_pps: rate,
        sent: sent.frames,
        received: received.frames,
        sending_ns: u64::try_from(sent.elapsed.as_nanos()).unwrap_or(u64::MAX),
        programs: bpf_stats::between(&programs_before, &programs_after),
        softirq_ns: cpu_before.softirq_ns_until(&cpu_after),
        napi_thread_ns: napi_after.saturating_sub(napi_before),
    })
}

/// How long the DUT veth's NAPI threads have run, in nanoseconds.
fn napi_run_ns(testbed: &Testbed) -> Result<u64, BenchError> {
    let mut total = 0;
    for &thread in &testbed.cpus.napi_threads {
        total += thread_run_ns(thread)
            .map_err(|err| BenchError::Run(format!("cannot read the run time of NAPI thread {thread}: {err}")))?;
    }
    Ok(total)
}

/// The DUT's eBPF programs: the benchmark's own, or every one the DUT's
/// process holds.
fn program_ids(testbed: &Testbed, started: &StartedDut) -> Result<BTreeSet<u32>, BenchError> {
    if let Some(name) = started.own_program() {
        let program: &Xdp = testbed
            .ebpf
            .program(name)
            .ok_or_else(|| BenchError::Setup(format!("the benchmark's eBPF object has no `{name}`")))?
            .try_into()
            .map_err(|err| BenchError::Setup(error_chain(&err)))?;
        let info = program
            .info()
            .map_err(|err| BenchError::Run(format!("cannot read {name}'s program info: {}", error_chain(&err))))?;
        return Ok(BTreeSet::from([info.id()]));
    }
    match started.pid() {
        Some(pid) => bpf_stats::programs_of_process(pid),
        None => Err(BenchError::Run("the device under test has neither a program nor a process".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_stays_at_half_a_low_ceiling() {
        assert_eq!(rate(&[]), RATE);
        assert_eq!(rate(&[GeneratorCeiling { frame_bytes: 64, pps: 2.4e6 }]), RATE);
        assert_eq!(rate(&[GeneratorCeiling { frame_bytes: 64, pps: 600e3 }]), 300e3);
        assert_eq!(rate(&[GeneratorCeiling { frame_bytes: 1518, pps: 600e3 }]), RATE);
        assert_eq!(rate(&[GeneratorCeiling { frame_bytes: 64, pps: f64::NAN }]), RATE);
    }
}
