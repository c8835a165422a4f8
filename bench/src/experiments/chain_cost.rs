//! The per-packet cost of Galette's chains under BPF_PROG_TEST_RUN: a chain
//! of N `std.counter` instances (one program each, joined by tail calls,
//! with Galette's counters) against one hand-written program doing the same
//! N counter updates.

use aya::programs::{TestRun, TestRunOptions, Xdp};
use galette::loader::load_detached;
use galette_bench_report::ChainCost;
use galette_bundle::{Bundle, error_chain};

use crate::BenchError;
use crate::experiments::compile;
use crate::testbed::Testbed;

/// Chain lengths, each with its hand-written twin `single_N` in
/// `bench/ebpf/lib.rs`.
const LENGTHS: [u32; 4] = [1, 4, 8, 32];
/// Measurements per figure; the median is kept.
const TRIES: usize = 5;

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
        let bundle = compile(&testbed.work_dir, &format!("cost_{nfs}"), &chain(nfs))?;
        let bundle = Bundle::open(&bundle).map_err(|err| BenchError::Setup(err.to_string()))?;
        let (chain_object, entry) = load_detached(&bundle).map_err(|err| BenchError::Setup(err.to_string()))?;
        let galette_ns = ns_per_packet(&chain_object, &entry, &frame, repeat)?;
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
        let handwritten_ns = ns_per_packet(&testbed.ebpf, &name, &frame, repeat)?;
        println!("  {nfs:>2} NFs: galette {galette_ns:>7.1} ns/pkt, hand-written {handwritten_ns:>7.1} ns/pkt");
        costs.push(ChainCost { nfs, galette_ns, handwritten_ns });
    }
    Ok(costs)
}

/// The median over [`TRIES`] of the kernel's average time per run.
fn ns_per_packet(ebpf: &aya::Ebpf, program: &str, frame: &[u8], repeat: u32) -> Result<f64, BenchError> {
    let program: &Xdp = ebpf
        .program(program)
        .ok_or_else(|| BenchError::Setup(format!("no program {program}")))?
        .try_into()
        .map_err(|err| BenchError::Setup(error_chain(&err)))?;
    let mut times = Vec::new();
    for _ in 0..TRIES {
        let options = TestRunOptions { data_in: Some(frame), repeat, ..TestRunOptions::new() };
        let result = program
            .test_run(options)
            .map_err(|err| BenchError::Run(format!("BPF_PROG_TEST_RUN failed: {}", error_chain(&err))))?;
        times.push(result.duration.as_nanos() as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[TRIES / 2])
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
