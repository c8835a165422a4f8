//! How `galette run` takes its chain's place in the run directory: the
//! socket and the state file, which its [`Claim`] removes again when the
//! run ends, however it ends (short of SIGKILL: the next run of the chain
//! replaces what a killed one left).
//!
//! Two runs starting at once take turns: each takes an exclusive `flock` on
//! the directory while it looks at the socket and puts its own files there,
//! and so does removing them. The kernel drops the lock with the process, so
//! a killed run never holds it.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use super::error::ControlError;
use super::run_dir::{ChainEntry, ChainName, MAX_SOCKET_PATH, RunDir, answers};

/// The run directory's files of one running chain. Dropping it removes
/// them, each only if it is still the one this process put there.
#[derive(Debug)]
pub struct Claim {
    run_dir: PathBuf,
    files: Vec<OwnedFile>,
    socket: PathBuf,
}

impl Claim {
    /// The chain's control socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Without the lock (the directory is gone, say), removing is still
        // better than leaving.
        let _lock = DirLock::take(&self.run_dir).ok();
        remove_owned(&self.files);
    }
}

/// A file this process put in the run directory, known by its inode and its
/// change time (inode numbers are reused), so that a file another run put
/// at the same path later is left alone.
#[derive(Debug)]
struct OwnedFile {
    path: PathBuf,
    id: FileId,
}

type FileId = (u64, u64, i64, i64);

/// Creates the run directory if needed (0700), refuses if `entry`'s chain
/// answers on its socket, and otherwise puts the chain's socket (0600) and
/// state file there, replacing any that a killed run left. Returns the
/// claim and the socket's listener.
pub fn claim(run_dir: &RunDir, entry: &ChainEntry) -> Result<(Claim, UnixListener), ControlError> {
    let chain = ChainName::new(&entry.chain)?;
    let path = run_dir.path();
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|source| ControlError::RunDir { path: path.to_owned(), source })?;
    let _lock = DirLock::take(path)?;
    let mut placed = Vec::new();
    match place(run_dir, &chain, entry, &mut placed) {
        Ok(listener) => {
            let claim = Claim { run_dir: path.to_owned(), files: placed, socket: run_dir.socket(&chain) };
            Ok((claim, listener))
        }
        Err(error) => {
            remove_owned(&placed);
            Err(error)
        }
    }
}

/// The steps of [`claim`] under the lock; what is in place is in `placed`.
fn place(
    run_dir: &RunDir,
    chain: &ChainName,
    entry: &ChainEntry,
    placed: &mut Vec<OwnedFile>,
) -> Result<UnixListener, ControlError> {
    let socket = run_dir.socket(chain);
    check_socket_path(&socket)?;
    if answers(&socket) {
        return Err(ControlError::AlreadyRunning { chain: chain.to_string(), socket });
    }
    // Bound under a private name and renamed into place, so the socket
    // never exists at its path with other permissions than 0600, and a
    // killed run's socket is replaced in one step.
    let listen_error = |source| ControlError::Listen { path: socket.clone(), source };
    let temporary = run_dir.path().join(format!(".{}.{}.sock", chain, std::process::id()));
    check_socket_path(&temporary)?;
    remove_if_there(&temporary).map_err(listen_error)?;
    let listener = UnixListener::bind(&temporary).map_err(listen_error)?;
    let moved = std::fs::set_permissions(&temporary, Permissions::from_mode(0o600))
        .and_then(|()| std::fs::rename(&temporary, &socket));
    if let Err(source) = moved {
        let _ = std::fs::remove_file(&temporary);
        return Err(listen_error(source));
    }
    placed.push(OwnedFile { id: file_id(&socket).map_err(listen_error)?, path: socket.clone() });

    let state = run_dir.state_file(chain);
    let state_error = |source| ControlError::StateFile { path: state.clone(), source };
    let temporary = run_dir.path().join(format!(".{}.{}.json", chain, std::process::id()));
    remove_if_there(&temporary).map_err(state_error)?;
    let contents = serde_json::to_vec_pretty(entry).expect("a chain entry always serializes");
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| file.write_all(&contents))
        .and_then(|()| std::fs::rename(&temporary, &state));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(state_error(source));
    }
    placed.push(OwnedFile { id: file_id(&state).map_err(state_error)?, path: state });
    Ok(listener)
}

fn check_socket_path(path: &Path) -> Result<(), ControlError> {
    let length = path.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(ControlError::SocketPathTooLong { path: path.to_owned(), length });
    }
    Ok(())
}

fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

fn file_id(path: &Path) -> std::io::Result<FileId> {
    std::fs::symlink_metadata(path)
        .map(|metadata| (metadata.dev(), metadata.ino(), metadata.ctime(), metadata.ctime_nsec()))
}

fn remove_owned(files: &[OwnedFile]) {
    for file in files {
        if file_id(&file.path).is_ok_and(|id| id == file.id) {
            let _ = std::fs::remove_file(&file.path);
        }
    }
}

/// An exclusive `flock` on the run directory, released on drop.
struct DirLock {
    _directory: File,
}

impl DirLock {
    fn take(path: &Path) -> Result<DirLock, ControlError> {
        let lock_error = |source| ControlError::LockRunDir { path: path.to_owned(), source };
        let directory = File::open(path).map_err(lock_error)?;
        directory.lock().map_err(lock_error)?;
        Ok(DirLock { _directory: directory })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::AttachedInterface;

    fn entry(chain: &str) -> ChainEntry {
        ChainEntry {
            chain: chain.into(),
            pid: std::process::id(),
            interfaces: vec![AttachedInterface { interface: "veth0".into(), role: None }],
        }
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_claim_makes_a_private_directory_socket_and_state_file_and_removes_them() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path().join("galette"));
        let chain = ChainName::new("macswap").unwrap();
        let (claim, _listener) = claim(&dir, &entry("macswap")).unwrap();
        assert_eq!(mode(dir.path()), 0o700);
        assert_eq!(mode(&dir.socket(&chain)), 0o600);
        assert_eq!(mode(&dir.state_file(&chain)), 0o600);
        assert_eq!(dir.entries().unwrap(), vec![entry("macswap")]);
        assert_eq!(claim.socket(), dir.socket(&chain));
        drop(claim);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_live_chain_is_not_claimed_twice_and_a_killed_ones_files_are_replaced() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let (first, listener) = claim(&dir, &entry("macswap")).unwrap();
        let error = claim(&dir, &entry("macswap")).unwrap_err();
        assert!(matches!(&error, ControlError::AlreadyRunning { chain, .. } if chain == "macswap"), "{error}");
        // As after SIGKILL: the files stay, nothing listens.
        drop(listener);
        std::mem::forget(first);
        let (second, _listener) = claim(&dir, &entry("macswap")).unwrap();
        assert!(answers(second.socket()));
        drop(second);
        assert!(!dir.socket(&ChainName::new("macswap").unwrap()).exists());
    }

    #[test]
    fn a_claim_leaves_files_it_did_not_put_there() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path());
        let chain = ChainName::new("macswap").unwrap();
        let (claim, _listener) = claim(&dir, &entry("macswap")).unwrap();
        // Another run replaced the state file meanwhile (later than the
        // kernel's coarse clock, which change times come from, ticks).
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::remove_file(dir.state_file(&chain)).unwrap();
        std::fs::write(dir.state_file(&chain), b"{}").unwrap();
        drop(claim);
        assert!(dir.state_file(&chain).exists());
        assert!(!dir.socket(&chain).exists());
    }

    #[test]
    fn an_overlong_socket_path_is_refused_with_the_reason() {
        let temp = tempfile::tempdir().unwrap();
        let dir = RunDir::new(temp.path().join("d".repeat(MAX_SOCKET_PATH)));
        let error = claim(&dir, &entry("macswap")).unwrap_err();
        assert!(matches!(error, ControlError::SocketPathTooLong { .. }), "{error}");
        assert!(error.to_string().contains("more than the 107 a Unix socket's path may have"), "{error}");
    }
}
