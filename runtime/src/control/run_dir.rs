//! The run directory (`/run/galette` unless `--run-dir` says otherwise):
//! for each running chain a socket, `CHAIN.sock`, and a state file,
//! `CHAIN.json`, that says which interfaces it is attached to, so a client
//! can find a chain by interface. Names that start with `.` are a `galette
//! run`'s files in the making.

use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ControlError;
use super::protocol::AttachedInterface;

/// Where `galette run` puts its socket and state file unless told otherwise.
pub const RUN_DIR: &str = "/run/galette";

/// The longest path a Unix socket can be bound to (`sun_path` holds 108
/// bytes with the terminating NUL).
pub const MAX_SOCKET_PATH: usize = 107;

const SOCKET_EXTENSION: &str = "sock";
const STATE_EXTENSION: &str = "json";

/// A chain's name, checked to be a safe file name: the socket and state
/// file are named after it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainName(String);

impl ChainName {
    /// The name, if it has only letters, digits, `_` and `-` (a `.gal`
    /// chain's name is an identifier) and does not start with `-`.
    pub fn new(name: &str) -> Result<ChainName, ControlError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if name.is_empty() || name.starts_with('-') || !name.chars().all(allowed) {
            return Err(ControlError::BadChainName(name.to_owned()));
        }
        Ok(ChainName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `CHAIN.sock`.
    pub fn socket_file(&self) -> String {
        format!("{}.{SOCKET_EXTENSION}", self.0)
    }

    /// `CHAIN.json`.
    pub fn state_file(&self) -> String {
        format!("{}.{STATE_EXTENSION}", self.0)
    }
}

impl std::fmt::Display for ChainName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Which running chain a client means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainTarget {
    /// The chain of this name.
    Chain(ChainName),
    /// The chain attached to this interface.
    Interface(String),
    /// The only chain running.
    Any,
}

impl std::fmt::Display for ChainTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainTarget::Chain(name) => write!(f, "chain `{name}`"),
            ChainTarget::Interface(interface) => write!(f, "chain attached to `{interface}`"),
            ChainTarget::Any => f.write_str("chain"),
        }
    }
}

/// What a chain's state file says: which chain, which process, which
/// interfaces. Written once, when `galette run` starts listening; a reload
/// changes none of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainEntry {
    pub chain: String,
    pub pid: u32,
    pub interfaces: Vec<AttachedInterface>,
}

impl ChainEntry {
    fn is_attached_to(&self, interface: &str) -> bool {
        self.interfaces.iter().any(|attached| attached.interface == interface)
    }
}

/// A running chain's socket, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub chain: ChainName,
    pub socket: PathBuf,
}

/// The run directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> RunDir {
        RunDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn socket(&self, chain: &ChainName) -> PathBuf {
        self.path.join(chain.socket_file())
    }

    pub fn state_file(&self, chain: &ChainName) -> PathBuf {
        self.path.join(chain.state_file())
    }

    /// The socket of the chain `target` means. By name, the socket must
    /// exist; by interface (or with no target), the state files must name
    /// exactly one chain whose socket answers, though when every candidate
    /// is silent the error says that of the first.
    pub fn locate(&self, target: &ChainTarget) -> Result<Located, ControlError> {
        let not_running = || self.not_running(target);
        if let ChainTarget::Chain(chain) = target {
            let socket = self.socket(chain);
            return match std::fs::symlink_metadata(&socket) {
                Ok(_) => Ok(Located { chain: chain.clone(), socket }),
                Err(error) if error.kind() == ErrorKind::PermissionDenied => {
                    Err(ControlError::NeedsRoot { path: socket })
                }
                Err(_) => Err(not_running()),
            };
        }
        let candidates: Vec<Located> = self
            .entries()?
            .into_iter()
            .filter(|entry| match target {
                ChainTarget::Interface(interface) => entry.is_attached_to(interface),
                _ => true,
            })
            .filter_map(|entry| ChainName::new(&entry.chain).ok())
            .map(|chain| Located { socket: self.socket(&chain), chain })
            .collect();
        // A state file left by a killed `galette run` is not a candidate
        // when a live chain is.
        let answering: Vec<&Located> = candidates.iter().filter(|located| answers(&located.socket)).collect();
        match (answering.as_slice(), candidates.first()) {
            ([only], _) => Ok((*only).clone()),
            ([], Some(silent)) => Ok(silent.clone()),
            ([], None) => Err(not_running()),
            (several, _) => {
                Err(ControlError::Ambiguous { chains: several.iter().map(|found| found.chain.to_string()).collect() })
            }
        }
    }

    /// That no chain `target` means runs, and which do.
    pub fn not_running(&self, target: &ChainTarget) -> ControlError {
        let others = self.entries().unwrap_or_default().into_iter().map(|entry| entry.chain).collect();
        ControlError::NotRunning { target: target.clone(), run_dir: self.path.clone(), others }
    }

    /// Every state file of the directory that reads as one, in name order;
    /// no directory is no chains.
    pub fn entries(&self) -> Result<Vec<ChainEntry>, ControlError> {
        let listing = match std::fs::read_dir(&self.path) {
            Ok(listing) => listing,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) if error.kind() == ErrorKind::PermissionDenied => {
                return Err(ControlError::NeedsRoot { path: self.path.clone() });
            }
            Err(source) => return Err(ControlError::ReadRunDir { path: self.path.clone(), source }),
        };
        let mut paths: Vec<PathBuf> = listing
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .filter(|path| is_state_file(path))
            .collect();
        paths.sort();
        let mut entries = Vec::new();
        for path in paths {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                // State files are root's, as the sockets are.
                Err(error) if error.kind() == ErrorKind::PermissionDenied => {
                    return Err(ControlError::NeedsRoot { path });
                }
                // Gone since the listing: that chain has stopped.
                Err(_) => continue,
            };
            // A file that is not a state file (written by another version,
            // say) is not a chain.
            if let Ok(entry) = serde_json::from_slice::<ChainEntry>(&bytes) {
                entries.push(entry);
            }
        }
        Ok(entries)
    }
}

fn is_state_file(path: &Path) -> bool {
    let visible = path.file_name().and_then(|name| name.to_str()).is_some_and(|name| !name.starts_with('.'));
    visible && path.extension().is_some_and(|extension| extension == STATE_EXTENSION)
}

/// Whether something accepts connections on `socket`.
pub(super) fn answers(socket: &Path) -> bool {
    // The server takes a connection that closes before sending a line for
    // what it is, a probe, and answers nothing.
    UnixStream::connect(socket).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    fn chain(name: &str) -> ChainName {
        ChainName::new(name).unwrap()
    }

    /// A chain's state file and socket, listening (or not) as a live (or a
    /// killed) `galette run`'s does.
    fn running(dir: &RunDir, name: &str, interfaces: &[&str], live: bool) -> Option<UnixListener> {
        let entry = ChainEntry {
            chain: name.into(),
            pid: 1,
            interfaces: interfaces
                .iter()
                .map(|interface| AttachedInterface { interface: (*interface).into(), role: None })
                .collect(),
        };
        std::fs::write(dir.state_file(&chain(name)), serde_json::to_vec(&entry).unwrap()).unwrap();
        let listener = UnixListener::bind(dir.socket(&chain(name))).unwrap();
        live.then_some(listener)
    }

    #[test]
    fn chain_names_are_safe_file_names() {
        for good in ["macswap", "bump_in_the_wire", "a-1", "X"] {
            assert_eq!(ChainName::new(good).unwrap().as_str(), good);
        }
        for bad in ["", ".", "..", "../etc", "a/b", "-rf", ".hidden", "a b", "a\0b", "é"] {
            assert!(matches!(ChainName::new(bad), Err(ControlError::BadChainName(_))), "{bad:?}");
        }
        assert_eq!(chain("macswap").socket_file(), "macswap.sock");
        assert_eq!(chain("macswap").state_file(), "macswap.json");
    }

    #[test]
    fn a_chain_is_found_by_name_interface_or_as_the_only_one() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let _live = running(&dir, "macswap", &["veth0"], true);
        let expected = Located { chain: chain("macswap"), socket: temp.path().join("macswap.sock") };
        assert_eq!(dir.locate(&ChainTarget::Chain(chain("macswap"))).unwrap(), expected);
        assert_eq!(dir.locate(&ChainTarget::Interface("veth0".into())).unwrap(), expected);
        assert_eq!(dir.locate(&ChainTarget::Any).unwrap(), expected);
    }

    #[test]
    fn nothing_found_says_what_was_looked_for_and_where() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path().join("missing"));
        let _live = running(&RunDir::new(temp.path()), "macswap", &["veth0"], true);
        let by_name = dir.locate(&ChainTarget::Chain(chain("macswap"))).unwrap_err().to_string();
        let socket = temp.path().join("missing/macswap.sock");
        assert_eq!(by_name, format!("no chain `macswap` is running: there is no control socket {}", socket.display()));
        let dir = RunDir::new(temp.path());
        let other = dir.locate(&ChainTarget::Chain(chain("not_macswap"))).unwrap_err().to_string();
        assert!(other.ends_with("not_macswap.sock (running there: macswap)"), "{other}");
        let by_interface = dir.locate(&ChainTarget::Interface("eth7".into())).unwrap_err().to_string();
        assert_eq!(
            by_interface,
            format!(
                "no chain attached to `eth7` is running: no state file in {} names that interface (running there: macswap)",
                temp.path().display()
            )
        );
        let empty = tempfile::tempdir().unwrap();
        let any = RunDir::new(empty.path()).locate(&ChainTarget::Any).unwrap_err().to_string();
        assert_eq!(any, format!("no chain is running: {} holds no chain's state file", empty.path().display()));
    }

    #[test]
    fn a_killed_chains_files_do_not_hide_a_live_one_on_the_same_interface() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let _killed = running(&dir, "old", &["veth0"], false);
        let _live = running(&dir, "new", &["veth0", "veth1"], true);
        assert_eq!(dir.locate(&ChainTarget::Interface("veth0".into())).unwrap().chain, chain("new"));
        assert_eq!(dir.locate(&ChainTarget::Any).unwrap().chain, chain("new"));
        // Alone, a killed chain is found, and connecting to it says it is
        // not running.
        assert_eq!(dir.locate(&ChainTarget::Chain(chain("old"))).unwrap().chain, chain("old"));
    }

    #[test]
    fn two_live_chains_on_one_interface_are_ambiguous() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let _a = running(&dir, "a", &["veth0"], true);
        let _b = running(&dir, "b", &["veth0"], true);
        let error = dir.locate(&ChainTarget::Interface("veth0".into())).unwrap_err();
        assert_eq!(error.to_string(), "several running chains match (a, b): say which one");
        assert!(matches!(dir.locate(&ChainTarget::Any), Err(ControlError::Ambiguous { .. })));
    }

    #[test]
    fn files_in_the_making_and_strangers_are_not_chains() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        std::fs::write(temp.path().join(".macswap.123.json"), b"{}").unwrap();
        std::fs::write(temp.path().join("notes.json"), b"not json").unwrap();
        std::fs::write(temp.path().join("other.txt"), b"x").unwrap();
        assert!(dir.entries().unwrap().is_empty());
    }
}
