//! The paper's expensive-NF experiment: a share P of the packets needs an NF
//! that costs 100,000 operations; the rest only a macswap. With the NF in
//! XDP, the expensive packets stall everything behind them; upcalled to
//! userland, they wait in their own queue while the rest stays fast.

use galette_bench_report::{ExpensiveClasses, ExpensivePlacement, ExpensivePoint};

use crate::BenchError;
use crate::dut::{GaletteRun, StartedDut};
use crate::experiments::compile;
use crate::frame::TTL;
use crate::testbed::Testbed;

/// Operations of the expensive NF per packet (the paper's figure).
pub const OPERATIONS: u32 = 100_000;
const FRAME_BYTES: u32 = 64;

/// `pick` (std.sampler) sends the share in `share` to `heavy` (std.compute,
/// `work` operations), then on to a macswap; the rest straight to one.
/// `mark` (std.ttl) lowers the TTL of the frames `heavy` saw, so that the
/// sink can tell them from the rest: the sampler picks them at random, so
/// the generator cannot know which they are. Its cost (a header parse, no
/// map) is nothing beside the 100,000 operations before it.
fn chain(placement: ExpensivePlacement) -> String {
    let (name, upcall, heavy_at) = match placement {
        ExpensivePlacement::Xdp => ("expensive_xdp", "", " @xdp"),
        ExpensivePlacement::Userland => ("expensive_userland", "!", ""),
    };
    format!(
        "chain {name}\n\
         map share: array<u32, u32>[1]\n\
         map work: array<u32, u32>[1]\n\
         nf pick = std.sampler {{ config: share }}\n\
         nf heavy = std.compute {{ config: work }}{heavy_at}\n\
         nf swap_fast = std.macswap\n\
         nf swap_after = std.macswap\n\
         rx -> pick\n\
         pick -> {{ sampled: {upcall}heavy, rest: swap_fast }}\n\
         nf mark = std.ttl\n\
         heavy -> mark\n\
         mark -> {{ forward: swap_after, expired: drop, other: drop }}\n\
         swap_fast -> tx\n\
         swap_after -> tx\n"
    )
}

pub fn run(testbed: &mut Testbed, quick: bool) -> Result<Vec<ExpensivePoint>, BenchError> {
    let shares: &[f64] = if quick { &[0.0, 0.01, 0.1, 0.5, 1.0] } else { &[0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0] };
    let workers: &[u32] = if quick { &[1, 2] } else { &[1, 2, 4] };
    // Well under what both variants forward without the expensive NF, so
    // that only the NF makes a difference; and more expensive frames at
    // P = 0.5 than the DUT's one core can compute (about 10,000 per second
    // of 100,000 operations), so that the NF in XDP saturates it.
    let rate = 50e3;
    let work = testbed.work_dir.join("work.txt");
    std::fs::write(&work, format!("0 {OPERATIONS}\n")).map_err(|err| BenchError::Setup(err.to_string()))?;
    // Only the expensive frames pass `mark`, which leaves them one hop less.
    testbed.traffic.set_marked_ttl(&mut testbed.ebpf, Some(TTL - 1))?;
    let points = run_points(testbed, shares, workers, rate, &work);
    // Other experiments' frames are one class; a failure above still turns
    // the classes off, and its error is the one reported.
    let off = testbed.traffic.set_marked_ttl(&mut testbed.ebpf, None);
    let points = points?;
    off?;
    Ok(points)
}

fn run_points(
    testbed: &mut Testbed,
    shares: &[f64],
    workers: &[u32],
    rate: f64,
    work: &std::path::Path,
) -> Result<Vec<ExpensivePoint>, BenchError> {
    let mut points = Vec::new();
    for placement in [ExpensivePlacement::Xdp, ExpensivePlacement::Userland] {
        let name = format!("{placement:?}").to_lowercase();
        let bundle = compile(&testbed.work_dir, &format!("expensive_{name}"), &chain(placement))?;
        let mut runs: Vec<(f64, u32)> = shares.iter().map(|&share| (share, 1)).collect();
        if placement == ExpensivePlacement::Userland {
            runs.extend(workers.iter().filter(|&&n| n > 1).map(|&n| (0.5, n)));
        }
        for (share, workers) in runs {
            let share_file = testbed.work_dir.join("share.txt");
            // std.sampler's share is in parts per 65536.
            std::fs::write(&share_file, format!("0 {}\n", (share * 65536.0).round() as u32))
                .map_err(|err| BenchError::Setup(err.to_string()))?;
            let loads = vec![format!("share={}", share_file.display()), format!("work={}", work.display())];
            let log = testbed.work_dir.join(format!("expensive-{name}-{share}-{workers}.log"));
            let side = testbed.dut.clone();
            let started = StartedDut::galette(
                &side,
                &GaletteRun {
                    galette: &testbed.galette,
                    bundle: &bundle,
                    workers,
                    poll: false,
                    loads,
                    log,
                    run_dir: testbed.control_dir.path(),
                },
            )?;
            // A point of the same traffic first, not kept: a galette just
            // started (its workers' first frames, the first upcalls) is
            // slower than it will be, and the generator's first call offers
            // less than asked, so a first point compares with no other.
            let warm_up = testbed.measure_classes(FRAME_BYTES, Some(rate), started.pid());
            let measured = warm_up.and_then(|_| testbed.measure_classes(FRAME_BYTES, Some(rate), started.pid()));
            started.stop(&mut testbed.ebpf)?;
            let (measured, [normal, expensive]) = measured?;
            println!(
                "  {name:>8}, P = {share:<4}, {workers} worker(s): {:>8.0} pps of {:.0}, p99 {:>9.1} µs; \
                 normal {:>8.0} pps, p99 {:>9.1} µs; expensive {:>8.0} pps, p99 {:>9.1} µs",
                measured.pps,
                measured.offered_pps,
                measured.latency.p99,
                normal.pps,
                normal.latency.p99,
                expensive.pps,
                expensive.latency.p99
            );
            points.push(ExpensivePoint {
                placement,
                workers,
                share,
                operations: OPERATIONS,
                frame_bytes: FRAME_BYTES,
                measured,
                classes: Some(ExpensiveClasses { normal, expensive }),
            });
        }
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chains_differ_only_in_where_the_expensive_nf_runs() {
        assert!(chain(ExpensivePlacement::Xdp).contains("sampled: heavy"));
        assert!(chain(ExpensivePlacement::Userland).contains("sampled: !heavy"));
    }

    #[test]
    fn only_the_expensive_frames_are_marked_for_the_sink() {
        for placement in [ExpensivePlacement::Xdp, ExpensivePlacement::Userland] {
            let chain = chain(placement);
            assert!(chain.contains("heavy -> mark\n") && chain.contains("forward: swap_after"), "{chain}");
            assert!(chain.contains("rest: swap_fast") && chain.contains("swap_fast -> tx"), "{chain}");
        }
        const { assert!(TTL > 1, "a frame `mark` lowers must still be forwarded") };
    }
}
