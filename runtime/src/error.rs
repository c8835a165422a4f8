//! The runtime's operational errors: each says what is wrong and, when there
//! is something to do, what to do.

use galette_bundle::BundleError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RunError {
    #[error("cannot use bundle: {0}")]
    #[diagnostic(code(galette::bundle), help("compile the chain again with `galettec CHAIN.gal -o DIR`"))]
    Bundle(BundleError),

    #[error("{0}")]
    #[diagnostic(code(galette::pin))]
    Pin(String),

    #[error("{0}")]
    #[diagnostic(code(galette::map))]
    Map(String),

    #[error("{0}")]
    #[diagnostic(code(galette::metrics))]
    Metrics(String),

    #[error("{0}")]
    #[diagnostic(code(galette::interfaces), help("see `galette run --help`"))]
    Interfaces(String),

    #[error("cannot start the userland tier: {0}")]
    #[diagnostic(code(galette::userland))]
    Userland(String),

    #[error("the bundle has no XDP part, so there is nothing to attach")]
    #[diagnostic(code(galette::bundle))]
    NoXdpPart,

    #[error("no network interface named `{0}`")]
    #[diagnostic(code(galette::interface), help("list the interfaces with `ip link`"))]
    NoSuchInterface(String),

    #[error("galette needs {missing} to load XDP programs")]
    #[diagnostic(code(galette::privileges), help("run it as root (e.g. with sudo)"))]
    Privileges { missing: String },

    #[error("the kernel refused to load the chain's eBPF object: {0}")]
    #[diagnostic(code(galette::load))]
    Load(String),

    #[error("cannot attach the chain to `{interface}`: {reason}")]
    #[diagnostic(
        code(galette::attach),
        help(
            "another XDP program may be attached already (see `ip link show {interface}`), or the driver lacks the chosen XDP mode; try `--xdp-mode skb`"
        )
    )]
    Attach { interface: String, reason: String },

    #[error("cannot read the chain's counters: {0}")]
    #[diagnostic(code(galette::stats))]
    Stats(String),

    #[error("cannot install the signal handlers: {0}")]
    #[diagnostic(code(galette::signals))]
    Signals(std::io::Error),
}

impl From<BundleError> for RunError {
    /// Not `#[from]`: that would also make the bundle error the cause,
    /// printed a second time under the message that already contains it.
    fn from(error: BundleError) -> Self {
        RunError::Bundle(error)
    }
}
