//! Pinning a chain's maps in bpffs, so `galette map` (and any bpf tool) can
//! reach them while the chain runs, and with `--keep-maps` after it stops.

use std::io;
use std::path::{Path, PathBuf};

use aya::Ebpf;
use aya::maps::Map;
use galette_bundle::Manifest;

/// Where bpffs is usually mounted, and where galette pins by default.
pub const BPFFS: &str = "/sys/fs/bpf";

/// `BPF_FS_MAGIC`, what statfs reports for a bpffs mount.
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

/// Where the map with pin name `pin_name` is pinned under the bpffs mount
/// `bpffs`.
pub fn pin_path(bpffs: &Path, pin_name: &str) -> PathBuf {
    bpffs.join(pin_name)
}

/// Where a chain's counters are pinned, relative to the bpffs mount.
pub fn stats_pin_name(chain: &str) -> String {
    format!("galette/{chain}/{}", galette_bundle::STATS_MAP)
}

/// Why the chain's maps could not be pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("{} is not a valid path", .0.display())]
    BadPath(PathBuf),
    #[error("bpffs is not mounted at {} and cannot be mounted there (try `mount -t bpf bpf {}` as root)", .path.display(), .path.display())]
    Mount { path: PathBuf, source: io::Error },
    #[error("cannot create {}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("the map `{0}` is of a kind that cannot be pinned")]
    Unpinnable(String),
    #[error("cannot pin `{map}` at {}", path.display())]
    Pin { map: String, path: PathBuf, source: aya::pin::PinError },
}

/// Mounts bpffs at `bpffs` if it is not a bpffs mount yet (a new machine
/// has /sys/fs/bpf but nothing mounted there).
pub fn ensure_bpffs(bpffs: &Path) -> Result<(), PinError> {
    let path = std::ffi::CString::new(bpffs.as_os_str().as_encoded_bytes())
        .map_err(|_| PinError::BadPath(bpffs.to_owned()))?;
    // SAFETY: `stats` is a valid statfs to fill; `path` is NUL-terminated.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stats) } == 0 && stats.f_type as i64 == BPF_FS_MAGIC {
        return Ok(());
    }
    let fstype = std::ffi::CString::new("bpf").expect("no NUL");
    // SAFETY: all strings are NUL-terminated; no data argument.
    let mounted = unsafe { libc::mount(fstype.as_ptr(), path.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if mounted != 0 {
        return Err(PinError::Mount { path: bpffs.to_owned(), source: io::Error::last_os_error() });
    }
    Ok(())
}

/// The pins of a running chain's maps, and the directories made for them;
/// removed on drop unless kept.
pub struct MapPins {
    paths: Vec<PathBuf>,
    directories: CreatedDirectories,
    keep: bool,
}

impl MapPins {
    /// Pins every chain map of `manifest` at its pin name. A pin left by an
    /// earlier run (`--keep-maps`, or a crash) is replaced.
    pub fn pin(ebpf: &Ebpf, manifest: &Manifest, bpffs: &Path, keep: bool) -> Result<MapPins, PinError> {
        ensure_bpffs(bpffs)?;
        // Filled as pins are made, so that a failure half way removes what
        // was made until then (on drop).
        let mut pins = MapPins { paths: Vec::new(), directories: CreatedDirectories::default(), keep };
        // The chain's maps, and its counters for `galette stats`.
        let stats = (galette_bundle::STATS_MAP.to_owned(), stats_pin_name(&manifest.chain));
        let to_pin = manifest
            .maps
            .iter()
            .map(|entry| (entry.name.clone(), entry.pin_name.clone()))
            .chain(std::iter::once(stats));
        for (name, pin_name) in to_pin {
            let Some(map) = ebpf.map(&name) else { continue };
            let path = pin_path(bpffs, &pin_name);
            if let Some(parent) = path.parent() {
                pins.directories
                    .create(parent)
                    .map_err(|source| PinError::CreateDir { path: parent.to_owned(), source })?;
            }
            if path.exists() {
                let _ = std::fs::remove_file(&path);
            }
            map_data(map)
                .ok_or_else(|| PinError::Unpinnable(name.clone()))?
                .pin(&path)
                .map_err(|source| PinError::Pin { map: name.clone(), path: path.clone(), source })?;
            pins.paths.push(path);
        }
        Ok(pins)
    }
}

impl MapPins {
    /// After a reload switched to the chain in `ebpf`: removes the pins in
    /// `stale` (maps the new chain dropped or made anew), then pins each map
    /// of the new chain named in `created` (and its counters when
    /// `counters_are_new`) in place of whatever its path holds, and each
    /// kept one whose pin is missing. Best effort: the new chain runs
    /// already, and a map that cannot be pinned is only unreachable by
    /// `galette map`, so what failed is returned for the report.
    pub fn after_reload(
        &mut self,
        ebpf: &Ebpf,
        manifest: &Manifest,
        bpffs: &Path,
        stale: &[String],
        created: &[String],
        counters_are_new: bool,
    ) -> Vec<String> {
        let mut failures = Vec::new();
        for pin_name in stale {
            let path = pin_path(bpffs, pin_name);
            let _ = std::fs::remove_file(&path);
            self.paths.retain(|pinned| pinned != &path);
        }
        let stats = (galette_bundle::STATS_MAP, stats_pin_name(&manifest.chain), counters_are_new);
        let to_pin = manifest
            .maps
            .iter()
            .map(|entry| (entry.name.as_str(), entry.pin_name.clone(), created.contains(&entry.name)))
            .chain(std::iter::once(stats));
        for (name, pin_name, is_new) in to_pin {
            let path = pin_path(bpffs, &pin_name);
            if !is_new && path.exists() {
                continue;
            }
            // A pin left there (by a `--keep-maps` run, say) is of another map.
            let _ = std::fs::remove_file(&path);
            let pinned = ebpf.map(name).and_then(map_data).map(|map| map.pin(&path));
            match pinned {
                Some(Ok(())) => {
                    if !self.paths.contains(&path) {
                        self.paths.push(path);
                    }
                }
                _ => failures.push(format!("cannot pin `{name}` at {}", path.display())),
            }
        }
        failures
    }
}

impl Drop for MapPins {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
        }
        self.directories.remove_empty();
    }
}

/// The directories galette made (`galette/`, `galette/CHAIN/` under the
/// bpffs mount), so it removes those and only those: a directory that was
/// there before, or that holds anything else, stays.
#[derive(Debug, Default)]
struct CreatedDirectories {
    /// Parents before their children.
    created: Vec<PathBuf>,
}

impl CreatedDirectories {
    /// Creates `directory` and whatever of its parents is missing,
    /// remembering each one this made.
    fn create(&mut self, directory: &Path) -> io::Result<()> {
        let missing: Vec<&Path> = directory.ancestors().take_while(|ancestor| !ancestor.exists()).collect();
        for path in missing.into_iter().rev() {
            match std::fs::create_dir(path) {
                Ok(()) => self.created.push(path.to_owned()),
                // Made by someone else in the meantime: theirs, not ours.
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Removes each directory this made, children first, if it is empty
    /// (`remove_dir` refuses one that is not).
    fn remove_empty(&self) {
        for path in self.created.iter().rev() {
            let _ = std::fs::remove_dir(path);
        }
    }
}

pub(crate) fn map_data(map: &Map) -> Option<&aya::maps::MapData> {
    match map {
        Map::Array(data)
        | Map::HashMap(data)
        | Map::LruHashMap(data)
        | Map::LpmTrie(data)
        | Map::PerCpuArray(data)
        | Map::PerCpuHashMap(data) => Some(data),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_directories_galette_made_are_removed() {
        let bpffs = tempfile::tempdir().unwrap();
        let chain = bpffs.path().join("galette/chain");
        let mut made = CreatedDirectories::default();
        made.create(&chain).unwrap();
        assert!(chain.is_dir());
        assert_eq!(made.created, [bpffs.path().join("galette"), chain.clone()]);
        made.remove_empty();
        assert!(!bpffs.path().join("galette").exists(), "galette/ goes with the chain's directory");
        assert!(bpffs.path().is_dir(), "the mount itself was there before");
    }

    #[test]
    fn a_directory_that_was_there_or_is_not_empty_stays() {
        let bpffs = tempfile::tempdir().unwrap();
        std::fs::create_dir(bpffs.path().join("galette")).unwrap();
        let mut made = CreatedDirectories::default();
        made.create(&bpffs.path().join("galette/chain")).unwrap();
        assert_eq!(made.created, [bpffs.path().join("galette/chain")]);
        made.remove_empty();
        assert!(bpffs.path().join("galette").is_dir(), "galette/ was there before");
        assert!(!bpffs.path().join("galette/chain").exists());

        let mut made = CreatedDirectories::default();
        made.create(&bpffs.path().join("mine/chain")).unwrap();
        std::fs::write(bpffs.path().join("mine/someone-else's"), "").unwrap();
        made.remove_empty();
        assert!(bpffs.path().join("mine").is_dir(), "a directory holding anything else stays");
        assert!(!bpffs.path().join("mine/chain").exists());
    }
}
