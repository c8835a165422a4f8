//! The chain the agent runs: a `galette run` child process, driven through
//! its control socket (the same one `galette reload` and `galette status`
//! use). A separate process keeps the data plane apart from the agent's
//! network code, and the kernel stops it if the agent dies (PDEATHSIG), so
//! no XDP program outlives the agent.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::RunError;
use crate::control::client::{self, Reloaded};
use crate::control::{ChainName, ChainTarget, RunDir};

/// How long a chain may take to attach before the agent gives up on it.
const START_PATIENCE: Duration = Duration::from_secs(60);

/// How to run a chain on this device: what `galette run` gets besides the
/// bundle.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// `--iface`, `--workers`, `--xdp-mode`... as given to `galette agent`.
    pub arguments: Vec<String>,
    pub run_dir: PathBuf,
    pub bpffs: PathBuf,
    /// The fleet key, so the running chain checks reloads too.
    pub trust_key: Option<PathBuf>,
}

pub struct ChainProcess {
    child: Child,
    chain: ChainName,
    run_dir: RunDir,
}

impl ChainProcess {
    /// Starts `galette run` on the bundle in `dir` and waits until its
    /// control socket answers (the chain is attached then).
    pub fn start(dir: &Path, chain: &str, settings: &RunSettings) -> Result<ChainProcess, RunError> {
        let program =
            std::env::current_exe().map_err(|error| RunError::Agent(format!("cannot find galette: {error}")))?;
        let mut command = Command::new(program);
        command
            .arg("--run-dir")
            .arg(&settings.run_dir)
            .arg("--bpffs")
            .arg(&settings.bpffs)
            .arg("run")
            .arg(dir)
            .args(&settings.arguments);
        if let Some(key) = &settings.trust_key {
            command.arg("--trust-key").arg(key);
        }
        // SAFETY: prctl is async-signal-safe and touches only the child.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        };
        let child = command.spawn().map_err(|error| RunError::Agent(format!("cannot start galette run: {error}")))?;
        let mut process =
            ChainProcess { child, chain: ChainName::new(chain)?, run_dir: RunDir::new(settings.run_dir.clone()) };
        process.wait_attached()?;
        Ok(process)
    }

    fn wait_attached(&mut self) -> Result<(), RunError> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().map_err(|error| RunError::Agent(error.to_string()))? {
                return Err(RunError::Agent(format!("the chain did not start: galette run exited with {status}")));
            }
            if client::status(&self.run_dir, &ChainTarget::Chain(self.chain.clone())).is_ok() {
                return Ok(());
            }
            if started.elapsed() > START_PATIENCE {
                self.stop();
                return Err(RunError::Agent(format!("the chain did not attach within {START_PATIENCE:?}")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Has the running chain take the bundle in `dir`, live; the chain keeps
    /// running as it was when it refuses (the error says why).
    pub fn reload(&self, dir: &Path) -> Result<Reloaded, RunError> {
        client::reload(&self.run_dir, Some(ChainTarget::Chain(self.chain.clone())), dir)
    }

    /// Whether the chain still runs; the exit status if it stopped.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Stops the chain (SIGTERM: it detaches) and waits for it.
    pub fn stop(&mut self) {
        if self.exited().is_none() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
            let _ = self.child.wait();
        }
    }
}

impl Drop for ChainProcess {
    fn drop(&mut self) {
        self.stop();
    }
}
