//! Pinning a chain's maps in bpffs, so `galette map` (and any bpf tool) can
//! reach them while the chain runs, and with `--keep-maps` after it stops.

use std::path::{Path, PathBuf};

use aya::Ebpf;
use aya::maps::Map;
use galette_bundle::Manifest;

use crate::RunError;

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

/// Mounts bpffs at `bpffs` if it is not a bpffs mount yet (a new machine
/// has /sys/fs/bpf but nothing mounted there).
pub fn ensure_bpffs(bpffs: &Path) -> Result<(), RunError> {
    let shown = bpffs.display();
    let path = std::ffi::CString::new(bpffs.as_os_str().as_encoded_bytes())
        .map_err(|_| RunError::Pin(format!("{shown} is not a valid path")))?;
    // SAFETY: `stats` is a valid statfs to fill; `path` is NUL-terminated.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(path.as_ptr(), &mut stats) } == 0 && stats.f_type as i64 == BPF_FS_MAGIC {
        return Ok(());
    }
    let fstype = std::ffi::CString::new("bpf").expect("no NUL");
    // SAFETY: all strings are NUL-terminated; no data argument.
    let mounted = unsafe { libc::mount(fstype.as_ptr(), path.as_ptr(), fstype.as_ptr(), 0, std::ptr::null()) };
    if mounted != 0 {
        let error = std::io::Error::last_os_error();
        return Err(RunError::Pin(format!(
            "bpffs is not mounted at {shown} and mounting it failed ({error}); run `mount -t bpf bpf {shown}`"
        )));
    }
    Ok(())
}

/// The pins of a running chain's maps; removed on drop unless kept.
pub struct MapPins {
    paths: Vec<PathBuf>,
    keep: bool,
}

impl MapPins {
    /// Pins every chain map of `manifest` at its pin name. A pin left by an
    /// earlier run (`--keep-maps`, or a crash) is replaced.
    pub fn pin(ebpf: &Ebpf, manifest: &Manifest, bpffs: &Path, keep: bool) -> Result<MapPins, RunError> {
        let mut pins = MapPins { paths: Vec::new(), keep };
        ensure_bpffs(bpffs)?;
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
                std::fs::create_dir_all(parent)
                    .map_err(|err| RunError::Pin(format!("cannot create {}: {err}", parent.display())))?;
            }
            if path.exists() {
                let _ = std::fs::remove_file(&path);
            }
            map_data(map)
                .ok_or_else(|| RunError::Pin(format!("the map `{name}` cannot be pinned")))?
                .pin(&path)
                .map_err(|err| RunError::Pin(format!("cannot pin `{name}` at {}: {err}", path.display())))?;
            pins.paths.push(path);
        }
        Ok(pins)
    }
}

impl Drop for MapPins {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for path in &self.paths {
            let _ = std::fs::remove_file(path);
            // The chain's directory goes too once it is empty.
            if let Some(parent) = path.parent() {
                let _ = std::fs::remove_dir(parent);
            }
        }
    }
}

fn map_data(map: &Map) -> Option<&aya::maps::MapData> {
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
