//! The `galette` command line: parses arguments and calls the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use galette::RunError;
use galette::attach::{self, InterfaceArg};
use galette::bundle_source::{self, BundleSource, RegistryAccess, bundle_dir};
use galette::control::session::attached_interfaces;
use galette::control::{ChainEntry, ChainName, ChainSession, ChainTarget, ControlServer, RunDir, client, text};
use galette::counters::ChainCounters;
use galette::interface::interface_index;
use galette::kernel_features;
use galette::loader::{PinOptions, RunningChain, Workers, XdpMode};
use galette::map_command::{self, MapFile, PinnedMap};
use galette::metrics::MetricsServer;
use galette::privileges::check_privileges;
use galette::shutdown::ShutdownFlag;
use galette::stats::{CountersFormat, prometheus};
use galette::trust::Trust;
use galette::userland::WorkerMode;
use galette_bundle::{Bundle, Placement};

/// Run compiled Galette chains on network interfaces.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The bpffs mount to pin maps under (mounted there if it is not one).
    #[arg(long, global = true, value_name = "DIR", env = "GALETTE_BPFFS", default_value = galette::pins::BPFFS)]
    bpffs: PathBuf,
    /// The directory of the running chains' control sockets and state files.
    #[arg(long, global = true, value_name = "DIR", env = "GALETTE_RUN_DIR", default_value = galette::control::RUN_DIR)]
    run_dir: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Attach a bundle to an interface and run it until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Show the counters of a running chain (through their pin).
    Stats {
        /// The bundle the chain runs from.
        bundle: PathBuf,
        /// Print one line and exit.
        #[arg(long)]
        once: bool,
        /// Seconds between two lines.
        #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
        interval: f64,
        /// Print each reading as one JSON object (see docs/runtime.md).
        #[arg(long)]
        json: bool,
    },
    /// Read and write the maps of a running chain (through their pins).
    #[command(subcommand)]
    Map(MapCommand),
    /// Replace a running chain's bundle, live: its traffic never stops, and
    /// the maps of the same shape keep their contents.
    Reload {
        /// The new bundle: a directory, or a registry reference
        /// (`[oci://]REGISTRY/REPO:TAG` or `@sha256:...`), pulled first;
        /// verified here, then again by the running chain.
        bundle: PathBuf,
        #[command(flatten)]
        which: WhichChain,
        #[command(flatten)]
        registry: PullArgs,
    },
    /// Fetch a bundle from an OCI registry into the store (only the blobs
    /// it lacks, each checked against its digest) and assemble it in DIR.
    Pull {
        /// REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:...
        reference: String,
        /// Where to assemble the bundle (default: the store's directory
        /// for its digest).
        dir: Option<PathBuf>,
        #[command(flatten)]
        registry: PullArgs,
    },
    /// Show a running chain: its interfaces, the bundle it runs and since
    /// when, and its last reloads.
    Status {
        #[command(flatten)]
        which: WhichChain,
        /// Print it as one JSON object (see docs/runtime.md).
        #[arg(long)]
        json: bool,
    },
    /// Check that this machine's kernel has what chains need (eBPF, XDP,
    /// the JIT, AF_XDP); fails if a chain could not run here.
    Check,
    /// Run as a device of a fleet: follow the desired state the admin
    /// publishes over MQTT (mutual TLS), run and reload the bundles it
    /// names, report back (see docs/fleet.md).
    Agent(AgentArgs),
}

/// Which running chain `reload` and `status` talk to: by default the new
/// bundle's chain (`reload`), or the only chain running (`status`).
#[derive(clap::Args)]
#[group(multiple = false)]
struct WhichChain {
    /// The running chain of this name.
    #[arg(long, value_name = "NAME")]
    chain: Option<String>,
    /// The running chain attached to this interface.
    #[arg(long, value_name = "IF")]
    iface: Option<String>,
}

impl WhichChain {
    fn target(self) -> Result<Option<ChainTarget>, RunError> {
        Ok(match (self.chain, self.iface) {
            (Some(name), _) => Some(ChainTarget::Chain(ChainName::new(&name)?)),
            (None, Some(interface)) => Some(ChainTarget::Interface(interface)),
            (None, None) => None,
        })
    }
}

#[derive(Subcommand)]
enum MapCommand {
    /// List the chain's maps and where they are pinned.
    List {
        /// The bundle the chain runs from.
        bundle: PathBuf,
    },
    /// Print every entry of a map, as `KEY VALUE` lines that `load` reads.
    Dump {
        bundle: PathBuf,
        map: String,
        /// Print at most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Set one entry: KEY and VALUE as their types are written (decimal
    /// numbers, prefixes such as 198.18.0.0/15, or 0x-hex bytes).
    Set { bundle: PathBuf, map: String, key: String, value: String },
    /// Set the entries of a file of `KEY VALUE` lines (`#` starts a comment).
    Load { bundle: PathBuf, map: String, file: PathBuf },
}

/// Where bundles come from, and which ones this device accepts.
#[derive(clap::Args)]
struct PullArgs {
    #[command(flatten)]
    registry: galette_oci::cli::RegistryArgs,
    /// The content-addressed store bundles are pulled into.
    #[arg(long, value_name = "DIR", env = "GALETTE_STORE", default_value = galette_oci::store::DEFAULT_STORE)]
    store: PathBuf,
    /// The fleet's public key (`galette-ctl key init`): only bundles it
    /// signed are run, pulled or reloaded, local directories included.
    #[arg(long, value_name = "FILE", env = "GALETTE_TRUST_KEY")]
    trust_key: Option<PathBuf>,
}

impl PullArgs {
    fn access(&self) -> Result<RegistryAccess, RunError> {
        let client = self.registry.client_options().map_err(RunError::Usage)?;
        Ok(RegistryAccess { client, store: self.store.clone() })
    }

    fn trust(&self) -> Result<Trust, RunError> {
        Trust::from_key_file(self.trust_key.as_deref())
    }
}

#[derive(clap::Args)]
struct RunArgs {
    /// The bundle: a directory written by galettec, or a registry reference
    /// (`[oci://]REGISTRY/REPO:TAG` or `@sha256:...`), pulled first.
    bundle: PathBuf,
    #[command(flatten)]
    registry: PullArgs,
    /// The interface to attach the chain to; for a chain with interface
    /// roles, `ROLE=IF` once per role.
    #[arg(long, value_name = "IF|ROLE=IF", required = true)]
    iface: Vec<InterfaceArg>,
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
    /// Serve the counters in the Prometheus text format at this address
    /// (e.g. 127.0.0.1:9100), read anew for every scrape.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// Load a map's entries from a file of `KEY VALUE` lines before the
    /// chain is attached (as `galette map load` does on a running chain);
    /// repeatable.
    #[arg(long = "load", value_name = "MAP=FILE")]
    load: Vec<MapFile>,
    /// Leave the chain's maps pinned in bpffs after it stops.
    #[arg(long)]
    keep_maps: bool,
    /// Seconds between two lines of counters.
    #[arg(long, value_name = "SECONDS", default_value_t = 1.0)]
    stats_interval: f64,
    /// Print the counters as one JSON object per line, as `galette stats
    /// --json` does; the last one, after the chain is detached, has
    /// `"final": true`.
    #[arg(long)]
    stats_json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // An operational error is one line a script can grep, whatever the
    // terminal's width.
    let _ = miette::set_hook(Box::new(|_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())));
    let run_dir = RunDir::new(cli.run_dir);
    let result = match cli.command {
        Command::Run(args) => run(args, &cli.bpffs, &run_dir),
        Command::Reload { bundle, which, registry } => reload(&run_dir, which, &bundle, &registry),
        Command::Pull { reference, dir, registry } => pull(&reference, dir.as_deref(), &registry),
        Command::Status { which, json } => status(&run_dir, which, json),
        Command::Check => check_kernel(),
        Command::Agent(args) => agent(args, &cli.bpffs, &run_dir),
        Command::Map(command) => map(command, &cli.bpffs, &run_dir),
        Command::Stats { bundle, once, interval, json } => {
            stats(&bundle, &cli.bpffs, &run_dir, once, interval, CountersFormat::of(json))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{:?}", miette::Report::new(error.one_line()));
            ExitCode::FAILURE
        }
    }
}

/// Prints the counters of the chain running from `bundle`, read from the
/// pinned stats map (the runtime mirrors its userland counters there).
fn stats(
    bundle: &std::path::Path,
    bpffs: &std::path::Path,
    run_dir: &RunDir,
    once: bool,
    interval: f64,
    format: CountersFormat,
) -> Result<(), RunError> {
    let bundle = open_running_bundle(bundle, run_dir)?;
    let counters = ChainCounters::open_pinned(&bundle, bpffs)?;
    let shutdown = ShutdownFlag::install()?;
    loop {
        println!("{}", format.line(counters.chain(), &counters.reading()?, false));
        if once || shutdown.requested() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs_f64(interval.max(0.05)));
        if shutdown.requested() {
            return Ok(());
        }
    }
}

fn map(command: MapCommand, bpffs: &std::path::Path, run_dir: &RunDir) -> Result<(), RunError> {
    let open = |bundle: &std::path::Path| open_running_bundle(bundle, run_dir);
    match command {
        MapCommand::List { bundle } => print!("{}", map_command::list(&open(&bundle)?, bpffs)),
        MapCommand::Dump { bundle, map, limit } => {
            print!("{}", PinnedMap::open(&open(&bundle)?, bpffs, &map)?.dump(limit));
        }
        MapCommand::Set { bundle, map, key, value } => {
            PinnedMap::open(&open(&bundle)?, bpffs, &map)?.set(&key, &value)?;
        }
        MapCommand::Load { bundle, map, file } => {
            let pinned = PinnedMap::open(&open(&bundle)?, bpffs, &map)?;
            let contents = MapFile { map, path: file }.read()?;
            let loaded = pinned.load(&contents.text)?;
            println!("loaded {loaded} entries into `{}`", contents.map);
        }
    }
    Ok(())
}

/// The bundle at `path`, for reading a chain's pins: refused when its chain
/// runs (in `run_dir`) from another bundle, whose pins mean other things (a
/// reload since). A chain that does not answer (stopped with `--keep-maps`,
/// or run with another `--run-dir`) is not asked.
fn open_running_bundle(path: &std::path::Path, run_dir: &RunDir) -> Result<Bundle, RunError> {
    let bundle = Bundle::open(path)?;
    let Ok(name) = ChainName::new(&bundle.manifest.chain) else { return Ok(bundle) };
    match client::status(run_dir, &ChainTarget::Chain(name)) {
        Ok(running) if running.digest != bundle.digest => Err(RunError::NotTheRunningBundle {
            chain: bundle.manifest.chain.clone(),
            given: path.to_owned(),
            running: running.bundle,
        }),
        _ => Ok(bundle),
    }
}

/// Has the running chain replace its bundle with `bundle` (pulled first
/// when it is a reference), and prints what it did.
fn reload(run_dir: &RunDir, which: WhichChain, bundle: &std::path::Path, registry: &PullArgs) -> Result<(), RunError> {
    let trust = registry.trust()?;
    let dir = bundle_dir(&BundleSource::parse(bundle)?, &registry.access()?, &trust)?;
    trust.open(&dir)?;
    let reloaded = client::reload(run_dir, which.target()?, &dir)?;
    println!("{}", text::reloaded(reloaded.chain.as_str(), &reloaded.bundle, &reloaded.report));
    Ok(())
}

/// Prints what the running chain says of itself.
fn status(run_dir: &RunDir, which: WhichChain, json: bool) -> Result<(), RunError> {
    let status = client::status(run_dir, &which.target()?.unwrap_or(ChainTarget::Any))?;
    if json {
        println!("{}", status.to_json_line());
    } else {
        print!("{}", text::status(&status));
    }
    Ok(())
}

/// `galette check`: the kernel features, one line each; fails unless every
/// chain could run here.
fn check_kernel() -> Result<(), RunError> {
    let features = kernel_features::probe();
    print!("{}", kernel_features::report(&features));
    require_kernel_features(&features, true)?;
    if kernel_features::all_chains_can_run(&features) { Ok(()) } else { Err(RunError::KernelUnknown) }
}

/// Fails, naming the kernel options, when the kernel lacks what a chain
/// (with userland NFs, or not) needs; warns when it lacks only speed.
fn require_kernel_features(
    features: &[(kernel_features::Feature, kernel_features::Availability)],
    has_userland: bool,
) -> Result<(), RunError> {
    use kernel_features::{Availability, Feature};
    if let Some((_, Availability::Missing(why))) = features.iter().find(|(feature, _)| *feature == Feature::BpfJit) {
        eprintln!("galette: warning: no eBPF JIT ({why}); the XDP part runs interpreted, several times slower");
    }
    let missing = kernel_features::missing_for_chain(features, has_userland);
    if missing.is_empty() {
        return Ok(());
    }
    let features = missing.iter().map(|(feature, why)| format!("{} ({why})", feature.name())).collect();
    let options = missing.iter().map(|(feature, _)| feature.config_option()).collect();
    Err(RunError::KernelLacks { features, options })
}

#[derive(clap::Args)]
struct AgentArgs {
    /// This device's id: its certificate's common name.
    #[arg(long, value_name = "ID")]
    device: String,
    /// A group the device belongs to (repeatable): it follows the group's
    /// desired state too.
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,
    /// The broker, HOST:PORT (TLS).
    #[arg(long, value_name = "HOST:PORT")]
    broker: String,
    /// The fleet CA (PEM), which signed the broker's certificate.
    #[arg(long, value_name = "FILE")]
    broker_ca: PathBuf,
    /// This device's certificate (PEM), from `galette-ctl enroll`.
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// This device's private key (PEM).
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
    #[command(flatten)]
    registry: PullArgs,
    /// Where the agent keeps what it last applied, to resume after a restart.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/galette/agent")]
    state_dir: PathBuf,
    /// Seconds between two reports (also sent after every change).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    report_interval: f64,
    /// Run no chain: verify, pull and report only (to measure the control
    /// plane alone, e.g. hundreds of agents on one machine).
    #[arg(long)]
    no_data_plane: bool,
    /// What `galette run` gets besides the bundle: `--iface ROLE=IF`,
    /// `--workers N`, `--load MAP=FILE`...
    #[arg(last = true, value_name = "RUN ARGS")]
    run: Vec<String>,
}

fn agent(args: AgentArgs, bpffs: &std::path::Path, run_dir: &RunDir) -> Result<(), RunError> {
    use galette::agent::{AgentConfig, BrokerOptions, RunSettings};
    let trust_key = args
        .registry
        .trust_key
        .clone()
        .ok_or_else(|| RunError::Usage("galette agent needs --trust-key: the fleet's public key".into()))?;
    let (host, port) = args
        .broker
        .rsplit_once(':')
        .and_then(|(host, port)| Some((host.to_owned(), port.parse::<u16>().ok()?)))
        .ok_or_else(|| RunError::Usage(format!("--broker {}: expected HOST:PORT", args.broker)))?;
    let config = AgentConfig {
        broker: BrokerOptions {
            host,
            port,
            ca: args.broker_ca,
            cert: args.cert,
            key: args.key,
            client_id: args.device.clone(),
            will: None,
        },
        device: args.device,
        groups: args.groups,
        trust_key: trust_key.clone(),
        access: args.registry.access()?,
        run: RunSettings {
            arguments: args.run,
            run_dir: run_dir.path().to_owned(),
            bpffs: bpffs.to_owned(),
            trust_key: Some(trust_key),
        },
        state_dir: args.state_dir,
        report_interval: Duration::from_secs_f64(args.report_interval.max(0.1)),
        data_plane: !args.no_data_plane,
    };
    let shutdown = ShutdownFlag::install()?;
    galette::agent::run(config, &shutdown)
}

/// `galette pull`: fetches and assembles, then says what moved.
fn pull(reference: &str, dir: Option<&std::path::Path>, registry: &PullArgs) -> Result<(), RunError> {
    let reference =
        galette_oci::Reference::parse(reference.strip_prefix(bundle_source::OCI_PREFIX).unwrap_or(reference))?;
    let report = bundle_source::pull_bundle(&reference, &registry.access()?, &registry.trust()?, dir)?;
    println!("galette: {}", bundle_source::describe_pull(&report));
    Ok(())
}

fn run(args: RunArgs, bpffs: &std::path::Path, run_dir: &RunDir) -> Result<(), RunError> {
    let trust = args.registry.trust()?;
    let bundle_path = bundle_dir(&BundleSource::parse(&args.bundle)?, &args.registry.access()?, &trust)?;
    let bundle = trust.open(&bundle_path)?;
    let attachments = attach::plan(&bundle, &args.iface)?;
    let interfaces = attachments.iter().map(|attachment| attachment.interface.as_str()).collect::<Vec<_>>().join(", ");
    for attachment in &attachments {
        interface_index(&attachment.interface)?;
    }
    let preload = args.load.iter().map(MapFile::read).collect::<Result<Vec<_>, _>>()?;
    check_privileges()?;
    let has_userland = bundle.manifest.instances.iter().any(|instance| instance.placement == Placement::Userland);
    require_kernel_features(&kernel_features::probe(), has_userland)?;
    // Installed before attaching, so a signal at any moment after the attach
    // reaches the loop below and the chain is detached.
    let shutdown = ShutdownFlag::install()?;
    // Taken before anything is loaded, so a second run of a running chain
    // stops here; its socket and state file go when `control` is dropped,
    // however this function returns.
    let attached = attached_interfaces(&bundle, &attachments);
    let control = ControlServer::start(run_dir, &ChainEntry::new(&bundle, attached.clone()))?;
    let workers = Workers { count: args.workers, mode: args.mode };
    let pins = PinOptions { bpffs: bpffs.to_owned(), keep: args.keep_maps };
    let mut chain = RunningChain::start(&bundle, &attachments, args.xdp_mode, workers, &pins, &preload)?;
    let mut session = ChainSession::new(&bundle_path, &bundle, attached, trust);
    println!(
        "galette: chain `{}` attached to {} (XDP mode: {}); Ctrl-C to stop",
        bundle.manifest.chain,
        interfaces,
        args.xdp_mode.name()
    );
    if let Some(summary) = chain.userland_summary() {
        println!("galette: userland: {summary}");
    }
    println!("galette: control socket {} (galette reload, galette status)", control.socket().display());

    // Served from another thread, which reads the counters when scraped.
    let metrics = match args.metrics {
        Some(address) => {
            let counters = chain.counter_reader();
            let render = move || counters.reading().map(|now| prometheus(counters.chain(), &now));
            Some(MetricsServer::start(address, render)?)
        }
        None => None,
    };
    if let Some(server) = &metrics {
        println!("galette: metrics at http://{}/metrics", server.address());
    }
    let format = CountersFormat::of(args.stats_json);
    let counters = chain.counter_reader();
    let interval = Duration::from_secs_f64(args.stats_interval.max(0.05));
    let mut next_report = Instant::now() + interval;
    let mut next_publish = Instant::now();
    while !shutdown.requested() {
        // Requests are answered one at a time, between two counter
        // readings: two reloads at once are done one after the other.
        if let Some(pending) = control.next_request(Duration::from_millis(50)) {
            let answer = session.answer(pending.request(), &mut chain);
            if let Some(line) = &answer.log_line {
                println!("{line}");
            }
            pending.answer(answer.response);
        }
        if Instant::now() >= next_publish {
            chain.publish_userland_counters()?;
            next_publish += Duration::from_millis(250);
        }
        if Instant::now() >= next_report {
            println!("{}", format.line(counters.chain(), &counters.reading()?, false));
            next_report += interval;
        }
    }
    drop(metrics);
    // Read after the detach and after the workers stopped, so every packet
    // the chain took is in them.
    let accounting = chain.stop()?;
    if let Some((accounted, total)) = accounting {
        println!("galette: userland frames accounted for: {accounted} of {total}");
    }
    println!("{}", format.line(counters.chain(), &counters.reading()?, true));
    println!("galette: chain `{}` detached from {}", bundle.manifest.chain, interfaces);
    Ok(())
}
