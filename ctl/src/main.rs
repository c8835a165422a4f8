//! `galette-ctl`, the fleet administrator's tool: the fleet's signing key,
//! and bundles published to an OCI registry, signed, for devices to pull.
//!
//! Publishing lives here rather than in `galettec`: the compiler needs no
//! network and no secrets, while signing is the administrator's act, done
//! where the fleet's key is kept.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use galette_oci::cli::RegistryArgs;
use galette_oci::push::push;
use galette_oci::signature::{generate_key_pair, read_private_key, sign, write_bundle_signature};
use galette_oci::{Digest, Reference, RegistryClient};

/// Manage a fleet of Galette devices: signing keys and published bundles.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
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

#[derive(Debug, thiserror::Error)]
enum CtlError {
    #[error(transparent)]
    Signature(#[from] galette_oci::signature::SignatureError),
    #[error(transparent)]
    Push(#[from] galette_oci::push::PushError),
    #[error(transparent)]
    Registry(#[from] galette_oci::OciError),
    #[error("{0}")]
    Bundle(String),
    #[error("{0}")]
    Usage(String),
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = miette::set_hook(Box::new(|_| Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())));
    let result = match cli.command {
        Command::Key(KeyCommand::Init { dir }) => key_init(dir),
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
