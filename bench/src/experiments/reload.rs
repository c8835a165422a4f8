//! Live reload under traffic: `galette reload` again and again, alternating
//! between two chains that mark frames differently (one TTL decrement or
//! two per tier), while the generator offers a fixed rate; and the same
//! rate without reloads just before, in the same `galette run`. Measured:
//! each reload's switch time (the runtime's) and command time (the user's),
//! the frames lost, the frames that ran in neither chain alone, and the
//! delivered rate per timeline bucket. Once for a chain wholly in XDP, once
//! for one with a userland tier.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use galette_bench_report::{ReloadPhase, ReloadRun, ReloadTier, ReloadTiming, TtlCount};

use crate::BenchError;
use crate::dut::{GaletteRun, StartedDut};
use crate::experiments::compile_file;
use crate::reload_command::{ReloadBundle, Reloader};
use crate::testbed::Testbed;
use crate::timeline::{self, monotonic_ns};
use crate::traffic::Sent;

/// Reloads per chain: the 50, in quick runs too (a percentile of
/// fewer would say little).
const RELOADS: usize = 50;
const FRAME_BYTES: u32 = 64;
const BUCKET: Duration = Duration::from_millis(10);
/// Traffic before the first reload, so that its buckets have quiet ones
/// before them (and between two, see [`Pace`]).
const LEAD_IN: Duration = Duration::from_millis(300);
/// The longest the phase with reloads may last: the timeline holds 81 s.
const LIMIT: Duration = Duration::from_secs(75);
/// How long frames take to drain after the generator stops.
const DRAIN: Duration = Duration::from_millis(200);
/// The chain's name in every bundle reloaded.
const CHAIN: &str = "marks";
/// What frames are sent with (the benchmark frame's TTL).
const SENT_TTL: u8 = 64;

/// One chain and its twin, reloaded in turn at one offered rate.
struct Variant {
    tier: ReloadTier,
    /// The chain that runs first, then the other; relative to the project.
    chains: [&'static str; 2],
    /// The TTL each leaves on a frame.
    marks: [u8; 2],
    /// Frames per second offered. Each is one that both chains forward
    /// without loss on the test machine when nothing reloads (see
    /// docs/benchmarks.md).
    rate: f64,
}

const XDP_CHAINS: [&str; 2] = ["tests/reload/marks_once.gal", "tests/reload/marks_twice.gal"];
/// One TTL decrement per tier, or two: 62 or 60 (61 would be a frame that
/// ran one tier of each).
const TWO_TIER_CHAINS: [&str; 2] = ["tests/reload/two_tier.gal", "tests/reload/two_tier_twice.gal"];

/// The XDP path forwards far more than the userland one. The two-tier
/// chain runs at two rates: on the two-core test machine, reloads lost
/// frames at the higher one in some runs, never at the lower one.
const VARIANTS: [Variant; 3] = [
    Variant { tier: ReloadTier::Xdp, chains: XDP_CHAINS, marks: [SENT_TTL - 1, SENT_TTL - 2], rate: 500e3 },
    Variant { tier: ReloadTier::TwoTier, chains: TWO_TIER_CHAINS, marks: [SENT_TTL - 2, SENT_TTL - 4], rate: 100e3 },
    Variant { tier: ReloadTier::TwoTier, chains: TWO_TIER_CHAINS, marks: [SENT_TTL - 2, SENT_TTL - 4], rate: 200e3 },
];

/// How long the phases last and how far apart the reloads are.
#[derive(Debug, Clone, Copy)]
struct Pace {
    steady: Duration,
    between: Duration,
}

pub fn run(testbed: &mut Testbed, project_root: &Path, quick: bool) -> Result<Vec<ReloadRun>, BenchError> {
    let pace = if quick {
        Pace { steady: Duration::from_secs(1), between: Duration::from_millis(20) }
    } else {
        Pace { steady: Duration::from_secs(5), between: Duration::from_millis(100) }
    };
    // Every chain's allow list lets the testbed's addresses through.
    let rules = testbed.work_dir.join("reload-acl_v4.txt");
    std::fs::write(&rules, "198.18.0.0/15 1\n")
        .map_err(|err| BenchError::Setup(format!("cannot write {}: {err}", rules.display())))?;
    let mut runs = Vec::new();
    for variant in &VARIANTS {
        let run = run_variant(testbed, project_root, variant, &rules, pace)?;
        print_summary(&run);
        runs.push(run);
    }
    Ok(runs)
}

fn run_variant(
    testbed: &mut Testbed,
    project_root: &Path,
    variant: &Variant,
    rules: &Path,
    pace: Pace,
) -> Result<ReloadRun, BenchError> {
    let slug = format!("{}-{:.0}k", variant.tier.slug(), variant.rate / 1e3);
    let mut bundles = Vec::new();
    for (index, chain) in variant.chains.iter().enumerate() {
        let bundle =
            compile_file(&project_root.join(chain), &testbed.work_dir.join(format!("reload-{slug}-{index}.bundle")))?;
        bundles.push(ReloadBundle::open(&bundle)?);
    }
    let log = testbed.work_dir.join(format!("reload-{slug}.log"));
    let side = testbed.dut.clone();
    let started = StartedDut::galette(
        &side,
        &GaletteRun {
            galette: &testbed.galette,
            bundle: &bundles[0].path,
            workers: 1,
            poll: false,
            loads: vec![format!("acl_v4={}", rules.display())],
            log,
            run_dir: testbed.control_dir.path(),
        },
    )?;
    let measured = measure(testbed, variant, &bundles, pace);
    started.stop(&mut testbed.ebpf)?;
    let Phases { steady, reloading, reloads } = measured?;
    Ok(ReloadRun {
        tier: variant.tier,
        chains: variant.chains.iter().map(|chain| chain.to_string()).collect(),
        marks: variant.marks.to_vec(),
        frame_bytes: FRAME_BYTES,
        target_pps: variant.rate,
        bucket_ns: BUCKET.as_nanos() as u64,
        steady,
        reloading,
        reloads,
    })
}

/// What one chain's two phases measured.
struct Phases {
    steady: ReloadPhase,
    reloading: ReloadPhase,
    reloads: Vec<ReloadTiming>,
}

/// Both phases, on the running chain (the first of the two).
fn measure(
    testbed: &mut Testbed,
    variant: &Variant,
    bundles: &[ReloadBundle],
    pace: Pace,
) -> Result<Phases, BenchError> {
    let frame = testbed.frame(FRAME_BYTES);
    testbed.check_stop()?;
    testbed.check_dut_cpus()?;
    testbed.traffic.reset_sink(&mut testbed.ebpf)?;
    let started_ns = timeline::start(&mut testbed.ebpf, BUCKET)?;
    let sent = testbed.traffic.send(&mut testbed.ebpf, &frame, Some(variant.rate), pace.steady, &testbed.stop)?;
    let steady = finish_phase(testbed, sent, started_ns)?;

    testbed.check_stop()?;
    testbed.traffic.reset_sink(&mut testbed.ebpf)?;
    let started_ns = timeline::start(&mut testbed.ebpf, BUCKET)?;
    let reloader = Reloader { galette: &testbed.galette, run_dir: testbed.control_dir.path(), chain: CHAIN };
    // Set when either side is done: the reloads (the generator stops after
    // its current call), or the generator (a reload under way then has no
    // traffic to be measured against).
    let done = AtomicBool::new(false);
    let stop = testbed.stop.clone();
    let (sent, reloads) = std::thread::scope(|scope| {
        let reloading = scope.spawn(|| {
            let stopped = || done.load(Ordering::Acquire) || stop.requested();
            let reloads = reload_all(&reloader, bundles, pace.between, started_ns, stopped);
            done.store(true, Ordering::Release);
            reloads
        });
        let sent = testbed.traffic.send_while(&mut testbed.ebpf, &frame, Some(variant.rate), LIMIT, || {
            !done.load(Ordering::Acquire) && !stop.requested()
        });
        done.store(true, Ordering::Release);
        let reloads = reloading.join().unwrap_or_else(|_| Err(BenchError::Run("the reloading thread panicked".into())));
        (sent, reloads)
    });
    // After Ctrl-C, whatever failed failed because of it; a generator
    // that failed stopped the reloads.
    testbed.check_stop()?;
    let sent = sent?;
    let reloads = reloads?;
    let reloading = finish_phase(testbed, sent, started_ns)?;
    Ok(Phases { steady, reloading, reloads })
}

/// [`RELOADS`] reloads, alternating between the second bundle and the
/// first (so the last leaves the first running), `between` apart, until
/// `stopped` says so. Times are from `started_ns`.
fn reload_all(
    reloader: &Reloader,
    bundles: &[ReloadBundle],
    between: Duration,
    started_ns: u64,
    stopped: impl Fn() -> bool,
) -> Result<Vec<ReloadTiming>, BenchError> {
    std::thread::sleep(LEAD_IN);
    let mut timings = Vec::with_capacity(RELOADS);
    for round in 0..RELOADS {
        if stopped() {
            return Err(BenchError::Run(format!(
                "the generator stopped after {round} of {RELOADS} reloads (they may not take more than {} s)",
                LIMIT.as_secs()
            )));
        }
        if round > 0 {
            std::thread::sleep(between);
        }
        let bundle = &bundles[(round + 1) % bundles.len()];
        let timed = reloader.reload(bundle)?;
        timings.push(ReloadTiming {
            started_ns: timed.started_ns.saturating_sub(started_ns),
            ended_ns: timed.ended_ns.saturating_sub(started_ns),
            switch_ns: timed.switch_ns,
        });
    }
    Ok(timings)
}

/// Waits for the last frames, stops the timeline and reads the phase.
fn finish_phase(testbed: &mut Testbed, sent: Sent, started_ns: u64) -> Result<ReloadPhase, BenchError> {
    std::thread::sleep(DRAIN);
    testbed.check_stop()?;
    timeline::stop(&mut testbed.ebpf)?;
    let buckets = monotonic_ns().saturating_sub(started_ns) / BUCKET.as_nanos() as u64 + 1;
    let reading = timeline::read(&testbed.ebpf, u32::try_from(buckets).unwrap_or(u32::MAX))?;
    let received = testbed.traffic.received(&testbed.ebpf)?;
    let by_ttl = (0..=u8::MAX)
        .zip(&reading.by_ttl)
        .filter(|(_, frames)| **frames > 0)
        .map(|(ttl, &frames)| TtlCount { ttl, frames })
        .collect();
    Ok(ReloadPhase {
        sent: sent.frames,
        received: received.frames,
        sending_ns: u64::try_from(sent.elapsed.as_nanos()).unwrap_or(u64::MAX),
        sent_per_bucket: reading.sent,
        received_per_bucket: reading.received,
        by_ttl,
    })
}

fn print_summary(run: &ReloadRun) {
    let (switch, command) = (run.switch_ms(), run.command_ms());
    let p = galette_bench_report::percentile;
    let (steady, reloading) = (run.steady_buckets(), run.reload_buckets());
    println!(
        "  {}: {} reloads, switch p50 {:.1} ms, p99 {:.1} ms; command p50 {:.1} ms, p99 {:.1} ms",
        run.label(),
        run.reloads.len(),
        p(&switch, 50.0),
        p(&switch, 99.0),
        p(&command, 50.0),
        p(&command, 99.0)
    );
    println!(
        "    lost {} without reloads, {} with them; other marks {} and {}; lowest {} ms bucket {:.1} vs {:.1} kpps",
        run.steady.lost(),
        run.reloading.lost(),
        run.steady.unmarked(&run.marks),
        run.reloading.unmarked(&run.marks),
        BUCKET.as_millis(),
        steady.min_pps / 1e3,
        reloading.min_pps / 1e3
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_variant_reloads_two_chains_of_the_project_that_mark_differently() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        for variant in &VARIANTS {
            assert_ne!(variant.marks[0], variant.marks[1]);
            for chain in variant.chains {
                let source = std::fs::read_to_string(root.join(chain)).unwrap();
                assert!(source.contains(&format!("chain {CHAIN}\n")), "{chain} is the chain `{CHAIN}`");
            }
        }
    }
}
