//! The run directory of the benchmark's own `galette run`s (their
//! `--run-dir`, where each keeps its control socket): one per benchmark
//! run, so that the benchmark's chains never meet a chain of the machine's
//! under `/run/galette`, and removed with everything in it when the run
//! ends.

use std::io::ErrorKind;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use crate::BenchError;

/// Where the directories go: short, since a Unix socket's path must fit in
/// 108 bytes, and root's, as the sockets are.
const PARENT: &str = "/run";
const PREFIX: &str = "galette-bench-";

/// `/run/galette-bench-PID`, removed on drop.
pub struct ControlDir {
    path: PathBuf,
}

impl ControlDir {
    /// Creates this process's directory (mode 0700, as `galette run` makes
    /// its own).
    pub fn create() -> Result<ControlDir, BenchError> {
        let path = Path::new(PARENT).join(format!("{PREFIX}{}", std::process::id()));
        // A directory of this pid can only be a dead run's that had it too.
        let _ = std::fs::remove_dir_all(&path);
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|err| BenchError::Setup(format!("cannot create {}: {err}", path.display())))?;
        Ok(ControlDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ControlDir {
    fn drop(&mut self) {
        // The `galette run`s are stopped by then, and have removed their
        // sockets; whatever a killed one left goes too.
        if let Err(err) = std::fs::remove_dir_all(&self.path)
            && err.kind() != ErrorKind::NotFound
        {
            eprintln!("galette-bench: cannot remove {}: {err}", self.path.display());
        }
    }
}

/// Removes the directories of benchmark runs whose process is gone (a run
/// killed with SIGKILL cannot clean up after itself).
pub fn remove_stale() {
    let Ok(listing) = std::fs::read_dir(PARENT) else { return };
    for entry in listing.flatten() {
        let name = entry.file_name();
        let Some(pid) =
            name.to_str().and_then(|name| name.strip_prefix(PREFIX)).and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
