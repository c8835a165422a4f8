//! aarch64 bundles proven on a real arm64 kernel, under
//! qemu-system-aarch64 (TCG) on this x86_64 host. Everything comes from
//! Debian packages fetched by a private apt (the host's apt state and
//! installed packages are never changed) and is cached:
//!
//! - [`install_sysroot`]: Debian 11 arm64 (glibc 2.31) to cross-link against;
//! - [`prepare_guest_system`]: kernel + modules, qemu, a Debian 11 userland;
//! - [`run_guest`]: boots it with a payload and one command;
//! - [`highest_glibc_version`]: what glibc a built binary needs.
//!
//! docs/raspberry-pi.md says why each piece is what it is.

mod cpio;
pub mod debian;
mod elf;
mod files;
mod glibc;
mod guest;
mod initramfs;
mod modules;
mod sysroot;
mod system;

use std::path::PathBuf;

pub use glibc::highest_glibc_version;
pub use guest::{PayloadFile, run_guest};
pub use sysroot::{install_sysroot, sysroot_ready};
pub use system::prepare_guest_system;

/// `$GALETTE_CACHE_DIR`, else `$XDG_CACHE_HOME/galette`, else `~/.cache/galette`.
pub fn default_cache_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("GALETTE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("galette");
    }
    PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/galette")
}
