//! Building native code for a platform other than this machine's: which
//! cross linker and which sysroot, and the environment that tells cargo, the
//! `cc` crate and bindgen about them. `galettec --platform` builds NF
//! libraries with it, `cargo xtask build --target` the runtime.
//!
//! Why a sysroot of Debian 11 (glibc 2.31) rather than the cross libc of the
//! build machine: a program linked against glibc 2.34 or later needs
//! `GLIBC_2.34` symbols (glibc moved libpthread and libdl into libc then),
//! which a Raspberry Pi running Raspberry Pi OS 11 (Debian 11, glibc 2.31)
//! lacks. Linking against that release's own libc, libelf and zlib gives
//! binaries that run there and on every later release. See
//! docs/raspberry-pi.md.

use std::path::{Path, PathBuf};

use galette_bundle::Platform;

/// The oldest glibc the cross-built artifacts run on: that of Raspberry Pi
/// OS 11 (Debian 11).
pub const OLDEST_GLIBC: (u32, u32) = (2, 31);

/// A cross toolchain for one platform: Debian's cross gcc (as the linker and
/// C compiler) over a Debian 11 sysroot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossToolchain {
    pub platform: Platform,
    /// The Debian 11 root holding the platform's libc, libelf and zlib.
    pub sysroot: PathBuf,
}

/// Why native code cannot be built for a platform here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CrossError {
    #[error(
        "building for {target} on {host} is not supported (Galette cross-builds from x86_64-linux to aarch64-linux)"
    )]
    Unsupported { target: Platform, host: String },
    #[error("the {platform} sysroot is not installed at {}; run `cargo xtask setup` (or set GALETTE_SYSROOT_DIR)", .path.display())]
    NoSysroot { platform: Platform, path: PathBuf },
    #[error(
        "the cross compiler {0} is not installed; run `cargo xtask setup` (it installs Debian's gcc-aarch64-linux-gnu)"
    )]
    NoCompiler(&'static str),
}

/// Where `cargo xtask setup` installs the sysroot of `platform`:
/// `$GALETTE_SYSROOT_DIR/PLATFORM`, by default under `/opt/galette/sysroots`.
pub fn sysroot_dir(platform: Platform) -> PathBuf {
    let root = std::env::var_os("GALETTE_SYSROOT_DIR").map_or_else(|| PathBuf::from(DEFAULT_SYSROOTS), PathBuf::from);
    root.join(platform.name())
}

/// The default directory of sysroots.
pub const DEFAULT_SYSROOTS: &str = "/opt/galette/sysroots";

/// The file `cargo xtask setup` writes last into a complete sysroot.
pub const SYSROOT_STAMP: &str = ".galette-sysroot";

impl CrossToolchain {
    /// The toolchain that builds for `platform` on this machine; `None` when
    /// `platform` is this machine's (the native toolchain builds for it).
    pub fn for_platform(platform: Platform) -> Result<Option<CrossToolchain>, CrossError> {
        let host = Platform::host();
        if host == Some(platform) {
            return Ok(None);
        }
        if (host, platform) != (Some(Platform::X86_64Linux), Platform::Aarch64Linux) {
            return Err(CrossError::Unsupported { target: platform, host: galette_bundle::host_platform_name() });
        }
        let sysroot = sysroot_dir(platform);
        if !sysroot.join(SYSROOT_STAMP).is_file() {
            return Err(CrossError::NoSysroot { platform, path: sysroot });
        }
        let toolchain = CrossToolchain { platform, sysroot };
        if !on_path(&toolchain.tool("gcc")) {
            return Err(CrossError::NoCompiler("aarch64-linux-gnu-gcc"));
        }
        Ok(Some(toolchain))
    }

    /// Debian's name for the platform's GNU triple, the prefix of its cross
    /// tools (`aarch64-linux-gnu`).
    pub fn gnu_triple(&self) -> &'static str {
        match self.platform {
            Platform::X86_64Linux => "x86_64-linux-gnu",
            Platform::Aarch64Linux => "aarch64-linux-gnu",
        }
    }

    /// A cross tool by its plain name (`gcc` → `aarch64-linux-gnu-gcc`).
    pub fn tool(&self, name: &str) -> String {
        format!("{}-{name}", self.gnu_triple())
    }

    /// What cargo needs to link Rust code for the platform against the
    /// sysroot: the linker, and link arguments that make gcc look in the
    /// sysroot *before* its own (Debian's cross gcc searches its own newer
    /// libc first even with `--sysroot`).
    pub fn cargo_env(&self) -> Vec<(String, String)> {
        let target = cargo_env_name(self.platform.rust_target());
        let sysroot = self.sysroot.display();
        let triple = self.gnu_triple();
        let link_args = [
            format!("--sysroot={sysroot}"),
            format!("-B{sysroot}/usr/lib/{triple}"),
            format!("-L{sysroot}/lib/{triple}"),
            format!("-L{sysroot}/usr/lib/{triple}"),
        ];
        let rustflags: Vec<String> = link_args.iter().map(|arg| format!("-Clink-arg={arg}")).collect();
        vec![
            (format!("CARGO_TARGET_{target}_LINKER"), self.tool("gcc")),
            // Space-separated: none of the arguments has a space unless the
            // sysroot's path does, which `sysroot_dir` never gives.
            (format!("CARGO_TARGET_{target}_RUSTFLAGS"), rustflags.join(" ")),
        ]
    }

    /// What C code built by `-sys` crates (libbpf, libxdp in the runtime)
    /// needs on top of [`CrossToolchain::cargo_env`]: the `cc` crate's
    /// compiler, archiver and flags for the target, bindgen's clang
    /// arguments, and the tools libxdp-sys calls by their plain names.
    pub fn c_env(&self) -> Vec<(String, String)> {
        let target = self.platform.rust_target().replace('-', "_");
        let sysroot_flag = format!("--sysroot={}", self.sysroot.display());
        vec![
            (format!("CC_{target}"), self.tool("gcc")),
            (format!("AR_{target}"), self.tool("ar")),
            (format!("CFLAGS_{target}"), sysroot_flag.clone()),
            (format!("BINDGEN_EXTRA_CLANG_ARGS_{target}"), sysroot_flag),
            // libxdp-sys compiles its BPF programs with `clang -target bpf
            // -I/usr/include/aarch64-linux-gnu`, which only exists with the
            // platform's linux-libc-dev installed; its `asm/` headers are in
            // the sysroot. (No C is compiled for the build machine in a cross
            // build, so nothing else sees them.)
            ("CPATH".to_owned(), self.sysroot.join("usr/include").join(self.gnu_triple()).display().to_string()),
            // libxdp-sys wraps its BPF objects with `$LD -r -b binary` and
            // `$OBJCOPY`, which must produce objects of the target.
            ("LD".to_owned(), self.tool("ld")),
            ("OBJCOPY".to_owned(), self.tool("objcopy")),
        ]
    }
}

/// `aarch64-unknown-linux-gnu` as cargo spells it in environment variables.
fn cargo_env_name(rust_target: &str) -> String {
    rust_target.to_uppercase().replace('-', "_")
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| is_executable(&dir.join(program))))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toolchain() -> CrossToolchain {
        CrossToolchain {
            platform: Platform::Aarch64Linux,
            sysroot: PathBuf::from("/opt/galette/sysroots/aarch64-linux"),
        }
    }

    #[test]
    fn this_machines_platform_needs_no_cross_toolchain() {
        assert_eq!(CrossToolchain::for_platform(Platform::host().unwrap()), Ok(None));
    }

    #[test]
    fn cargo_links_against_the_sysroot_before_gccs_own_libc() {
        let env = toolchain().cargo_env();
        assert!(
            env.contains(&("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER".into(), "aarch64-linux-gnu-gcc".into()))
        );
        let (_, flags) = env.iter().find(|(name, _)| name.ends_with("_RUSTFLAGS")).unwrap();
        assert_eq!(
            flags,
            "-Clink-arg=--sysroot=/opt/galette/sysroots/aarch64-linux \
             -Clink-arg=-B/opt/galette/sysroots/aarch64-linux/usr/lib/aarch64-linux-gnu \
             -Clink-arg=-L/opt/galette/sysroots/aarch64-linux/lib/aarch64-linux-gnu \
             -Clink-arg=-L/opt/galette/sysroots/aarch64-linux/usr/lib/aarch64-linux-gnu"
        );
    }

    #[test]
    fn c_code_is_compiled_by_the_cross_gcc_for_the_target_only() {
        let env = toolchain().c_env();
        assert!(env.contains(&("CC_aarch64_unknown_linux_gnu".into(), "aarch64-linux-gnu-gcc".into())));
        assert!(env.contains(&("LD".into(), "aarch64-linux-gnu-ld".into())));
    }
}
