//! Issue 16: aarch64 bundles proven on a real arm64 kernel, under
//! qemu-system-aarch64 (TCG) on this x86_64 host. Everything comes from
//! Debian packages fetched by a private apt (the host's apt state and
//! installed packages are never changed) and is cached:
//!
//! - [`install_sysroot`]: Debian 11 arm64 (glibc 2.31) to cross-link against;
//! - [`prepare_guest_system`]: kernel + modules, qemu, a Debian 11 userland;
//! - [`run_guest`]: boots it with a payload and one command;
//! - [`highest_glibc_version`]: what glibc a built binary needs.
//!
//! See /work/aarch64-proto/FINDINGS.md for the research behind each choice.

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

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use glibc::highest_glibc_version;
pub use guest::{GuestRun, PayloadFile, build_initramfs, run_guest};
pub use sysroot::{install_sysroot, sysroot_ready};
pub use system::{GuestSystem, prepare_guest_system};

use crate::step;

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

/// The prototype's cross-built runtime (FINDINGS.md), for the smoke test.
const PROTOTYPE_GALETTE: &str = "/work/aarch64-proto/galette-aarch64-gcc";

/// The guest command of the smoke test: two namespaces, a veth pair, a ping
/// across, the runtime's `--version`, and what glibc the guest has.
const SMOKE_COMMAND: &str = "set -e
ip netns add smoke-a
ip netns add smoke-b
ip link add va type veth peer name vb
ip link set va netns smoke-a
ip link set vb netns smoke-b
ip -n smoke-a addr add 198.18.0.1/24 dev va
ip -n smoke-b addr add 198.18.0.2/24 dev vb
ip -n smoke-a link set va up
ip -n smoke-b link set vb up
ip netns exec smoke-a ping -c 2 -W 2 198.18.0.2
ethtool -i va 2>/dev/null || ip netns exec smoke-a ethtool -i va
uname -a
ls /lib/aarch64-linux-gnu/libc-*.so
echo \"hw_random: $(cat /sys/class/misc/hw_random/rng_current)\"
/payload/galette --version
echo SMOKE-OK";

/// `cargo xtask aarch64-smoke` (temporary): prepares the guest system, boots
/// it with the prototype runtime and a small network test, prints timings.
pub fn smoke() -> Result<(), String> {
    let cache_root = default_cache_root();
    let started = Instant::now();
    let system = prepare_guest_system(&cache_root)?;
    let prepared = started.elapsed();
    step(&format!("Guest system ready in {:.2} s: kernel {}", prepared.as_secs_f64(), system.kernel_version));
    println!("{system:#?}");
    let sysroot = cache_root.join("aarch64/sysroot-bullseye");
    let started = Instant::now();
    install_sysroot(&sysroot)?;
    println!(
        "sysroot {} ready ({}) in {:.2} s",
        sysroot.display(),
        sysroot_ready(&sysroot),
        started.elapsed().as_secs_f64()
    );

    let galette = Path::new(PROTOTYPE_GALETTE);
    if let Ok(data) = std::fs::read(galette) {
        println!("{PROTOTYPE_GALETTE} needs glibc {:?}", highest_glibc_version(&data)?);
    }
    let payload =
        vec![PayloadFile { guest_path: "/payload/galette".to_owned(), host_path: galette.to_owned(), mode: 0o755 }];
    // GALETTE_SMOKE_COMMAND / GALETTE_SMOKE_TIMEOUT: try other commands
    // (e.g. a failing or hanging one) while this subcommand exists.
    let command = std::env::var("GALETTE_SMOKE_COMMAND").unwrap_or_else(|_| SMOKE_COMMAND.to_owned());
    let timeout = std::env::var("GALETTE_SMOKE_TIMEOUT").ok().and_then(|secs| secs.parse().ok()).unwrap_or(180);
    let work_dir = std::env::temp_dir().join(format!("galette-aarch64-smoke-{}", std::process::id()));
    let result = smoke_run(&system, &payload, &command, Duration::from_secs(timeout), &work_dir);
    let _ = std::fs::remove_dir_all(&work_dir);
    let (initramfs_time, size, run) = result?;
    println!("{}", run.console);
    step(&format!(
        "prepare {:.2} s, initramfs {:.2} s ({} MB), boot to exit {:.2} s, guest status {}",
        prepared.as_secs_f64(),
        initramfs_time.as_secs_f64(),
        size / 1_000_000,
        run.elapsed.as_secs_f64(),
        run.exit_status
    ));
    if run.exit_status == 0 && run.console.contains("SMOKE-OK") {
        Ok(())
    } else {
        Err(format!("the smoke test failed in the guest (status {})", run.exit_status))
    }
}

fn smoke_run(
    system: &GuestSystem,
    payload: &[PayloadFile],
    command: &str,
    timeout: Duration,
    work_dir: &Path,
) -> Result<(Duration, u64, GuestRun), String> {
    std::fs::create_dir_all(work_dir).map_err(|err| format!("cannot create {}: {err}", work_dir.display()))?;
    // Timed separately here; run_guest builds it again (a second or two).
    let started = Instant::now();
    let size = build_initramfs(system, payload, command, &work_dir.join("initramfs.cpio"))?;
    let initramfs_time = started.elapsed();
    let run = run_guest(system, payload, command, timeout, work_dir)?;
    Ok((initramfs_time, size, run))
}
