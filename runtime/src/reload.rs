//! Replacing a running chain with a new bundle, live: the new chain is
//! loaded and wired beside the old one, then one atomic switch per attached
//! link moves every interface to it (see docs/architecture.md, "Live
//! reload").

use std::time::Duration;

use galette_bundle::Bundle;

use crate::RunError;
use crate::loader::RunningChain;

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    /// The digests of the bundle that ran before and of the one that runs now.
    pub from_digest: String,
    pub to_digest: String,
    /// The chain's maps: those of the same shape in both bundles, which are
    /// the same kernel maps before and after (their contents stay); those
    /// that are new or changed shape (created empty); those the new bundle
    /// no longer has (unpinned after the switch).
    pub kept: Vec<String>,
    pub created: Vec<String>,
    pub removed: Vec<String>,
    /// From the start of the reload to the last link switched.
    pub switch_after: Duration,
}

impl RunningChain {
    /// Replaces the running chain with `bundle`. On any error the running
    /// chain is exactly as it was and traffic never stopped.
    pub fn reload(&mut self, bundle: Bundle) -> Result<ReloadReport, RunError> {
        let _ = bundle;
        Err(RunError::Reload(ReloadRefusal::NotYet))
    }
}

/// Why a reload was refused; the running chain is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum ReloadRefusal {
    #[error("reloading is not built yet")]
    NotYet,
}
