//! Brings a new machine to a working state, and does nothing (quickly) when
//! it is there already: Debian packages, the rust-src, rustfmt and clippy components,
//! bpf-linker built against rustc's own LLVM (see shared/TOOLCHAIN.md), and
//! what cross-builds for aarch64: rustup's target and a Debian 11 sysroot.

use std::path::{Path, PathBuf};
use std::process::Command;

use galette_bundle::Platform;

use crate::{run_command, step};

/// What the build and the tests need from Debian: libelf/zlib/pcap/clang/m4/
/// pkg-config for the AF_XDP libraries, iproute2 and ethtool for test
/// networks, util-linux for `setpriv` (privilege tests), and the programs
/// the real-traffic test runs through the security chain: iperf3, curl,
/// nmap, and python3 for its `http.server`; graphviz for the `dot` that
/// `galettec explain --emit dot -o chain.svg` renders with; Debian's cross
/// gcc for aarch64 (the linker of `galettec --platform aarch64-linux` and
/// the C compiler of the cross-built runtime); Debian's `docker-registry`
/// (CNCF distribution), the OCI registry the bundle-distribution tests
/// start, and `skopeo`, a registry client nobody here wrote that they check
/// the published artifacts with; Mosquitto, the MQTT broker the fleet tests
/// start, and its command-line clients, which read what agents report;
/// Neovim, the real LSP client (run headless) that a test of `galettec lsp`
/// talks to.
const APT_PACKAGES: &[&str] = &[
    "libelf-dev",
    "zlib1g-dev",
    "clang",
    "libclang-dev",
    "pkg-config",
    "m4",
    "libpcap-dev",
    "ethtool",
    "iproute2",
    "util-linux",
    "iperf3",
    "nftables",
    "curl",
    "nmap",
    "python3",
    "graphviz",
    "gcc-aarch64-linux-gnu",
    "docker-registry",
    "skopeo",
    "mosquitto",
    "mosquitto-clients",
    "neovim",
];

/// The bpf-linker release known to work with this toolchain.
const BPF_LINKER_VERSION: &str = "0.13.0";

pub fn run() -> Result<(), String> {
    install_apt_packages()?;
    install_rust_src()?;
    install_lint_tools()?;
    install_bpf_linker()?;
    install_cross_target()?;
    install_aarch64_sysroot()?;
    Ok(())
}

/// rustup's standard library for aarch64, which NF libraries and the
/// runtime are cross-built against.
fn install_cross_target() -> Result<(), String> {
    let target = Platform::Aarch64Linux.rust_target();
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|err| format!("cannot run rustup: {err}"))?;
    if String::from_utf8_lossy(&installed.stdout).lines().any(|line| line.trim() == target) {
        return Ok(());
    }
    step(&format!("Adding rustup's {target} target (cross-builds for Raspberry Pi class devices)"));
    run_command(Command::new("rustup").args(["target", "add", target]))
}

/// The Debian 11 (glibc 2.31) arm64 sysroot that cross-built code links
/// against, so that it runs on Raspberry Pi OS 11 (see `galette_cross`).
fn install_aarch64_sysroot() -> Result<(), String> {
    let dest = galette_cross::sysroot_dir(Platform::Aarch64Linux);
    if crate::aarch64::sysroot_ready(&dest) {
        return Ok(());
    }
    step(&format!("Installing the Debian 11 arm64 sysroot (glibc 2.31) in {}", dest.display()));
    crate::aarch64::install_sysroot(&dest)
}

fn install_apt_packages() -> Result<(), String> {
    let missing: Vec<&str> = APT_PACKAGES.iter().copied().filter(|package| !apt_installed(package)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    step(&format!("Installing Debian packages: {}", missing.join(" ")));
    if !is_root() {
        return Err(format!(
            "these packages are missing and installing them needs root: sudo apt-get install {}",
            missing.join(" ")
        ));
    }
    run_command(Command::new("apt-get").arg("update"))?;
    // Packages with a daemon (mosquitto, docker-registry) must not start a
    // system service: the tests start their own servers and stop them. A
    // policy-rc.d that refuses every start is Debian's way to say so; one the
    // machine has already is left as it is.
    let policy = Path::new(POLICY_RC_D);
    let created_policy = !policy.exists();
    if created_policy {
        std::fs::write(policy, "#!/bin/sh\n# Written by cargo xtask setup while it installs packages.\nexit 101\n")
            .map_err(|err| format!("cannot write {POLICY_RC_D}: {err}"))?;
        std::fs::set_permissions(policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|err| format!("cannot make {POLICY_RC_D} executable: {err}"))?;
    }
    let installed = run_command(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    );
    if created_policy {
        let _ = std::fs::remove_file(policy);
    }
    installed?;
    // Where systemd runs, the unit stays off too.
    let _ =
        Command::new("systemctl").args(["disable", "--now", "mosquitto.service", "docker-registry.service"]).output();
    Ok(())
}

/// Debian's hook that decides whether a package may start its service.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";

fn apt_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Status}", package])
        .output()
        .is_ok_and(|output| output.stdout == b"installed")
}

fn install_rust_src() -> Result<(), String> {
    if sysroot()?.join("lib/rustlib/src/rust/library/core").is_dir() {
        return Ok(());
    }
    step("Adding the rust-src component (eBPF builds compile `core` from source)");
    run_command(Command::new("rustup").args(["component", "add", "rust-src"]))
}

/// rustfmt and clippy, which `cargo xtask test` runs before the tests (a
/// minimal rustup profile has neither).
fn install_lint_tools() -> Result<(), String> {
    let works = |tool: &str| {
        Command::new(crate::cargo()).args([tool, "--version"]).output().is_ok_and(|output| output.status.success())
    };
    if works("fmt") && works("clippy") {
        return Ok(());
    }
    step("Adding the rustfmt and clippy components (the test command checks both)");
    run_command(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))
}

fn install_bpf_linker() -> Result<(), String> {
    let linker = cargo_home().join("bin/bpf-linker");
    let works = Command::new(&linker).arg("--version").output().is_ok_and(|output| {
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains(BPF_LINKER_VERSION)
    });
    if works {
        return Ok(());
    }
    step(&format!("Building bpf-linker {BPF_LINKER_VERSION} against rustc's own LLVM (about two minutes)"));
    let sysroot_lib = sysroot()?.join("lib");
    let llvm_major = llvm_major()?;
    let llvm_dylib = find_llvm_dylib(&sysroot_lib, &llvm_major)?;
    // Links bpf-linker to the libLLVM that ships with the toolchain, so it
    // always matches rustc's LLVM; no system LLVM of that version is needed.
    let rustflags = format!("-L {0} -C link-arg=-Wl,-rpath,{0} -l dylib={llvm_dylib}", sysroot_lib.display());
    run_command(
        Command::new(crate::cargo())
            .args(["install", "bpf-linker", "--force", "--version", BPF_LINKER_VERSION, "--no-default-features"])
            .args(["--features", &format!("llvm-{llvm_major},no-llvm-linking")])
            .env("RUSTFLAGS", rustflags),
    )
}

fn sysroot() -> Result<PathBuf, String> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map_err(|err| format!("cannot run rustc: {err}"))?;
    Ok(PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// The major version of rustc's LLVM (`LLVM version: 22.1.2` → `22`).
fn llvm_major() -> Result<String, String> {
    let output = Command::new("rustc")
        .args(["--version", "--verbose"])
        .output()
        .map_err(|err| format!("cannot run rustc: {err}"))?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("LLVM version: "))
        .and_then(|version| version.split('.').next())
        .map(str::to_owned)
        .ok_or_else(|| "rustc does not say which LLVM it uses".to_owned())
}

/// `LLVM-22-rust-1.95.0-stable` for `libLLVM-22-rust-1.95.0-stable.so`.
fn find_llvm_dylib(sysroot_lib: &Path, llvm_major: &str) -> Result<String, String> {
    let prefix = format!("libLLVM-{llvm_major}-rust-");
    std::fs::read_dir(sysroot_lib)
        .map_err(|err| format!("cannot list {}: {err}", sysroot_lib.display()))?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .find(|name| name.starts_with(&prefix) && name.ends_with(".so"))
        .map(|name| name.trim_start_matches("lib").trim_end_matches(".so").to_owned())
        .ok_or_else(|| format!("no {prefix}*.so in {}; is this a rustup toolchain?", sysroot_lib.display()))
}

fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo"))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
