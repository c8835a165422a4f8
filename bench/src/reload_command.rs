//! One live reload as a user does it: the `galette reload` command, timed
//! from its start to its exit, and the switch time the running chain
//! reports for it (from `galette status`'s history, which has it to the
//! nanosecond where the command's line rounds it to 0.1 ms).

use std::path::{Path, PathBuf};
use std::process::Command;

use galette::control::client;
use galette::control::{ChainName, ChainTarget, ReloadOutcome, RunDir};
use galette_bundle::{Bundle, error_chain};

use crate::BenchError;
use crate::timeline::monotonic_ns;

/// A bundle to reload, with the digest the running chain reports for it.
#[derive(Debug, Clone)]
pub struct ReloadBundle {
    pub path: PathBuf,
    pub digest: String,
}

impl ReloadBundle {
    pub fn open(path: &Path) -> Result<ReloadBundle, BenchError> {
        let bundle = Bundle::open(path)
            .map_err(|err| BenchError::Setup(format!("cannot open {}: {}", path.display(), error_chain(&err))))?;
        Ok(ReloadBundle { path: path.to_owned(), digest: bundle.digest })
    }
}

/// One reload, timed on CLOCK_MONOTONIC (see [`monotonic_ns`]).
#[derive(Debug, Clone, Copy)]
pub struct TimedReload {
    pub started_ns: u64,
    pub ended_ns: u64,
    pub switch_ns: u64,
}

/// Reloads the chain `chain` that a `galette run` with `--run-dir
/// run_dir` runs.
pub struct Reloader<'a> {
    pub galette: &'a Path,
    pub run_dir: &'a Path,
    pub chain: &'a str,
}

impl Reloader<'_> {
    /// `galette reload --chain CHAIN BUNDLE`; fails unless the chain
    /// reloaded to `bundle`.
    pub fn reload(&self, bundle: &ReloadBundle) -> Result<TimedReload, BenchError> {
        let started_ns = monotonic_ns();
        let output = Command::new(self.galette)
            .arg("--run-dir")
            .arg(self.run_dir)
            .args(["reload", "--chain", self.chain])
            .arg(&bundle.path)
            .output()
            .map_err(|err| BenchError::Run(format!("cannot run {}: {err}", self.galette.display())))?;
        let ended_ns = monotonic_ns();
        if !output.status.success() {
            return Err(BenchError::Run(format!(
                "galette reload {} failed ({}): {}",
                bundle.path.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let switch_ns = self.last_switch(bundle)?;
        Ok(TimedReload { started_ns, ended_ns, switch_ns })
    }

    /// The switch time of the chain's last reload, which must be the one to
    /// `bundle` (the bundles alternate, so the digest tells it from the one
    /// before).
    fn last_switch(&self, bundle: &ReloadBundle) -> Result<u64, BenchError> {
        let chain = ChainName::new(self.chain).map_err(|err| BenchError::Run(error_chain(&err)))?;
        let status = client::status(&RunDir::new(self.run_dir), &ChainTarget::Chain(chain))
            .map_err(|err| BenchError::Run(format!("galette status after a reload: {}", error_chain(&err))))?;
        match status.reloads.last().map(|record| &record.outcome) {
            Some(ReloadOutcome::Ok { report }) if report.to_digest == bundle.digest => {
                Ok(u64::try_from(report.switch_after.as_nanos()).unwrap_or(u64::MAX))
            }
            other => Err(BenchError::Run(format!(
                "after reloading {}, the chain's last reload is not it: {other:?}",
                bundle.path.display()
            ))),
        }
    }
}
