//! The runtime's operational errors: each says what is wrong and, when there
//! is something to do, what to do. Every variant keeps the error it comes
//! from as its source; [`RunError::one_line`] shows the whole chain of
//! causes on one line, for people and for scripts that grep it.

use std::net::SocketAddr;

use aya::programs::ProgramError;
use galette_bundle::{BundleError, error_chain};

use crate::attach::InterfaceUsage;
use crate::counters::StatsError;
use crate::map_command::MapError;
use crate::pins::PinError;
use crate::userland::UserlandError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error("cannot use bundle")]
    #[diagnostic(code(galette::bundle), help("compile the chain again with `galettec CHAIN.gal -o DIR`"))]
    Bundle(#[from] BundleError),

    #[error(transparent)]
    #[diagnostic(code(galette::pin))]
    Pin(#[from] PinError),

    #[error(transparent)]
    #[diagnostic(code(galette::map))]
    Map(#[from] MapError),

    /// A `--load MAP=FILE` that did not load.
    #[error("loading `{map}`")]
    #[diagnostic(code(galette::map))]
    Preload { map: String, source: MapError },

    #[error("cannot serve metrics at {address}")]
    #[diagnostic(code(galette::metrics))]
    Metrics { address: SocketAddr, source: std::io::Error },

    #[error(transparent)]
    #[diagnostic(code(galette::interfaces), help("see `galette run --help`"))]
    Interfaces(#[from] InterfaceUsage),

    #[error("cannot start the userland tier")]
    #[diagnostic(code(galette::userland))]
    Userland(#[source] Box<UserlandError>),

    #[error("the bundle has no XDP part, so there is nothing to attach")]
    #[diagnostic(code(galette::bundle))]
    NoXdpPart,

    #[error("no network interface named `{0}`")]
    #[diagnostic(code(galette::interface), help("list the interfaces with `ip link`"))]
    NoSuchInterface(String),

    #[error("galette needs root privileges ({} missing) to load XDP programs", .missing.join(" and "))]
    #[diagnostic(code(galette::privileges), help("run it as root (e.g. with sudo)"))]
    Privileges { missing: Vec<&'static str> },

    #[error(transparent)]
    #[diagnostic(code(galette::signature))]
    Signature(#[from] galette_oci::signature::SignatureError),

    #[error("cannot pull the bundle")]
    #[diagnostic(code(galette::pull))]
    Pull(#[from] galette_oci::pull::PullError),

    #[error(transparent)]
    #[diagnostic(code(galette::registry))]
    Registry(#[from] galette_oci::OciError),

    #[error("{0}")]
    #[diagnostic(code(galette::usage))]
    Usage(String),

    #[error("{0}")]
    #[diagnostic(code(galette::agent))]
    Agent(String),

    #[error("this machine's kernel lacks {}", .features.join(" and "))]
    #[diagnostic(
        code(galette::kernel),
        help("use a kernel built with {} (`galette check` lists what the kernel has)", .options.join(", "))
    )]
    KernelLacks { features: Vec<String>, options: Vec<&'static str> },

    #[error("could not tell whether this machine's kernel has everything chains need")]
    #[diagnostic(code(galette::kernel), help("run `galette check` as root, which may load a test program"))]
    KernelUnknown,

    #[error("cannot load the chain's eBPF object")]
    #[diagnostic(code(galette::load))]
    Load(#[source] Box<ObjectError>),

    #[error("cannot attach the chain to `{interface}`")]
    #[diagnostic(
        code(galette::attach),
        help(
            "another XDP program may be attached already (see `ip link show {interface}`), or the driver lacks the chosen XDP mode; try `--xdp-mode skb`"
        )
    )]
    Attach { interface: String, source: std::io::Error },

    #[error("cannot read the chain's counters")]
    #[diagnostic(code(galette::stats))]
    Stats(#[from] StatsError),

    #[error("cannot install the signal handlers")]
    #[diagnostic(code(galette::signals))]
    Signals(#[source] std::io::Error),

    /// Finding, claiming or talking to a running chain's control socket.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Control(#[from] crate::control::ControlError),

    /// The error a running chain answered with over its control socket (a
    /// refused reload, say), as it showed it.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Remote(OneLine),

    /// A bundle given to `galette stats` or `galette map` that is not the
    /// one its chain runs now: its pins would be read with another layout.
    #[error("the chain `{chain}` runs {} now, not {}", .running.display(), .given.display())]
    #[diagnostic(code(galette::bundle), help("give the bundle the chain runs (see `galette status`)"))]
    NotTheRunningBundle { chain: String, given: std::path::PathBuf, running: std::path::PathBuf },

    /// A reload that was refused or failed; the running chain is unchanged.
    #[error("reload refused; the running chain is unchanged")]
    #[diagnostic(code(galette::reload))]
    Reload(#[source] crate::reload::ReloadRefusal),
}

/// What the chain's eBPF object lacks, or what the kernel refused while
/// loading and filling it. aya's larger errors are boxed, so that every
/// `Result` of the loader does not carry their size.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("the kernel refused the object or one of its maps")]
    Object(#[source] Box<aya::EbpfError>),
    #[error("the object has no program `{0}`")]
    NoProgram(String),
    #[error("`{program}` is not an XDP program")]
    NotXdp { program: String, source: Box<ProgramError> },
    #[error("the kernel refused the program `{program}`{}", for_instance(.instance))]
    Program { program: String, instance: Option<String>, source: Box<ProgramError> },
    /// The verifier's verdict: the last line of its log that is not
    /// statistics (the whole log can run to megabytes).
    #[error("the kernel verifier rejected the program `{program}`{}: {verdict}", for_instance(.instance))]
    VerifierRejected { program: String, instance: Option<String>, verdict: String },
    #[error("cannot hold on to the program `{program}`")]
    ProgramFd { program: String, source: std::io::Error },
    #[error("the object has no map `{0}`")]
    NoMap(&'static str),
    #[error("cannot fill the map `{map}`")]
    FillMap { map: &'static str, source: aya::maps::MapError },
    #[error("cannot put the interface of role {role} in the map `{}`", galette_bundle::DEVS_MAP)]
    FillDevice { role: u32, source: aya::maps::xdp::XdpMapError },
}

impl ObjectError {
    /// The kernel's refusal to load (or hand out) the program `program`.
    pub fn program(program: &str, instance: Option<&str>, source: ProgramError) -> ObjectError {
        let instance = instance.map(str::to_owned);
        match source {
            ProgramError::LoadError { io_error, verifier_log } => {
                let log = verifier_log.to_string();
                let verdict = verifier_verdict(&log).map_or_else(|| io_error.to_string(), str::to_owned);
                ObjectError::VerifierRejected { program: program.to_owned(), instance, verdict }
            }
            other => ObjectError::Program { program: program.to_owned(), instance, source: Box::new(other) },
        }
    }
}

/// The line of a verifier log that says what failed: the last one before
/// the statistics it ends with.
fn verifier_verdict(log: &str) -> Option<&str> {
    let is_statistics = |line: &str| {
        line.is_empty()
            || line.starts_with("processed ")
            || line.starts_with("verification time")
            || line.starts_with("stack depth")
    };
    log.lines().map(str::trim).rev().find(|line| !is_statistics(line))
}

// Boxed in `RunError`: they hold aya's errors, which are large, and every
// `Result` of the runtime would carry their size.
impl From<UserlandError> for RunError {
    fn from(error: UserlandError) -> Self {
        RunError::Userland(Box::new(error))
    }
}

impl From<ObjectError> for RunError {
    fn from(error: ObjectError) -> Self {
        RunError::Load(Box::new(error))
    }
}

fn for_instance(instance: &Option<String>) -> String {
    instance.as_ref().map_or_else(String::new, |name| format!(" (of `{name}`)"))
}

impl RunError {
    /// The error for printing: its message followed by every cause on one
    /// line, with its code and help.
    pub fn one_line(&self) -> OneLine {
        use miette::Diagnostic;
        OneLine {
            message: error_chain(self),
            code: self.code().map(|code| code.to_string()),
            help: self.help().map(|help| help.to_string()),
        }
    }
}

/// A [`RunError`] flattened to one line, as a diagnostic miette renders;
/// also how the control socket carries an error to the client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OneLine {
    message: String,
    code: Option<String>,
    help: Option<String>,
}

impl std::fmt::Display for OneLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for OneLine {}

impl miette::Diagnostic for OneLine {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.code.as_ref().map(|code| Box::new(code) as Box<dyn std::fmt::Display>)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help.as_ref().map(|help| Box::new(help) as Box<dyn std::fmt::Display>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verifier_rejection_is_its_verdict_on_one_line() {
        let log = "0: (b7) r0 = 0\n25: (15) if r3 == 0x0 goto pc+20\nThe sequence of 8193 jumps is too complex.\nverification time 213317 usec\nstack depth 8\nprocessed 147717 insns (limit 1000000)\n";
        assert_eq!(verifier_verdict(log), Some("The sequence of 8193 jumps is too complex."));
        assert_eq!(verifier_verdict("\nprocessed 1 insns\n"), None);
    }

    #[test]
    fn one_line_carries_every_cause_the_code_and_the_help() {
        let error =
            RunError::Preload { map: "acl_v4".into(), source: MapError::LineShape { line: 3, text: "a b c".into() } };
        let line = error.one_line();
        assert_eq!(line.to_string(), "loading `acl_v4`: line 3: expected `KEY VALUE`, found \"a b c\"");
        use miette::Diagnostic;
        assert_eq!(line.code().unwrap().to_string(), "galette::map");
        let privileges = RunError::Privileges { missing: vec!["CAP_BPF", "CAP_NET_ADMIN"] }.one_line();
        assert_eq!(
            privileges.to_string(),
            "galette needs root privileges (CAP_BPF and CAP_NET_ADMIN missing) to load XDP programs"
        );
        assert_eq!(privileges.help().unwrap().to_string(), "run it as root (e.g. with sudo)");
    }
}
