//! What can go wrong on either side of the control socket, in the terms of
//! the person who typed the command.

use std::path::PathBuf;
use std::time::Duration;

use super::run_dir::ChainTarget;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ControlError {
    #[error("cannot create the run directory {}", path.display())]
    #[diagnostic(code(galette::control), help("choose another one with `--run-dir DIR` (or $GALETTE_RUN_DIR)"))]
    RunDir { path: PathBuf, source: std::io::Error },

    #[error("cannot read the run directory {}", path.display())]
    #[diagnostic(code(galette::control))]
    ReadRunDir { path: PathBuf, source: std::io::Error },

    #[error("cannot lock the run directory {}", path.display())]
    #[diagnostic(code(galette::control))]
    LockRunDir { path: PathBuf, source: std::io::Error },

    #[error("chain `{chain}` is running already: its control socket {} answers", socket.display())]
    #[diagnostic(
        code(galette::control),
        help("stop that `galette run` first, or change its bundle with `galette reload NEW_BUNDLE`")
    )]
    AlreadyRunning { chain: String, socket: PathBuf },

    #[error("cannot listen on {}", path.display())]
    #[diagnostic(code(galette::control))]
    Listen { path: PathBuf, source: std::io::Error },

    #[error(
        "the socket path {} is {length} bytes long, more than the {} a Unix socket's path may have",
        path.display(),
        super::run_dir::MAX_SOCKET_PATH
    )]
    #[diagnostic(code(galette::control), help("use a shorter `--run-dir DIR`"))]
    SocketPathTooLong { path: PathBuf, length: usize },

    #[error("cannot write the state file {}", path.display())]
    #[diagnostic(code(galette::control))]
    StateFile { path: PathBuf, source: std::io::Error },

    #[error("`{0}` cannot name a chain: a chain's name is letters, digits, `_` and `-`, and does not start with `-`")]
    #[diagnostic(code(galette::control))]
    BadChainName(String),

    #[error("no {target} is running: {}{}", no_such_thing(target, run_dir), running_there(others))]
    #[diagnostic(
        code(galette::control),
        help(
            "start one with `galette run BUNDLE --iface IF`; a chain started with another `--run-dir` (or $GALETTE_RUN_DIR) is found only with that one"
        )
    )]
    NotRunning {
        target: ChainTarget,
        run_dir: PathBuf,
        /// The chains whose state files are there.
        others: Vec<String>,
    },

    #[error("several running chains match ({}): say which one", chains.join(", "))]
    #[diagnostic(code(galette::control), help("name it with `--chain NAME`"))]
    Ambiguous { chains: Vec<String> },

    #[error("chain `{chain}` is not running: nothing answers on its socket {}", socket.display())]
    #[diagnostic(
        code(galette::control),
        help("the `galette run` that made it was probably killed; the next `galette run` of the chain replaces it")
    )]
    NotAnswering { chain: String, socket: PathBuf },

    #[error("permission denied on {}: the control socket is root's", path.display())]
    #[diagnostic(code(galette::control), help("run it as root (e.g. with sudo)"))]
    NeedsRoot { path: PathBuf },

    #[error("cannot connect to {}", socket.display())]
    #[diagnostic(code(galette::control))]
    Connect { socket: PathBuf, source: std::io::Error },

    #[error("talking to the running chain over {}", socket.display())]
    #[diagnostic(code(galette::control))]
    Exchange { socket: PathBuf, source: std::io::Error },

    #[error("the running chain did not answer on {} within {} s", socket.display(), waited.as_secs())]
    #[diagnostic(code(galette::control))]
    NoAnswer { socket: PathBuf, waited: Duration },

    #[error("the running chain's answer on {} is not one this galette understands", socket.display())]
    #[diagnostic(code(galette::control), help("is the running `galette run` another version of galette?"))]
    BadAnswer { socket: PathBuf, source: super::protocol::LineError },

    #[error("the running chain answered a {asked} request with a {answered} response")]
    #[diagnostic(code(galette::control))]
    WrongAnswer { asked: &'static str, answered: &'static str },

    #[error("cannot find the bundle {}", path.display())]
    #[diagnostic(code(galette::control))]
    BundlePath { path: PathBuf, source: std::io::Error },

    #[error("not a request this galette understands")]
    #[diagnostic(code(galette::control))]
    BadRequest(#[source] super::protocol::LineError),

    #[error("the answer cannot be written as JSON")]
    #[diagnostic(code(galette::control))]
    Unencodable(#[source] serde_json::Error),

    #[error("the chain is stopping")]
    #[diagnostic(code(galette::control))]
    Stopping,
}

fn no_such_thing(target: &ChainTarget, run_dir: &std::path::Path) -> String {
    match target {
        ChainTarget::Chain(name) => {
            format!("there is no control socket {}", run_dir.join(name.socket_file()).display())
        }
        ChainTarget::Interface(_) => format!("no state file in {} names that interface", run_dir.display()),
        ChainTarget::Any => format!("{} holds no chain's state file", run_dir.display()),
    }
}

fn running_there(others: &[String]) -> String {
    if others.is_empty() { String::new() } else { format!(" (running there: {})", others.join(", ")) }
}
