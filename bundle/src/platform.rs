use serde::{Deserialize, Serialize};

/// A machine a bundle's native parts (the userland NF libraries) are built
/// for. The eBPF object is the same on every platform: both are
/// little-endian, and the kernel JIT-compiles it for its own CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Platform {
    /// 64-bit x86 PCs and servers, Linux with glibc.
    #[serde(rename = "x86_64-linux")]
    X86_64Linux,
    /// 64-bit Arm: the Raspberry Pi 3, 4 and 5 and their kind, Linux with
    /// glibc 2.31 or later (Raspberry Pi OS 11 and later).
    #[serde(rename = "aarch64-linux")]
    Aarch64Linux,
}

impl Platform {
    pub const ALL: [Platform; 2] = [Platform::X86_64Linux, Platform::Aarch64Linux];

    /// The platform as bundles and the command line spell it
    /// (`aarch64-linux`).
    pub fn name(self) -> &'static str {
        match self {
            Platform::X86_64Linux => "x86_64-linux",
            Platform::Aarch64Linux => "aarch64-linux",
        }
    }

    pub fn from_name(name: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|platform| platform.name() == name)
    }

    /// The platform of the machine this program runs on, if Galette builds
    /// for it.
    pub fn host() -> Option<Platform> {
        Platform::from_name(&host_platform_name())
    }

    /// The Rust target its native parts are compiled for.
    pub fn rust_target(self) -> &'static str {
        match self {
            Platform::X86_64Linux => "x86_64-unknown-linux-gnu",
            Platform::Aarch64Linux => "aarch64-unknown-linux-gnu",
        }
    }

    /// The `e_machine` of its ELF files.
    pub fn elf_machine(self) -> u16 {
        match self {
            Platform::X86_64Linux => 62,   // EM_X86_64
            Platform::Aarch64Linux => 183, // EM_AARCH64
        }
    }

    /// Where the library `file_name` of a userland instance lives in a bundle
    /// for this platform: `user/aarch64-linux/dpi.so`.
    pub fn library_path(self, file_name: &str) -> String {
        format!("user/{}/{file_name}", self.name())
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// This machine's platform as bundles would spell it, whether or not Galette
/// builds for it (`riscv64-linux`): what an error names.
pub fn host_platform_name() -> String {
    format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS)
}

/// `platforms` as a list for messages: `x86_64-linux, aarch64-linux`.
pub fn platform_list(platforms: &[Platform]) -> String {
    platforms.iter().map(|platform| platform.name()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for platform in Platform::ALL {
            assert_eq!(Platform::from_name(platform.name()), Some(platform));
            assert_eq!(serde_json::to_string(&platform).unwrap(), format!("\"{}\"", platform.name()));
        }
        assert_eq!(Platform::from_name("mips-plan9"), None);
    }

    #[test]
    fn this_machine_is_a_platform() {
        // The project builds and tests on x86_64 and aarch64 Linux only.
        assert_eq!(Platform::host().map(Platform::name), Some(host_platform_name().as_str()));
    }
}
