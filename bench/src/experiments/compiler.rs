//! How fast galettec works: checking and placing a generated
//! 10,000-instance chain, and recompiling a chain that has not changed
//! (every eBPF and userland build comes from the cache).

use std::path::Path;
use std::time::{Duration, Instant};

use galette_bench_report::CompilerTiming;
use galettec::CompileOptions;
use galettec::compile::check_with;
use galettec::source::{InMemory, Overlay};

use crate::BenchError;
use crate::experiments::compile_file;

const INSTANCES: usize = 10_000;

/// `rx -> nf0 -> nf1 -> ... -> tx`.
fn linear_chain(instances: usize) -> String {
    let mut chain = String::from("chain generated\n");
    for i in 0..instances {
        chain.push_str(&format!("nf nf{i} = std.macswap\n"));
    }
    chain.push_str("rx -> nf0\n");
    for i in 1..instances {
        chain.push_str(&format!("nf{} -> nf{i}\n", i - 1));
    }
    chain.push_str(&format!("nf{} -> tx\n", instances - 1));
    chain
}

pub fn run(project_root: &Path, work_dir: &Path, quick: bool) -> Result<Vec<CompilerTiming>, BenchError> {
    let runs = if quick { 3 } else { 7 };
    let options = CompileOptions::from_env();
    let path = Path::new("/generated/chain.gal");
    let reader = Overlay { memory: InMemory::default().with(path, linear_chain(INSTANCES)) };
    let check = median(runs, || {
        let checked = check_with(path, &options, &reader)
            .map_err(|err| BenchError::Run(format!("checking the generated chain: {err}")))?;
        if checked.chain.is_none() {
            return Err(BenchError::Run("the generated chain does not check".into()));
        }
        Ok(())
    })?;
    println!("  check and place {INSTANCES} instances: {:.1} ms", ms(check));

    let chain = project_root.join("examples/security.gal");
    let bundle = work_dir.join("recompiled.bundle");
    compile_file(&chain, &bundle)?; // Warms the cache.
    let recompile = median(runs, || compile_file(&chain, &bundle).map(|_| ()))?;
    println!("  recompile examples/security.gal unchanged: {:.1} ms", ms(recompile));
    Ok(vec![
        CompilerTiming {
            what: format!("check and place a {INSTANCES}-instance chain"),
            median_ms: ms(check),
            runs: runs as u32,
        },
        CompilerTiming {
            what: "recompile examples/security.gal, unchanged (build cache hits)".into(),
            median_ms: ms(recompile),
            runs: runs as u32,
        },
    ])
}

fn median(runs: usize, mut work: impl FnMut() -> Result<(), BenchError>) -> Result<Duration, BenchError> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        work()?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[times.len() / 2])
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
