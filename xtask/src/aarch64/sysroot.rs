//! The Debian 11 arm64 sysroot that aarch64 builds link against: glibc 2.31,
//! libelf and zlib exactly as on Raspberry Pi OS 11, so a binary linked here
//! cannot need a newer glibc symbol than the device has.

use std::path::{Path, PathBuf};

use super::debian::{self, PrivateApt, Status};
use super::files::{TempDir, remove_dir_all, rename, write};

/// What the cross linker and the C builds (libbpf, libxdp) need.
const SYSROOT_PACKAGES: &[&str] = &[
    "libc6",
    "libc6-dev",
    "linux-libc-dev",
    "libcrypt1",
    "libcrypt-dev",
    "libnsl2",
    "libnsl-dev",
    "libelf1",
    "libelf-dev",
    "zlib1g",
    "zlib1g-dev",
    "libgcc-s1",
    "libtirpc3",
    "libtirpc-dev",
];

// Written last into a complete sysroot: one `package=version` per line
// (galettec keys its build cache on it).
use galette_cross::SYSROOT_STAMP as STAMP;

/// Whether `dest` holds a complete sysroot.
pub fn sysroot_ready(dest: &Path) -> bool {
    dest.join(STAMP).is_file()
}

/// Installs the sysroot at `dest` (nothing when it is there already). Built
/// in a temp dir next to `dest` and renamed into place, so an interrupted run
/// leaves no half sysroot behind.
pub fn install_sysroot(dest: &Path) -> Result<(), String> {
    if sysroot_ready(dest) {
        return Ok(());
    }
    let parent = dest.parent().ok_or_else(|| format!("{} has no parent directory", dest.display()))?;
    let name = dest.file_name().and_then(|name| name.to_str()).unwrap_or("sysroot");
    let apt_dir = parent.join(format!(".{name}-apt"));
    let apt = bullseye_apt(&apt_dir, "arm64")?;
    let versions = apt.closure_versions(SYSROOT_PACKAGES)?;
    let temp = TempDir::new(parent, name)?;
    let names: Vec<String> = SYSROOT_PACKAGES.iter().map(|&package| package.to_owned()).collect();
    let debs = apt.download(&names, &temp.path.join(".debs"))?;
    let root = temp.path.join("root");
    for deb in &debs {
        debian::extract(deb, &root)?;
    }
    relativize_symlinks(&root)?;
    let stamp: String = versions
        .iter()
        .filter(|package| SYSROOT_PACKAGES.contains(&package.name.as_str()))
        .map(|package| format!("{}={}\n", package.name, package.version))
        .collect();
    write(&root.join(STAMP), stamp.as_bytes())?;
    if sysroot_ready(dest) {
        // Another run finished it meanwhile: keep theirs.
        return Ok(());
    }
    remove_dir_all(dest)?;
    rename(&root, dest)?;
    // The package lists are only needed to build it (23 MB).
    remove_dir_all(&apt_dir)
}

/// The private apt over Debian 11 for `arch`, updated: deb.debian.org, or
/// archive.debian.org once bullseye has moved there.
pub fn bullseye_apt(state_dir: &Path, arch: &str) -> Result<PrivateApt, String> {
    let apt = PrivateApt::new(state_dir, &debian::bullseye(), arch, Status::Empty)?;
    match apt.update() {
        Ok(()) => Ok(apt),
        Err(main_error) => {
            let apt = PrivateApt::new(state_dir, &debian::bullseye_archive(), arch, Status::Empty)?;
            apt.update().map_err(|archive_error| {
                format!("cannot fetch Debian 11 from deb.debian.org ({main_error})\nnor from archive.debian.org ({archive_error})")
            })?;
            Ok(apt)
        }
    }
}

/// Rewrites absolute symlinks (`usr/lib/aarch64-linux-gnu/libpthread.so ->
/// /lib/aarch64-linux-gnu/libpthread.so.0`) relative to `root`: otherwise they
/// point into the host, the linker skips the dangling .so, takes the static
/// archive, and fails with undefined `__aarch64_ldadd4_acq`.
pub fn relativize_symlinks(root: &Path) -> Result<(), String> {
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|err| format!("cannot list {}: {err}", dir.display()))? {
            let entry = entry.map_err(|err| format!("cannot list {}: {err}", dir.display()))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|err| format!("cannot stat {}: {err}", path.display()))?;
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_symlink() {
                let target =
                    std::fs::read_link(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
                if target.is_absolute() {
                    let link_dir = path.strip_prefix(root).ok().and_then(Path::parent).unwrap_or(Path::new(""));
                    let relative = relative_path(link_dir, target.strip_prefix("/").unwrap_or(&target));
                    std::fs::remove_file(&path).map_err(|err| format!("cannot remove {}: {err}", path.display()))?;
                    std::os::unix::fs::symlink(&relative, &path)
                        .map_err(|err| format!("cannot link {} -> {}: {err}", path.display(), relative.display()))?;
                }
            }
        }
    }
    Ok(())
}

/// The path from directory `from` to `to`, both relative to the same root:
/// `usr/lib/x` and `lib/x/libc.so.6` → `../../../lib/x/libc.so.6`.
fn relative_path(from: &Path, to: &Path) -> PathBuf {
    let from: Vec<_> = from.components().collect();
    let to: Vec<_> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut path = PathBuf::new();
    for _ in common..from.len() {
        path.push("..");
    }
    for component in &to[common..] {
        path.push(component);
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("usr/lib/aarch64-linux-gnu"), Path::new("lib/aarch64-linux-gnu/libpthread.so.0")),
            PathBuf::from("../../../lib/aarch64-linux-gnu/libpthread.so.0")
        );
        assert_eq!(relative_path(Path::new("lib"), Path::new("lib/x/y")), PathBuf::from("x/y"));
        assert_eq!(relative_path(Path::new(""), Path::new("lib/ld.so")), PathBuf::from("lib/ld.so"));
    }
}
