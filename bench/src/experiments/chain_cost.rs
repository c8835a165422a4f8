//! The per-packet cost of Galette's chains under BPF_PROG_TEST_RUN: a chain
//! of N `std.counter` instances (fused into one program, with Galette's
//! counters), built both ways galettec can fuse (inlined, and BPF-to-BPF
//! calls), against one hand-written program doing the same N counter
//! updates.

use aya::programs::{TestRun, TestRunOptions, Xdp};
use galette::loader::load_detached;
use galette_bench_report::ChainCost;
use galette_bundle::{Bundle, Placement, error_chain};

use galettec::CompileOptions;
use galettec::codegen::Fusion;

use crate::BenchError;
use crate::experiments::compile_with;
use crate::testbed::Testbed;

/// Chain lengths, each with its hand-written twin `single_N` in
/// `bench/ebpf/lib.rs`.
const LENGTHS: [u32; 5] = [1, 4, 8, 32, 64];
/// Measurements per figure (see [`interleaved_ns_per_packet`]).
pub const TRIES: usize = 20;

/// `rx -> c0 -> c1 -> ... -> tx`, all counting into one map.
fn chain(nfs: u32) -> String {
    let mut text = format!("chain cost_{nfs}\nmap totals: percpu_array<u32, u64>[2]\n");
    for i in 0..nfs {
        text.push_str(&format!("nf c{i} = std.counter {{ totals: totals }}\n"));
    }
    text.push_str("rx -> c0\n");
    for i in 1..nfs {
        text.push_str(&format!("c{} -> c{i}\n", i - 1));
    }
    text.push_str(&format!("c{} -> tx\n", nfs - 1));
    text
}

pub fn run(testbed: &mut Testbed, quick: bool) -> Result<Vec<ChainCost>, BenchError> {
    let repeat = if quick { 100_000 } else { 1_000_000 };
    let frame = testbed.frame(64);
    let mut costs = Vec::new();
    for nfs in LENGTHS {
        testbed.check_stop()?;
        let inlined = load_chain(testbed, nfs, Fusion::Inline)?;
        // BPF-to-BPF calls nest one frame per NF, and the kernel allows 8
        // frames and no tail call from a subprogram without BTF: a long
        // chain does not verify that way (galettec then splits it, which
        // measures something else). Measured where it fits.
        let calls = match load_chain(testbed, nfs, Fusion::Calls) {
            Ok(calls) => Some(calls),
            Err(BenchError::Setup(why)) => {
                println!("  {nfs:>2} NFs as BPF-to-BPF calls: not measured ({why})");
                None
            }
            Err(other) => return Err(other),
        };
        let name = format!("single_{nfs}");
        {
            let program: &mut Xdp = testbed
                .ebpf
                .program_mut(&name)
                .ok_or_else(|| BenchError::Setup(format!("no program {name}")))?
                .try_into()
                .map_err(|err| BenchError::Setup(error_chain(&err)))?;
            if program.fd().is_err() {
                program.load().map_err(|err| BenchError::Setup(error_chain(&err)))?;
            }
        }
        let mut programs = vec![(&inlined.0, inlined.1.as_str()), (&testbed.ebpf, name.as_str())];
        if let Some(calls) = &calls {
            programs.push((&calls.0, calls.1.as_str()));
        }
        let medians = interleaved_ns_per_packet(&programs, &frame, repeat)?;
        let (galette_ns, handwritten_ns, calls_ns) = (medians[0], medians[1], medians.get(2).copied());
        let calls = calls_ns.map_or_else(|| "-".to_owned(), |ns| format!("{ns:.2}"));
        println!(
            "  {nfs:>2} NFs: galette {galette_ns:>7.2} ns/pkt (calls {calls:>7}), hand-written {handwritten_ns:>7.2} ns/pkt"
        );
        costs.push(ChainCost { nfs, galette_ns, galette_calls_ns: calls_ns, handwritten_ns });
    }
    Ok(costs)
}

/// The chain of `nfs` counters built with `fusion`, loaded as `galette run`
/// loads it: the object and its entry program. Every NF must be in one
/// program in XDP: a chain that left one in userland, or was split, would
/// not measure what it says.
fn load_chain(testbed: &Testbed, nfs: u32, fusion: Fusion) -> Result<(aya::Ebpf, String), BenchError> {
    let options = CompileOptions { fusion, ..CompileOptions::from_env() };
    let name = format!("cost_{nfs}_{fusion:?}").to_lowercase();
    let bundle = compile_with(&testbed.work_dir, &name, &chain(nfs), &options)?;
    let bundle = Bundle::open(&bundle).map_err(|err| BenchError::Setup(err.to_string()))?;
    load_all_in_xdp(&name, &bundle)
}

/// Loads `bundle` (named `name`) as `galette run` would, without attaching
/// it: the object and its entry program. Fails unless every NF is in one
/// program in XDP.
pub fn load_all_in_xdp(name: &str, bundle: &Bundle) -> Result<(aya::Ebpf, String), BenchError> {
    if let Some(userland) = bundle.manifest.instances.iter().find(|i| i.placement != Placement::Xdp) {
        return Err(BenchError::Setup(format!("{name}: `{}` is not in XDP: {}", userland.name, userland.reason)));
    }
    if let Some(split) = bundle.manifest.instances.iter().find(|i| i.program.is_some()) {
        return Err(BenchError::Setup(format!("{name}: the verifier split the chain before `{}`", split.name)));
    }
    load_detached(bundle).map_err(|err| BenchError::Setup(err.to_string()))
}

/// Per program, the mean of the middle half of [`TRIES`] tries of the
/// kernel's time per run, the programs taking turns so that each try of
/// each sees the same machine. The kernel's figure leaves out the time the
/// test run was preempted (so other work on the machine does not count),
/// but it is whole nanoseconds, too coarse for programs that take a few:
/// the mean of many tries, which the noise of the machine spreads over
/// neighbouring whole values, has the finer resolution.
pub fn interleaved_ns_per_packet(
    programs: &[(&aya::Ebpf, &str)],
    frame: &[u8],
    repeat: u32,
) -> Result<Vec<f64>, BenchError> {
    let mut loaded = Vec::new();
    for (ebpf, name) in programs {
        let program: &Xdp = ebpf
            .program(name)
            .ok_or_else(|| BenchError::Setup(format!("no program {name}")))?
            .try_into()
            .map_err(|err| BenchError::Setup(error_chain(&err)))?;
        loaded.push(program);
    }
    let mut times = vec![Vec::with_capacity(TRIES); loaded.len()];
    for _ in 0..TRIES {
        for (program, times) in loaded.iter().zip(&mut times) {
            let options = TestRunOptions { data_in: Some(frame), repeat, ..TestRunOptions::new() };
            let result = program
                .test_run(options)
                .map_err(|err| BenchError::Run(format!("BPF_PROG_TEST_RUN failed: {}", error_chain(&err))))?;
            times.push(result.duration.as_nanos() as f64);
        }
    }
    Ok(times
        .into_iter()
        .map(|mut times| {
            times.sort_by(f64::total_cmp);
            let middle = &times[TRIES / 4..TRIES - TRIES / 4];
            middle.iter().sum::<f64>() / middle.len() as f64
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn chains_are_lines_of_counters() {
        let chain = super::chain(3);
        assert!(chain.contains("nf c2 = std.counter { totals: totals }"));
        assert!(chain.contains("rx -> c0\nc0 -> c1\nc1 -> c2\nc2 -> tx\n"));
    }
}
