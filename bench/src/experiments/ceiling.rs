//! The generator's own ceiling: frames per second when the device under test
//! drops each frame at once (`bench_drop`). No result above it means
//! anything, so every forwarding result is read against it.
//!
//! It also checks that the testbed keeps the DUT off the generator's CPU:
//! `bench_drop` counts its frames per CPU, which says where the DUT ran; and
//! against a DUT slowed down on purpose (`bench_slow_drop`) the generator
//! must keep its ceiling (within 5 %) while the DUT loses frames.

use aya::Ebpf;
use aya::maps::{PerCpuArray, PerCpuValues};
use aya::util::nr_cpus;
use galette_bench_report::{CoreCheck, GeneratorCeiling, SlowDut};
use galette_bundle::error_chain;

use crate::BenchError;
use crate::dut::StartedDut;
use crate::testbed::{DRAIN, Testbed};

/// Below this share of its frames handled on its own CPUs, the DUT is not
/// separated from the generator and the run stops.
const MIN_SHARE_ON_OWN_CPUS: f64 = 0.99;
/// The generator against the slow DUT may fall this far below its ceiling
/// before the run says that the DUT slowed it down.
const SAME_RATE: f64 = 0.05;

pub fn run(testbed: &mut Testbed, sizes: &[u32]) -> Result<(Vec<GeneratorCeiling>, CoreCheck), BenchError> {
    let mut ceilings = Vec::new();
    let mut frames_per_cpu = Vec::new();
    for &frame_bytes in sizes {
        let point = drop_point(testbed, "bench_drop", frame_bytes)?;
        println!("  generator ceiling, {frame_bytes} B: {:.3} Mpps", point.offered_pps() / 1e6);
        ceilings.push(GeneratorCeiling { frame_bytes, pps: point.offered_pps() });
        add_per_cpu(&mut frames_per_cpu, &point.per_cpu);
    }
    let check = testbed.cpus.check(frames_per_cpu, None);
    let share = check.dut_share_on_own_cpus();
    println!(
        "  generator on CPU {}, DUT on CPU {:?} (NAPI threads {:?}): the DUT handled {:.2} % of its frames there",
        testbed.cpus.generator,
        testbed.cpus.dut,
        testbed.cpus.napi_threads,
        share * 100.0
    );
    // NaN (no frame handled) fails too.
    if share.is_nan() || share < MIN_SHARE_ON_OWN_CPUS {
        return Err(BenchError::Setup(format!(
            "the device under test handled only {:.2} % of its frames on its own CPUs {:?} (frames per CPU: {:?}): \
             the testbed does not keep it off the generator's CPU",
            share * 100.0,
            testbed.cpus.dut,
            check.dut_frames_per_cpu
        )));
    }
    let slow = slow_dut(testbed, &ceilings)?;
    Ok((ceilings, CoreCheck { slow_dut: slow, ..check }))
}

/// The generator at full speed against a DUT that spends about a
/// microsecond on each frame, at the smallest size: with the DUT on its own
/// CPU, the generator keeps its ceiling and the DUT loses frames.
fn slow_dut(testbed: &mut Testbed, ceilings: &[GeneratorCeiling]) -> Result<Option<SlowDut>, BenchError> {
    let Some(ceiling) = ceilings.iter().min_by_key(|ceiling| ceiling.frame_bytes) else { return Ok(None) };
    let point = drop_point(testbed, "bench_slow_drop", ceiling.frame_bytes)?;
    let slow = SlowDut {
        frame_bytes: ceiling.frame_bytes,
        offered_pps: point.offered_pps(),
        handled_pps: point.handled_pps(),
        ceiling_pps: ceiling.pps,
    };
    let kept = slow.offered_pps / slow.ceiling_pps;
    println!(
        "  slow DUT, {} B: offered {:.3} Mpps ({kept:.2}× the ceiling), handled {:.3} Mpps, lost {:.1} %",
        slow.frame_bytes,
        slow.offered_pps / 1e6,
        slow.handled_pps / 1e6,
        (1.0 - slow.handled_pps / slow.offered_pps) * 100.0
    );
    if kept < 1.0 - SAME_RATE {
        println!(
            "  warning: the slow DUT held the generator {:.0} % below its ceiling; ratios of points offered \
             different rates are not printed as results",
            (1.0 - kept) * 100.0
        );
    }
    Ok(Some(slow))
}

/// One point at full speed against program `name` of the benchmark's
/// object on the DUT.
fn drop_point(testbed: &mut Testbed, name: &'static str, frame_bytes: u32) -> Result<DropPoint, BenchError> {
    let dut = StartedDut::program(&mut testbed.ebpf, &testbed.dut.clone(), name)?;
    let measured = send_to_drop(testbed, frame_bytes);
    let stopped = dut.stop(&mut testbed.ebpf);
    let measured = measured?;
    stopped?;
    Ok(measured)
}

/// [`drop_point`]'s measurement, on the program it attached. The sink sees
/// nothing here: what the generator sent and the program counted are the
/// figures.
fn send_to_drop(testbed: &mut Testbed, frame_bytes: u32) -> Result<DropPoint, BenchError> {
    testbed.check_stop()?;
    reset_dropped(&mut testbed.ebpf)?;
    let frame = testbed.frame(frame_bytes);
    let sent = testbed.traffic.send(&mut testbed.ebpf, &frame, None, testbed.point, &testbed.stop)?;
    std::thread::sleep(DRAIN);
    testbed.check_stop()?;
    Ok(DropPoint {
        seconds: sent.elapsed.as_secs_f64().max(1e-9),
        sent: sent.frames,
        per_cpu: dropped_per_cpu(&testbed.ebpf)?,
    })
}

/// What a point against a dropping DUT measured.
struct DropPoint {
    /// How long the generator sent, and how many frames.
    seconds: f64,
    sent: u64,
    /// The frames the DUT handled on each CPU (index: CPU).
    per_cpu: Vec<u64>,
}

impl DropPoint {
    fn offered_pps(&self) -> f64 {
        self.sent as f64 / self.seconds
    }

    fn handled_pps(&self) -> f64 {
        self.per_cpu.iter().sum::<u64>() as f64 / self.seconds
    }
}

fn add_per_cpu(total: &mut Vec<u64>, more: &[u64]) {
    if total.len() < more.len() {
        total.resize(more.len(), 0);
    }
    for (sum, frames) in total.iter_mut().zip(more) {
        *sum += frames;
    }
}

/// Zeroes `DROPPED` on every CPU.
fn reset_dropped(ebpf: &mut Ebpf) -> Result<(), BenchError> {
    let cpus = nr_cpus().map_err(|(_, err)| setup(err))?;
    let mut map: PerCpuArray<_, u64> = PerCpuArray::try_from(dropped_map(ebpf.map_mut("DROPPED"))?).map_err(setup)?;
    map.set(0, PerCpuValues::try_from(vec![0u64; cpus]).map_err(setup)?, 0).map_err(setup)
}

/// The frames `bench_drop` or `bench_slow_drop` handled on each CPU since
/// [`reset_dropped`].
fn dropped_per_cpu(ebpf: &Ebpf) -> Result<Vec<u64>, BenchError> {
    let map: PerCpuArray<_, u64> = PerCpuArray::try_from(dropped_map(ebpf.map("DROPPED"))?).map_err(setup)?;
    Ok(map.get(&0, 0).map_err(setup)?.iter().copied().collect())
}

fn dropped_map<T>(map: Option<T>) -> Result<T, BenchError> {
    map.ok_or_else(|| BenchError::Setup("the benchmark's eBPF object has no `DROPPED`".into()))
}

fn setup(err: impl std::error::Error) -> BenchError {
    BenchError::Setup(error_chain(&err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_per_cpu_add_up_whatever_their_lengths() {
        let mut total = vec![1, 2];
        add_per_cpu(&mut total, &[10, 20, 30]);
        add_per_cpu(&mut total, &[100]);
        assert_eq!(total, [111, 22, 30]);
    }
}
