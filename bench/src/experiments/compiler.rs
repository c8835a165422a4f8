//! How fast galettec works: checking and placing a generated
//! 10,000-instance chain, recompiling a chain that has not changed (every
//! eBPF and userland build comes from the cache), and what `galettec lsp`
//! does after each edit of every example chain (goal: under 50 ms).

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
    let mut timings = vec![
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
    ];
    timings.extend(lsp_rechecks(project_root, &options, runs)?);
    Ok(timings)
}

/// Per example chain: the language server's work after an edit (check the
/// buffer's text, NF crates read from disk as the server reads them, and
/// the diagnostics turned into LSP's). Each run edits the text, as typing
/// does, so nothing is served from a previous run.
fn lsp_rechecks(project_root: &Path, options: &CompileOptions, runs: usize) -> Result<Vec<CompilerTiming>, BenchError> {
    let examples = project_root.join("examples");
    let mut chains: Vec<_> = std::fs::read_dir(&examples)
        .map_err(|err| BenchError::Run(format!("listing {}: {err}", examples.display())))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "gal"))
        .collect();
    chains.sort();
    let mut timings = Vec::new();
    for chain in chains {
        let text = std::fs::read_to_string(&chain)
            .map_err(|err| BenchError::Run(format!("reading {}: {err}", chain.display())))?;
        let mut edit = 0;
        let recheck = median(runs.max(5), || {
            edit += 1;
            let edited = format!("{text}// edit {edit}\n");
            let diagnostics = galettec::lsp::check_document(&chain, edited, options);
            if diagnostics.is_empty() {
                Ok(())
            } else {
                Err(BenchError::Run(format!("{} has diagnostics: {diagnostics:?}", chain.display())))
            }
        })?;
        let name = chain.strip_prefix(project_root).unwrap_or(&chain).display().to_string();
        println!("  galettec lsp, re-check {name} after an edit: {:.1} ms (goal: under 50 ms)", ms(recheck));
        timings.push(CompilerTiming {
            what: format!("`galettec lsp`: re-check {name} after an edit (goal: under 50 ms)"),
            median_ms: ms(recheck),
            runs: runs.max(5) as u32,
        });
    }
    Ok(timings)
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
