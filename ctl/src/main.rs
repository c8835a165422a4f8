//! `galette-ctl`, the fleet administrator's tool: the fleet's signing key,
//! bundles published to an OCI registry, signed, for devices to pull; and
//! the fleet itself (docs/fleet.md): its CA and device certificates, and the
//! desired states devices follow over MQTT.
//!
//! Publishing lives here rather than in `galettec`: the compiler needs no
//! network and no secrets, while signing is the administrator's act, done
//! where the fleet's key is kept.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use galette_ctl::CtlError;
use galette_ctl::fleet;
use galette_fleet::state::Audience;
use galette_oci::cli::RegistryArgs;
use galette_oci::push::push;
use galette_oci::signature::{generate_key_pair, read_private_key, sign, write_bundle_signature};
use galette_oci::{Digest, Reference, RegistryClient};

/// Manage a fleet of Galette devices: signing keys and published bundles.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// The fleet's files: fleet.key/fleet.pub, the CA (ca/), the admin's
    /// broker identity (admin/) and the broker's ACL (broker.acl).
    #[arg(long, global = true, value_name = "DIR", env = "GALETTE_FLEET_DIR")]
    fleet_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// Where the fleet's broker is.
#[derive(clap::Args)]
struct BrokerArgs {
    /// The broker, HOST:PORT (TLS; the admin's identity is in the fleet
    /// directory).
    #[arg(long, value_name = "HOST:PORT", env = "GALETTE_BROKER")]
    broker: String,
}

#[derive(Subcommand)]
enum Command {
    /// The fleet's signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Sign a bundle directory: writes its signature.json.
    Sign {
        bundle: PathBuf,
        /// The fleet's private key.
        #[arg(long, value_name = "FILE", env = "GALETTE_SIGNING_KEY")]
        key: PathBuf,
    },
    /// Publish a bundle to a registry as an OCI artifact (an index over its
    /// platforms), uploading only the blobs the registry lacks, and sign it.
    Push {
        bundle: PathBuf,
        /// Where to: REGISTRY/REPOSITORY:TAG.
        reference: String,
        /// Sign with the fleet's private key (devices that trust the fleet's
        /// public key refuse unsigned bundles).
        #[arg(long, value_name = "FILE", env = "GALETTE_SIGNING_KEY")]
        key: Option<PathBuf>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// The fleet's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Issue a device its certificate (CN = DEVICE) and add it to the
    /// broker's ACL.
    Enroll {
        device: String,
        /// A group the device belongs to (repeatable).
        #[arg(long = "group", value_name = "NAME")]
        groups: Vec<String>,
        /// Where to write its certificate and key (default: ca/devices/DEVICE).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Revoke a device: its certificate goes on the CRL and its topics out
    /// of the ACL (reload the broker to apply).
    Revoke { device: String },
    /// Have a device or a group run a bundle: a signed desired state naming
    /// it by digest, published on the broker (the desired maps stay).
    Publish {
        /// REGISTRY/REPOSITORY:TAG (resolved to its digest now).
        reference: String,
        /// `device:ID` or `group:NAME`.
        #[arg(long, value_name = "device:ID|group:NAME", value_parser = Audience::parse)]
        to: Audience,
        #[command(flatten)]
        broker: BrokerArgs,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// The desired contents of chain maps.
    #[command(subcommand)]
    Maps(MapsCommand),
    /// A table of the fleet's devices: online, platform, what runs, version,
    /// last seen, last error.
    Status {
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// Print a line each time a device changes, until interrupted.
    Watch {
        #[command(flatten)]
        broker: BrokerArgs,
    },
}

#[derive(Subcommand)]
enum CaCommand {
    /// Make the fleet's CA, the admin's broker identity and an empty ACL.
    Init {
        #[arg(long, default_value = "galette fleet")]
        name: String,
    },
    /// A certificate for the broker (its IP addresses and DNS names).
    BrokerCert {
        #[arg(required = true)]
        names: Vec<String>,
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum MapsCommand {
    /// Make MAP hold exactly the `KEY VALUE` lines of FILE on every device of
    /// the audience (each applies the difference to its live map).
    Set {
        #[arg(long, value_name = "device:ID|group:NAME", value_parser = Audience::parse)]
        to: Audience,
        #[command(flatten)]
        broker: BrokerArgs,
        map: String,
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Make the fleet's ed25519 key pair: fleet.key (private, mode 0600) and
    /// fleet.pub (for the devices' --trust-key).
    Init {
        /// Where to write them (default: $XDG_CONFIG_HOME/galette, else
        /// ~/.config/galette).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = miette::set_hook(Box::new(|_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())));
    let fleet_dir = fleet::FleetDir(cli.fleet_dir.clone().unwrap_or_else(default_key_dir));
    let result = match cli.command {
        Command::Key(KeyCommand::Init { dir }) => key_init(dir.or(cli.fleet_dir)),
        Command::Ca(CaCommand::Init { name }) => fleet::ca_init(&fleet_dir, &name),
        Command::Ca(CaCommand::BrokerCert { names, out }) => fleet::broker_cert(&fleet_dir, &names, &out),
        Command::Enroll { device, groups, out } => fleet::enroll(&fleet_dir, &device, &groups, out.as_deref()),
        Command::Revoke { device } => fleet::revoke(&fleet_dir, &device),
        Command::Publish { reference, to, broker, registry } => registry
            .client_options()
            .map_err(CtlError::Usage)
            .and_then(|options| Ok((Reference::parse(&reference)?, options)))
            .and_then(|(reference, options)| fleet::publish(&fleet_dir, &broker.broker, &to, &reference, &options)),
        Command::Maps(MapsCommand::Set { to, broker, map, file }) => {
            fleet::maps_set(&fleet_dir, &broker.broker, &to, &map, &file)
        }
        Command::Status { broker } => fleet::status(&fleet_dir, &broker.broker),
        Command::Watch { broker } => fleet::watch(&fleet_dir, &broker.broker),
        Command::Sign { bundle, key } => sign_bundle(&bundle, &key),
        Command::Push { bundle, reference, key, registry } => {
            push_bundle(&bundle, &reference, key.as_deref(), &registry)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{:?}", miette::Report::msg(galette_bundle::error_chain(&error)));
            ExitCode::FAILURE
        }
    }
}

fn default_key_dir() -> PathBuf {
    std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("galette")
}

fn key_init(dir: Option<PathBuf>) -> Result<(), CtlError> {
    let dir = dir.unwrap_or_else(default_key_dir);
    std::fs::create_dir_all(&dir).map_err(|source| CtlError::CreateDir { path: dir.clone(), source })?;
    let (private, public) = (dir.join("fleet.key"), dir.join("fleet.pub"));
    let id = generate_key_pair(&private, &public)?;
    println!("fleet key {id}");
    println!("  private: {} (mode 0600; keep it on this machine)", private.display());
    println!("  public:  {} (give it to every device: galette run --trust-key FILE)", public.display());
    Ok(())
}

fn sign_bundle(dir: &Path, key: &Path) -> Result<(), CtlError> {
    let key = read_private_key(key)?;
    let digest = bundle_digest(dir)?;
    let document = sign(&key, &digest);
    write_bundle_signature(dir, &document)?;
    println!("signed bundle {digest} in {} with {}", dir.display(), document.key_id);
    Ok(())
}

/// The digest of the bundle in `dir`, verified for every platform it has.
fn bundle_digest(dir: &Path) -> Result<Digest, CtlError> {
    let plan =
        galette_oci::layout::plan_push(dir).map_err(|error| CtlError::Bundle(galette_bundle::error_chain(&error)))?;
    Ok(plan.bundle_digest)
}

fn push_bundle(dir: &Path, reference: &str, key: Option<&Path>, registry: &RegistryArgs) -> Result<(), CtlError> {
    let reference = Reference::parse(reference)?;
    let key = key.map(read_private_key).transpose()?;
    let options = registry.client_options().map_err(CtlError::Usage)?;
    let mut client = RegistryClient::new(&reference.registry, &options)?;
    let report = push(dir, &reference, &mut client, key.as_ref())?;
    let platforms: Vec<&str> = report.platforms.iter().map(|platform| platform.name()).collect();
    println!("pushed bundle {} to {} ({})", report.bundle_digest, report.reference, report.top);
    println!("  platforms: {}", platforms.join(", "));
    println!(
        "  blobs: {} uploaded ({} bytes), {} already in the registry",
        report.blobs_uploaded, report.bytes_uploaded, report.blobs_already_there
    );
    match &report.signed_by {
        Some(key) => println!("  signed by {key}"),
        None => println!("  unsigned (devices with --trust-key will refuse it; sign with --key)"),
    }
    Ok(())
}
