//! `galette-bench`: Galette's evaluation, reproducible on a veth testbed,
//! every figure measured side by side in one run. `cargo xtask bench
//! [--quick]` builds it in release mode and runs it; see docs/benchmarks.md.

mod af_packet;
mod bpf_stats;
mod control_dir;
mod cpu;
mod dut;
mod ebpf;
mod experiments;
mod frame;
mod histogram;
mod machine;
mod reload_command;
mod testbed;
mod timeline;
mod traffic;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use galette::shutdown::ShutdownFlag;
use galette_bench_report::Results;

use testbed::Testbed;

/// Measure Galette against its baselines on a namespace testbed.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Fewer sizes, rates and repetitions: a few minutes instead of half an
    /// hour.
    #[arg(long)]
    quick: bool,
    /// Where the results go (a new timestamped directory under it).
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,
    /// Also copy the report into docs/benchmarks/ (for docs/benchmarks.md).
    #[arg(long)]
    publish: bool,
    /// Run only these experiments (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Experiment>,
}

#[derive(Subcommand)]
enum Command {
    /// (Internal) the AF_PACKET baseline forwarder, run in the DUT's
    /// namespace by the benchmark itself.
    #[command(hide = true)]
    AfPacketForward { interface: String },
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Experiment {
    Forwarding,
    Expensive,
    ChainCost,
    Compiler,
    Reload,
    /// One publish to 200 `galette agent`s (50 with --quick).
    Fleet,
    /// The stateful firewall against a Linux bridge with nftables, and its
    /// NFs' cost per packet.
    Conntrack,
}

/// Why a run stopped.
#[derive(Debug)]
pub enum BenchError {
    /// The testbed or a device under test could not be set up.
    Setup(String),
    /// A measurement failed.
    Run(String),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BenchError::Setup(reason) => write!(f, "setting up: {reason}"),
            BenchError::Run(reason) => write!(f, "measuring: {reason}"),
            BenchError::Interrupted => write!(f, "interrupted; the testbed has been removed"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::AfPacketForward { interface }) = &cli.command {
        return match af_packet::forward(interface) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("af-packet-forward: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let stop = match ShutdownFlag::install() {
        Ok(stop) => stop,
        Err(err) => {
            eprintln!("galette-bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let interrupted = stop.clone();
    match run(&cli, stop) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Whatever failed after Ctrl-C failed because of it.
            let err = if interrupted.requested() { BenchError::Interrupted } else { err };
            eprintln!("galette-bench: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli, stop: ShutdownFlag) -> Result<(), BenchError> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(BenchError::Setup(
            "the benchmark creates network namespaces and loads eBPF: run it as root".into(),
        ));
    }
    let root = project_root();
    let wants = |experiment| cli.only.is_empty() || cli.only.contains(&experiment);
    // Only the experiments that run chains on the wire need the runtime.
    let galette = if [
        Experiment::Forwarding,
        Experiment::Expensive,
        Experiment::Reload,
        Experiment::Fleet,
        Experiment::Conntrack,
    ]
    .into_iter()
    .any(wants)
    {
        sibling_binary("galette")?
    } else {
        PathBuf::new()
    };
    let machine = machine::describe(&root);
    let started = machine::utc_now();
    let run_dir = cli.out.join(started.replace(':', "-"));
    let work_dir = run_dir.join("work");
    std::fs::create_dir_all(&work_dir)
        .map_err(|err| BenchError::Setup(format!("cannot create {}: {err}", work_dir.display())))?;
    machine::remove_stale_namespaces();
    control_dir::remove_stale();
    println!("galette-bench{}: results in {}", if cli.quick { " --quick" } else { "" }, run_dir.display());
    println!(
        "  machine: {} ({} cores, {:.1} GiB), kernel {}",
        machine.cpu, machine.cores, machine.memory_gib, machine.kernel
    );

    let mut results = Results { machine, quick: cli.quick, started, ..Results::default() };
    let object = ebpf::build(&root)?;
    let point = if cli.quick { Duration::from_millis(500) } else { Duration::from_secs(2) };
    let sizes: Vec<u32> = if cli.quick { vec![64, 1518] } else { vec![64, 128, 256, 512, 1024, 1518] };
    {
        let mut testbed = Testbed::create(&object, &work_dir, &galette, stop, point)?;
        if wants(Experiment::Forwarding) || wants(Experiment::Expensive) {
            println!("generator ceiling");
            let (ceilings, cores) = experiments::ceiling::run(&mut testbed, &sizes)?;
            results.generator_ceiling = ceilings;
            results.cores = Some(cores);
        } else {
            results.cores = Some(testbed.cpus.check(Vec::new(), None));
        }
        if wants(Experiment::Forwarding) {
            println!("forwarding");
            (results.forwarding, results.dut_cost) =
                experiments::forwarding::run(&mut testbed, cli.quick, &sizes, &results.generator_ceiling)?;
        }
        if wants(Experiment::Expensive) {
            println!("expensive NF");
            results.expensive = experiments::expensive::run(&mut testbed, cli.quick)?;
        }
        if wants(Experiment::ChainCost) {
            println!("chain cost (BPF_PROG_TEST_RUN)");
            results.chain_cost = experiments::chain_cost::run(&mut testbed, cli.quick)?;
        }
        if wants(Experiment::Reload) {
            println!("live reload");
            results.reload = experiments::reload::run(&mut testbed, &root, cli.quick)?;
        }
        if wants(Experiment::Conntrack) {
            println!("conntrack (TCP through the gateway; BPF_PROG_TEST_RUN)");
            results.conntrack = Some(experiments::conntrack::run(&mut testbed, cli.quick)?);
        }
        // Dropping the testbed deletes its namespaces.
    }
    if wants(Experiment::Compiler) {
        println!("galettec");
        results.compiler = experiments::compiler::run(&root, &work_dir, cli.quick)?;
    }
    if wants(Experiment::Fleet) {
        println!("fleet");
        results.fleet = experiments::fleet::run(&root, &work_dir, &galette, cli.quick)?;
    }

    let written = galette_bench_report::write_report(&results, &run_dir)
        .map_err(|err| BenchError::Run(format!("cannot write the report: {err}")))?;
    println!("ratios against the baselines:");
    for line in galette_bench_report::ratios(&results) {
        println!("  {line}");
    }
    println!("wrote {}", written.iter().map(|path| path.display().to_string()).collect::<Vec<_>>().join(", "));
    if cli.publish {
        let docs = root.join("docs/benchmarks");
        publish(&written, &docs)?;
        println!("published to {}", docs.display());
    }
    Ok(())
}

/// Copies the report's files into `docs` (replacing the previous ones).
fn publish(files: &[PathBuf], docs: &Path) -> Result<(), BenchError> {
    let _ = std::fs::remove_dir_all(docs);
    std::fs::create_dir_all(docs).map_err(|err| BenchError::Run(format!("cannot create {}: {err}", docs.display())))?;
    for file in files {
        let Some(name) = file.file_name() else { continue };
        std::fs::copy(file, docs.join(name))
            .map_err(|err| BenchError::Run(format!("cannot copy {}: {err}", file.display())))?;
    }
    Ok(())
}

/// The source tree this binary was built from.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_owned).unwrap_or_default()
}

/// A binary built next to this one (`cargo build --release -p galette`).
fn sibling_binary(name: &str) -> Result<PathBuf, BenchError> {
    let this = std::env::current_exe().map_err(|err| BenchError::Setup(format!("cannot find this program: {err}")))?;
    let path = this.with_file_name(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(BenchError::Setup(format!("{} is missing: build it first (`cargo xtask bench` does)", path.display())))
    }
}
