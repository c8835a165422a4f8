//! File helpers shared by the cache builders: a temp dir that cleans up after
//! itself, and std::fs calls whose errors name the path.

use std::path::{Path, PathBuf};

/// A directory removed when dropped (also on errors), unless it was renamed.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    /// `parent/.name.tmp-<pid>`, on the same file system as where it goes.
    pub fn new(parent: &Path, name: &str) -> Result<Self, String> {
        let path = parent.join(format!(".{name}.tmp-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).map_err(|err| format!("cannot remove {}: {err}", path.display()))?;
        }
        std::fs::create_dir_all(&path).map_err(|err| format!("cannot create {}: {err}", path.display()))?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

pub fn write(path: &Path, data: &[u8]) -> Result<(), String> {
    std::fs::write(path, data).map_err(|err| format!("cannot write {}: {err}", path.display()))
}

pub fn rename(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::rename(from, to).map_err(|err| format!("cannot rename {} to {}: {err}", from.display(), to.display()))
}

pub fn create_dir_all(path: &Path) -> Result<(), String> {
    std::fs::create_dir_all(path).map_err(|err| format!("cannot create {}: {err}", path.display()))
}

pub fn copy(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::copy(from, to)
        .map(drop)
        .map_err(|err| format!("cannot copy {} to {}: {err}", from.display(), to.display()))
}

pub fn remove_dir_all(path: &Path) -> Result<(), String> {
    match std::fs::remove_dir_all(path) {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(format!("cannot remove {}: {err}", path.display()))
        }
        _ => Ok(()),
    }
}
