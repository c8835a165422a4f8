//! End-to-end forwarding of a macswap reflector: Galette in XDP and in
//! userland (AF_XDP, 1..N workers, IRQ and polling) against a hand-written
//! aya XDP program and an AF_PACKET forwarder, at several frame sizes and
//! offered rates up to saturation; and for the XDP devices, their CPU time
//! per packet at one fixed rate (`dut_cost`).

use galette_bench_report::{Dut, DutCost, ForwardingPoint, GeneratorCeiling};

use crate::BenchError;
use crate::dut::{GaletteRun, StartedDut, forwarding_duts};
use crate::experiments::{compile, dut_cost};
use crate::testbed::Testbed;

/// The reflector, in XDP.
const MACSWAP_XDP: &str = "chain bench_macswap\nnf swap = std.macswap\nrx -> swap\nswap -> tx\n";
/// The same reflector, pinned to userland: every frame goes up to a worker.
const MACSWAP_USERLAND: &str = "chain bench_macswap_user\nnf swap = std.macswap @userland\nrx -> swap\nswap -> tx\n";

/// The offered rates, in frames per second, below the generator's ceiling;
/// then full speed (`None`).
pub fn rates(quick: bool, ceiling: f64) -> Vec<Option<f64>> {
    let ladder: &[f64] = if quick { &[50e3, 250e3, 1e6] } else { &[10e3, 50e3, 100e3, 250e3, 500e3, 1e6, 2e6, 4e6] };
    let mut rates: Vec<Option<f64>> = ladder.iter().copied().filter(|rate| *rate < ceiling * 0.9).map(Some).collect();
    rates.push(None);
    rates
}

pub fn run(
    testbed: &mut Testbed,
    quick: bool,
    sizes: &[u32],
    ceilings: &[GeneratorCeiling],
) -> Result<(Vec<ForwardingPoint>, Vec<DutCost>), BenchError> {
    let xdp_bundle = compile(&testbed.work_dir, "bench_macswap", MACSWAP_XDP)?;
    let userland_bundle = compile(&testbed.work_dir, "bench_macswap_user", MACSWAP_USERLAND)?;
    let mut points = Vec::new();
    let mut costs = Vec::new();
    // One rate for every device, so that their costs per packet compare.
    let cost_rate = dut_cost::rate(ceilings);
    for dut in forwarding_duts(quick) {
        println!("  {}", dut.label());
        let side = testbed.dut.clone();
        let log = testbed.work_dir.join(format!("{}.log", dut.label()));
        let started = match &dut {
            Dut::GaletteXdp | Dut::GaletteAfXdp { .. } => {
                let (bundle, workers, poll) = match dut {
                    Dut::GaletteAfXdp { workers, poll } => (&userland_bundle, workers, poll),
                    _ => (&xdp_bundle, 1, false),
                };
                StartedDut::galette(
                    &side,
                    &GaletteRun {
                        galette: &testbed.galette,
                        bundle,
                        workers,
                        poll,
                        loads: vec![],
                        log,
                        run_dir: testbed.control_dir.path(),
                    },
                )?
            }
            Dut::AyaXdp => StartedDut::program(&mut testbed.ebpf, &side, "bench_macswap")?,
            Dut::AfPacket => StartedDut::af_packet(&mut testbed.ebpf, &side, &log)?,
        };
        let result = measure_all(testbed, &dut, quick, sizes, ceilings, started.pid(), &mut points).and_then(|()| {
            if !dut_cost::measures(&dut) {
                return Ok(());
            }
            let cost = dut_cost::measure(testbed, &dut, &started, cost_rate)?;
            println!(
                "    cost at {} B, offered {:>9.0} pps: {:>9.0} pps, loss {:>5.2} %, eBPF {:.1} ns/pkt, kernel {:.0} ns/pkt ({})",
                cost.frame_bytes,
                cost.offered_pps(),
                cost.delivered_pps(),
                cost.loss() * 100.0,
                cost.xdp_ns_per_packet(),
                cost.kernel_ns_per_packet(),
                cost.programs
                    .iter()
                    .map(|program| format!("{} #{}: {} runs, {} ns", program.name, program.id, program.runs, program.run_ns))
                    .collect::<Vec<_>>()
                    .join("; ")
            );
            costs.push(cost);
            Ok(())
        });
        started.stop(&mut testbed.ebpf)?;
        result?;
    }
    Ok((points, costs))
}

fn measure_all(
    testbed: &mut Testbed,
    dut: &Dut,
    quick: bool,
    sizes: &[u32],
    ceilings: &[GeneratorCeiling],
    pid: Option<u32>,
    points: &mut Vec<ForwardingPoint>,
) -> Result<(), BenchError> {
    for &frame_bytes in sizes {
        let ceiling = ceilings.iter().find(|c| c.frame_bytes == frame_bytes).map_or(f64::INFINITY, |c| c.pps);
        for rate in rates(quick, ceiling) {
            let measured = testbed.measure(frame_bytes, rate, pid)?;
            println!(
                "    {frame_bytes:>4} B, offered {:>9.0} pps: {:>9.0} pps, loss {:>5.1} %, p50 {:>8.1} µs, p99 {:>8.1} µs, cpu {:.2}",
                measured.offered_pps,
                measured.pps,
                measured.loss * 100.0,
                measured.latency.p50,
                measured.latency.p99,
                measured.dut_cpu
            );
            points.push(ForwardingPoint { dut: dut.clone(), frame_bytes, target_pps: rate, measured });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_stay_below_the_ceiling_and_end_at_full_speed() {
        let rates = rates(false, 600e3);
        assert_eq!(rates.last(), Some(&None));
        assert!(rates.iter().flatten().all(|rate| *rate < 540e3), "{rates:?}");
        assert_eq!(super::rates(true, 10e6), vec![Some(50e3), Some(250e3), Some(1e6), None]);
    }
}
