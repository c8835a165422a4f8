//! The arm64 guest system, built once from Debian packages and cached: a
//! Debian 12 arm64 kernel and the modules the tests load, a qemu that runs
//! on this host without being installed, and a Debian 11 arm64 userland
//! (glibc 2.31, as on Raspberry Pi OS 11) with busybox and iproute2.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::debian::{self, PackageVersion, PrivateApt, Status};
use super::files::{self, TempDir};
use super::{modules, sysroot};

/// Kernel modules the guest loads: veth for test networks; virtio-rng so
/// that getrandom() does not block on a fresh TCG machine, and virtio_pci,
/// the transport its `-device virtio-rng-pci` sits on (not a `depends=` of
/// virtio-rng: any transport would do). Their own dependencies
/// (virtio_pci_modern_dev, virtio_pci_legacy_dev) come from `.modinfo`.
const GUEST_MODULES: &[&str] = &["veth", "virtio_pci", "virtio-rng"];

/// The guest's programs: busybox for the shell and small tools, Debian's
/// iproute2 (busybox `ip` has no netns and no veth), ethtool, and the
/// libraries the cross-built runtime links (libelf, zlib).
const USERLAND_PACKAGES: &[&str] = &["busybox-static", "iproute2", "ethtool", "libelf1", "zlib1g"];

/// Packages of the closure only needed by maintainer scripts (debconf
/// questions, dpkg triggers): nothing in the guest runs them.
const SKIPPED_PACKAGES: &[&str] = &["debconf", "perl-base", "dpkg", "tar", "libcap2-bin", "debconf-2.0"];

/// Busybox applets linked in the guest's /bin, unless Debian ships the
/// program. Not `ip`: iproute2's must win (see guest.rs).
const BUSYBOX_APPLETS: &str = "sh ash mount umount mkdir rmdir cat echo ls insmod lsmod poweroff reboot sleep uname \
    dmesg timeout grep sed awk date rm ln cp mv true false kill ps nsenter unshare env mountpoint printf head tail wc \
    sync hexdump seq ping ping6 chmod touch test [ expr tr cut sort uniq find xargs basename dirname readlink realpath \
    stat tee id hostname pidof which free";

/// What `prepare_guest_system` returns: everything `run_guest` boots.
#[derive(Debug, Clone)]
pub struct GuestSystem {
    /// The arm64 kernel Image (plain, uncompressed: qemu loads it without firmware).
    pub kernel: PathBuf,
    /// The .ko files in load order.
    pub modules: Vec<PathBuf>,
    pub qemu: PathBuf,
    /// Environment for `qemu` (LD_LIBRARY_PATH of the extracted libraries).
    pub qemu_env: Vec<(String, String)>,
    /// qemu's `-L` directory, when qemu is not the host's own.
    pub qemu_data_dir: Option<PathBuf>,
    /// The guest's root file system (without /init, modules or payload).
    pub userland_root: PathBuf,
    /// The kernel's release, as `uname -r` prints it: `6.1.0-57-arm64`.
    pub kernel_version: String,
}

/// Written last into a complete system directory.
const STAMP: &str = ".galette-system";

/// The guest system for the current Debian 12 arm64 kernel, under
/// `cache_root/aarch64-system/<kernel package version>/`. Builds it the first
/// time (about 85 MB of downloads, 15-20 s here); later calls only check the
/// package lists (re-fetched once a day) and the stamp (under a second).
///
/// Layout of that directory: `kernel/vmlinuz-<release>`, `modules/*.ko` and
/// `modules/load-order`, `userland/` (Debian 11 arm64 files + busybox links),
/// `qemu/` (extracted qemu-system-arm, absent when the host has its own), and
/// `.galette-system` (what was built from which package versions). The
/// private apt state is in `cache_root/aarch64-system/apt/`.
pub fn prepare_guest_system(cache_root: &Path) -> Result<GuestSystem, String> {
    let base = cache_root.join("aarch64-system");
    files::create_dir_all(&base)?;
    let kernel_apt = PrivateApt::new(&base.join("apt/bookworm-arm64"), &debian::bookworm(), "arm64", Status::Empty)?;
    kernel_apt.update()?;
    let kernel = resolve_kernel(&kernel_apt)?;
    let dir = base.join(&kernel.version);
    let host_qemu = host_qemu();
    if let Some(system) = load(&dir, host_qemu.as_deref())? {
        return Ok(system);
    }
    crate::step(&format!("Preparing the arm64 guest system (kernel {} {})", kernel.package, kernel.version));
    let temp = TempDir::new(&base, &kernel.version)?;
    build_kernel(&kernel_apt, &kernel, &temp.path)?;
    let mut stamp = format!("{}kernel={}\n{}={}\n", layout(), kernel.release, kernel.package, kernel.version);
    for package in build_userland(&base, &temp.path)? {
        stamp.push_str(&format!("userland:{}={}\n", package.name, package.version));
    }
    if host_qemu.is_none() {
        for package in build_qemu(&base, &temp.path)? {
            stamp.push_str(&format!("qemu:{}={}\n", package.name, package.version));
        }
    }
    files::write(&temp.path.join(STAMP), stamp.as_bytes())?;
    // Another run may have finished the same directory meanwhile: keep
    // theirs (it may be in use) and drop ours.
    if let Some(system) = load(&dir, host_qemu.as_deref())? {
        return Ok(system);
    }
    files::remove_dir_all(&dir)?;
    files::rename(&temp.path, &dir)?;
    // Only the arm64 kernel lists are read on later runs (to find the
    // current kernel); the others are fetched again when a new kernel needs
    // a new directory (about 20 MB each).
    files::remove_dir_all(&base.join("apt/bookworm-amd64"))?;
    files::remove_dir_all(&base.join("apt/bullseye-arm64"))?;
    load(&dir, host_qemu.as_deref())?.ok_or_else(|| format!("{} is incomplete right after building it", dir.display()))
}

struct Kernel {
    /// `linux-image-6.1.0-57-arm64-unsigned`.
    package: String,
    /// `6.1.0-57-arm64`.
    release: String,
    /// `6.1.192-3`.
    version: String,
}

/// The meta package `linux-image-arm64` depends on the current ABI's image
/// (`linux-image-6.1.0-57-arm64`); its `-unsigned` twin is the same kernel
/// without the EFI signature, which qemu does not need.
fn resolve_kernel(apt: &PrivateApt) -> Result<Kernel, String> {
    let image = apt
        .depends_of("linux-image-arm64")?
        .into_iter()
        .find(|name| name.starts_with("linux-image-") && name.ends_with("-arm64") && name != "linux-image-arm64")
        .ok_or("linux-image-arm64 depends on no linux-image-*-arm64 package")?;
    let release = image.trim_start_matches("linux-image-").to_owned();
    let package = format!("{image}-unsigned");
    let version = apt.candidate_version(&package)?;
    Ok(Kernel { package, release, version })
}

/// `dir/kernel/vmlinuz-*` and `dir/modules/*.ko` + `load-order`; the rest of
/// the 350 MB package is deleted.
fn build_kernel(apt: &PrivateApt, kernel: &Kernel, dir: &Path) -> Result<(), String> {
    let work = dir.join(".kernel-work");
    let debs = apt.download(std::slice::from_ref(&kernel.package), &work)?;
    let extracted = work.join("x");
    debian::extract(&debs[0], &extracted)?;
    let image = extracted.join(format!("boot/vmlinuz-{}", kernel.release));
    files::create_dir_all(&dir.join("kernel"))?;
    files::copy(&image, &dir.join("kernel").join(image.file_name().unwrap_or_default()))?;
    let order = modules::resolve_load_order(&extracted.join("lib/modules").join(&kernel.release), GUEST_MODULES)?;
    let modules_dir = dir.join("modules");
    files::create_dir_all(&modules_dir)?;
    let mut names = String::new();
    for module in &order {
        let name = module.file_name().and_then(|name| name.to_str()).ok_or("module without a file name")?;
        files::copy(module, &modules_dir.join(name))?;
        names.push_str(name);
        names.push('\n');
    }
    files::write(&modules_dir.join("load-order"), names.as_bytes())?;
    files::remove_dir_all(&work)
}

/// `dir/userland`: the Debian 11 arm64 packages' files, without docs,
/// manuals, locales and gconv, plus busybox's applet links.
fn build_userland(base: &Path, dir: &Path) -> Result<Vec<PackageVersion>, String> {
    let apt = sysroot::bullseye_apt(&base.join("apt/bullseye-arm64"), "arm64")?;
    let closure: Vec<PackageVersion> = apt
        .closure_versions(USERLAND_PACKAGES)?
        .into_iter()
        .filter(|package| !SKIPPED_PACKAGES.contains(&package.name.as_str()))
        .collect();
    let packages: Vec<String> = closure.iter().map(|package| package.name.clone()).collect();
    let work = dir.join(".userland-debs");
    let root = dir.join("userland");
    for deb in apt.download(&packages, &work)? {
        debian::extract(&deb, &root)?;
    }
    files::remove_dir_all(&work)?;
    for unneeded in ["usr/share", "usr/lib/aarch64-linux-gnu/gconv", "usr/lib/locale", "var/lib/dpkg"] {
        files::remove_dir_all(&root.join(unneeded))?;
    }
    if !root.join("bin/busybox").is_file() {
        return Err(format!("busybox-static left no bin/busybox in {}", root.display()));
    }
    for applet in BUSYBOX_APPLETS.split_whitespace() {
        let shipped = ["bin", "sbin", "usr/bin", "usr/sbin"].iter().any(|dir| root.join(dir).join(applet).exists());
        if !shipped {
            let link = root.join("bin").join(applet);
            std::os::unix::fs::symlink("busybox", &link)
                .map_err(|err| format!("cannot link {} to busybox: {err}", link.display()))?;
        }
    }
    Ok(closure)
}

/// `dir/qemu`: qemu-system-arm (with qemu-system-aarch64) and the libraries
/// this host lacks, extracted, not installed: installing Debian 12's
/// qemu-system-arm would remove the machine's newer qemu-utils backport.
fn build_qemu(base: &Path, dir: &Path) -> Result<Vec<PackageVersion>, String> {
    let apt = PrivateApt::new(&base.join("apt/bookworm-amd64"), &debian::bookworm(), "amd64", Status::Host)?;
    apt.update()?;
    let closure = apt.closure_versions(&["qemu-system-arm"])?;
    let packages: Vec<String> = closure.iter().map(|package| package.name.clone()).collect();
    let work = dir.join(".qemu-debs");
    let root = dir.join("qemu");
    for deb in apt.download(&packages, &work)? {
        debian::extract(&deb, &root)?;
    }
    files::remove_dir_all(&work)?;
    for unneeded in ["usr/share/doc", "usr/share/man", "usr/share/locale"] {
        files::remove_dir_all(&root.join(unneeded))?;
    }
    let (qemu, env, _) = cached_qemu(dir);
    let mut command = Command::new(&qemu);
    command.arg("--version").envs(env);
    let version = debian::output_of(&mut command).map_err(|err| format!("the extracted qemu does not run: {err}"))?;
    println!("{}", version.lines().next().unwrap_or_default());
    Ok(closure)
}

/// A `qemu-system-aarch64` on PATH that runs, if there is one.
fn host_qemu() -> Option<PathBuf> {
    let works = Command::new("qemu-system-aarch64").arg("--version").output().is_ok_and(|out| out.status.success());
    works.then(|| PathBuf::from("qemu-system-aarch64"))
}

/// The extracted qemu of a system directory, its environment and data dir.
fn cached_qemu(dir: &Path) -> (PathBuf, Vec<(String, String)>, PathBuf) {
    let root = dir.join("qemu");
    let library_path =
        format!("{}:{}", root.join("usr/lib/x86_64-linux-gnu").display(), root.join("lib/x86_64-linux-gnu").display());
    (
        root.join("usr/bin/qemu-system-aarch64"),
        vec![("LD_LIBRARY_PATH".to_owned(), library_path)],
        root.join("usr/share/qemu"),
    )
}

/// The stamp's first lines: what this code puts into a system directory. A
/// directory built with other modules or packages is built again.
fn layout() -> String {
    format!("modules={}\nuserland={}\n", GUEST_MODULES.join(","), USERLAND_PACKAGES.join(","))
}

/// The system in `dir` if it is complete (stamped by this layout, and with a qemu).
fn load(dir: &Path, host_qemu: Option<&Path>) -> Result<Option<GuestSystem>, String> {
    let Ok(stamp) = std::fs::read_to_string(dir.join(STAMP)) else { return Ok(None) };
    if !stamp.starts_with(&layout()) {
        return Ok(None);
    }
    let kernel_version = stamp
        .lines()
        .find_map(|line| line.strip_prefix("kernel="))
        .ok_or_else(|| format!("{} has no kernel= line", dir.join(STAMP).display()))?
        .to_owned();
    let (qemu, qemu_env, qemu_data_dir) = match host_qemu {
        Some(qemu) => (qemu.to_owned(), Vec::new(), None),
        None => {
            let (qemu, env, data) = cached_qemu(dir);
            if !qemu.is_file() {
                // Built while the host had a qemu that is gone now: build again.
                return Ok(None);
            }
            (qemu, env, Some(data))
        }
    };
    let modules_dir = dir.join("modules");
    let order = std::fs::read_to_string(modules_dir.join("load-order"))
        .map_err(|err| format!("cannot read {}: {err}", modules_dir.join("load-order").display()))?;
    Ok(Some(GuestSystem {
        kernel: dir.join("kernel").join(format!("vmlinuz-{kernel_version}")),
        modules: order.lines().filter(|line| !line.is_empty()).map(|name| modules_dir.join(name)).collect(),
        qemu,
        qemu_env,
        qemu_data_dir,
        userland_root: dir.join("userland"),
        kernel_version,
    }))
}
