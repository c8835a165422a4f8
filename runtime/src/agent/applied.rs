//! The agent's cache: the desired state it last applied (still signed, so
//! it is checked again when read back) and where its bundle is, written
//! atomically after every change.

use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use galette_fleet::state::SignedDesiredState;
use serde::{Deserialize, Serialize};

use crate::RunError;
use crate::trust::Trust;

const FILE: &str = "applied.json";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Applied {
    pub desired: SignedDesiredState,
    pub bundle_dir: PathBuf,
    pub chain: String,
}

impl Applied {
    /// The cached state, if any: refused if its signature or its bundle no
    /// longer checks out.
    pub fn load(dir: &Path, fleet_key: &VerifyingKey, trust: &Trust) -> Result<Option<Applied>, RunError> {
        let path = dir.join(FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(RunError::Agent(format!("cannot read {}: {error}", path.display()))),
        };
        let applied: Applied = serde_json::from_slice(&bytes)
            .map_err(|error| RunError::Agent(format!("{} is not an agent cache: {error}", path.display())))?;
        applied.desired.verify(fleet_key).map_err(|error| RunError::Agent(format!("{}: {error}", path.display())))?;
        trust.open(&applied.bundle_dir)?;
        Ok(Some(applied))
    }

    pub fn save(&self, dir: &Path) -> Result<(), RunError> {
        let io = |error: std::io::Error| {
            RunError::Agent(format!("cannot write the agent cache in {}: {error}", dir.display()))
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let partial = dir.join(format!("{FILE}.partial"));
        std::fs::write(&partial, serde_json::to_vec_pretty(self).expect("the cache serialises")).map_err(io)?;
        std::fs::rename(&partial, dir.join(FILE)).map_err(io)
    }
}
