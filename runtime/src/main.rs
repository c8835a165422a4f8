//! The `galette` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use galette::interface::interface_index;
use galette::loader::{RunningChain, Workers, XdpMode};
use galette::userland::WorkerMode;
use galette::privileges::check_privileges;
use galette::shutdown::ShutdownFlag;
use galette::stats::format_counters;
use galette::RunError;
use galette_bundle::Bundle;

/// Run compiled Galette chains on network interfaces.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Attach a bundle to an interface and run it until SIGINT or SIGTERM.
    Run(RunArgs),
}

#[derive(clap::Args)]
struct RunArgs {
    /// The bundle directory written by galettec.
    bundle: PathBuf,
    /// The interface to attach the chain to.
    #[arg(long, value_name = "IF")]
    iface: String,
    /// How to attach the XDP program.
    #[arg(long, value_enum, default_value_t = XdpMode::Auto)]
    xdp_mode: XdpMode,
    /// Userland worker threads, one AF_XDP socket each (for chains with
    /// userland NFs).
    #[arg(long, value_name = "N", default_value_t = 1)]
    workers: u32,
    /// How workers wait for packets: blocking (irq) or busy polling (poll).
    #[arg(long, value_enum, default_value_t = WorkerMode::Irq)]
    mode: WorkerMode,
    /// Seconds between two lines of counters.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    stats_interval: f64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // An operational error is one line a script can grep, whatever the
    // terminal's width.
    let _ = miette::set_hook(Box::new(|_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())));
    let result = match cli.command {
        Command::Run(args) => run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{:?}", miette::Report::new(error));
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> Result<(), RunError> {
    let bundle = Bundle::open(&args.bundle)?;
    interface_index(&args.iface)?;
    check_privileges()?;
    // Installed before attaching, so a signal at any moment after the attach
    // reaches the loop below and the chain is detached.
    let shutdown = ShutdownFlag::install()?;
    let workers = Workers { count: args.workers, mode: args.mode };
    let chain = RunningChain::start(&bundle, &args.iface, args.xdp_mode, workers)?;
    println!("galette: chain `{}` attached to {} (XDP mode: {}); Ctrl-C to stop", bundle.manifest.chain, args.iface, args.xdp_mode.name());

    let interval = Duration::from_secs_f64(args.stats_interval.max(0.05));
    let mut next_report = Instant::now() + interval;
    while !shutdown.requested() {
        std::thread::sleep(Duration::from_millis(50));
        if Instant::now() >= next_report {
            println!("{}", format_counters(&chain.counters()?));
            next_report += interval;
        }
    }
    let last = chain.counters();
    chain.stop()?;
    if let Ok(counters) = last {
        println!("final: {}", format_counters(&counters));
    }
    println!("galette: chain `{}` detached from {}", bundle.manifest.chain, args.iface);
    Ok(())
}
