//! How fast the front end (parse, check, place) handles a large chain: a
//! generated line of 10,000 `std.macswap` instances. A benchmark, not a test:
//! it prints times and asserts nothing about them.
//!
//! Run with `cargo bench -p galettec --bench front_end`.

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use galettec::CompileOptions;
use galettec::compile::check_with;
use galettec::source::{InMemory, Overlay};

const INSTANCES: usize = 10_000;
const RUNS: usize = 7;

/// `rx -> nf0 -> nf1 -> ... -> tx`.
fn linear_chain(instances: usize) -> String {
    let mut chain = String::from("chain generated\n");
    for i in 0..instances {
        writeln!(chain, "nf nf{i} = std.macswap").unwrap();
    }
    writeln!(chain, "rx -> nf0").unwrap();
    for i in 1..instances {
        writeln!(chain, "nf{} -> nf{i}", i - 1).unwrap();
    }
    writeln!(chain, "nf{} -> tx", instances - 1).unwrap();
    chain
}

fn main() {
    let options = CompileOptions::from_env();
    let path = Path::new("/generated/chain.gal");
    let source = linear_chain(INSTANCES);
    let reader = Overlay { memory: InMemory::default().with(path, source.clone()) };

    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let checked = check_with(path, &options, &reader).expect("the chain is readable");
            let elapsed = start.elapsed();
            let placed = checked.chain.as_ref().expect("the generated chain is valid");
            assert_eq!(placed.chain.instances.len(), INSTANCES);
            elapsed
        })
        .collect();
    times.sort();
    let median = times[RUNS / 2];
    println!(
        "front end (parse + check + place), {INSTANCES} instances, {} KiB of source: median {:.1} ms, min {:.1} ms, max {:.1} ms over {RUNS} runs",
        source.len() / 1024,
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[RUNS - 1].as_secs_f64() * 1e3,
    );
}
