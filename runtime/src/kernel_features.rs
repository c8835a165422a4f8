//! What this machine's kernel offers of what Galette needs, asked of the
//! kernel itself rather than read from a config file (which a device may
//! not have): `galette check` prints it, and `galette run` refuses, in one
//! sentence naming the kernel option, a chain the kernel cannot run.
//!
//! A board vendor's kernel is where these go missing: the GALETTE paper had
//! to rebuild Raspberry Pi OS's kernel for them.

use std::io;

/// A kernel feature Galette uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// The bpf(2) system call: loading any eBPF program.
    BpfSyscall,
    /// Programs of type XDP (which also needs the bpf(2) call).
    XdpPrograms,
    /// The JIT compiler, without which programs run interpreted (slower).
    BpfJit,
    /// AF_XDP sockets, the path up to userland NFs.
    AfXdp,
}

impl Feature {
    pub const ALL: [Feature; 4] = [Feature::BpfSyscall, Feature::XdpPrograms, Feature::BpfJit, Feature::AfXdp];

    pub fn name(self) -> &'static str {
        match self {
            Feature::BpfSyscall => "eBPF (the bpf system call)",
            Feature::XdpPrograms => "XDP programs",
            Feature::BpfJit => "the eBPF JIT compiler",
            Feature::AfXdp => "AF_XDP sockets",
        }
    }

    /// The kernel configuration option that provides it.
    pub fn config_option(self) -> &'static str {
        match self {
            Feature::BpfSyscall => "CONFIG_BPF_SYSCALL",
            // XDP comes with the bpf call and networking (CONFIG_NET); it
            // has no option of its own.
            Feature::XdpPrograms => "CONFIG_BPF_SYSCALL and CONFIG_NET",
            Feature::BpfJit => "CONFIG_BPF_JIT",
            Feature::AfXdp => "CONFIG_XDP_SOCKETS",
        }
    }

    /// What a chain loses without it.
    pub fn needed_for(self) -> &'static str {
        match self {
            Feature::BpfSyscall | Feature::XdpPrograms => "every chain",
            Feature::BpfJit => "speed: without it the XDP part runs interpreted",
            Feature::AfXdp => "chains with userland NFs",
        }
    }
}

/// What the kernel said about a feature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Availability {
    Available,
    /// Missing, and why the probe thinks so.
    Missing(String),
    /// The probe could not tell (e.g. not allowed to try without root).
    Unknown(String),
}

/// The availability of every feature, in [`Feature::ALL`]'s order.
pub fn probe() -> Vec<(Feature, Availability)> {
    let loaded = load_pass_program();
    let (bpf, xdp) = program_availability(&loaded);
    let jit = jit_availability(&loaded, std::fs::read_to_string(JIT_SYSCTL));
    vec![
        (Feature::BpfSyscall, bpf),
        (Feature::XdpPrograms, xdp),
        (Feature::BpfJit, jit),
        (Feature::AfXdp, probe_af_xdp()),
    ]
}

/// Whether the kernel JIT-compiled a loaded program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Jited(bool);

/// The features a chain cannot run without that the kernel lacks, for a
/// chain with (or without) userland NFs.
pub fn missing_for_chain(features: &[(Feature, Availability)], has_userland: bool) -> Vec<(Feature, String)> {
    needed(features, has_userland)
        .filter_map(|(feature, availability)| match availability {
            Availability::Missing(why) => Some((*feature, why.clone())),
            _ => None,
        })
        .collect()
}

/// Whether every feature some chain needs is known to be there (what
/// `galette check` answers): none missing, none the probe could not tell.
pub fn all_chains_can_run(features: &[(Feature, Availability)]) -> bool {
    needed(features, true).all(|(_, availability)| *availability == Availability::Available)
}

/// The features a chain with (or without) userland NFs cannot run without.
fn needed(features: &[(Feature, Availability)], has_userland: bool) -> impl Iterator<Item = &(Feature, Availability)> {
    features.iter().filter(move |(feature, _)| match feature {
        Feature::BpfSyscall | Feature::XdpPrograms => true,
        Feature::AfXdp => has_userland,
        Feature::BpfJit => false,
    })
}

const JIT_SYSCTL: &str = "/proc/sys/net/core/bpf_jit_enable";

/// Whether the JIT works: the kernel says whether it compiled the program
/// it loaded; the JIT's sysctl says why not (switched off), or stands in
/// when no program could be loaded. The sysctl exists only in the first
/// network namespace, so its absence alone proves nothing.
fn jit_availability(loaded: &io::Result<Jited>, setting: io::Result<String>) -> Availability {
    let switched_off = || Availability::Missing(format!("built in but switched off: `echo 1 > {JIT_SYSCTL}`"));
    match (loaded, setting.as_deref().map(str::trim)) {
        (Ok(Jited(true)), _) => Availability::Available,
        (_, Ok("0")) => switched_off(),
        (Ok(Jited(false)), _) => Availability::Missing(
            "the kernel ran a loaded program interpreted: it was built without the JIT".to_owned(),
        ),
        (Err(_), Ok(_)) => Availability::Available,
        (Err(_), Err(error)) => Availability::Unknown(format!("cannot read {JIT_SYSCTL}: {error}")),
    }
}

fn probe_af_xdp() -> Availability {
    const AF_XDP: libc::c_int = 44;
    // SAFETY: socket(2) with constant arguments; the descriptor is closed below.
    let fd = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    if fd >= 0 {
        // SAFETY: `fd` is the socket just opened, owned here.
        unsafe { libc::close(fd) };
        return Availability::Available;
    }
    match io::Error::last_os_error() {
        error if error.raw_os_error() == Some(libc::EAFNOSUPPORT) => {
            Availability::Missing("the kernel does not know the AF_XDP address family".to_owned())
        }
        error if error.raw_os_error() == Some(libc::EPERM) => {
            Availability::Unknown("not allowed to open an AF_XDP socket (needs CAP_NET_RAW)".to_owned())
        }
        error => Availability::Unknown(format!("socket(AF_XDP): {error}")),
    }
}

/// Whether the bpf call exists, and whether it takes XDP programs, from how
/// loading the smallest XDP program went.
fn program_availability(loaded: &io::Result<Jited>) -> (Availability, Availability) {
    match loaded {
        Ok(_) => (Availability::Available, Availability::Available),
        Err(error) => match error.raw_os_error() {
            Some(libc::ENOSYS) => {
                let missing = Availability::Missing("the kernel has no bpf system call".to_owned());
                (missing.clone(), missing)
            }
            Some(libc::EPERM | libc::EACCES) => {
                let unknown = Availability::Unknown("not allowed to load a program (needs root)".to_owned());
                (unknown.clone(), unknown)
            }
            Some(libc::EINVAL) => (
                Availability::Available,
                Availability::Missing("the kernel refused an XDP program of two instructions".to_owned()),
            ),
            _ => (
                Availability::Unknown(format!("bpf(BPF_PROG_LOAD): {error}")),
                Availability::Unknown(error.to_string()),
            ),
        },
    }
}

/// Loads the smallest XDP program (`return XDP_PASS`), asks whether it was
/// JIT-compiled, and closes it.
fn load_pass_program() -> io::Result<Jited> {
    const BPF_PROG_LOAD: libc::c_long = 5;
    const BPF_PROG_TYPE_XDP: u32 = 6;
    // r0 = 2 (XDP_PASS); exit.
    let instructions: [u64; 2] = [0x0000_0002_0000_00b7, 0x0000_0000_0000_0095];
    let license = c"GPL";
    // The first fields of the kernel's `union bpf_attr` for BPF_PROG_LOAD;
    // the rest of the union stays zero.
    #[repr(C)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        rest: [u8; 104],
    }
    let attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: instructions.len() as u32,
        insns: instructions.as_ptr() as u64,
        license: license.as_ptr() as u64,
        rest: [0; 104],
    };
    // SAFETY: bpf(2) reads `attr` (valid for its size) and the instruction
    // and license buffers it points to, which outlive the call.
    let fd = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &attr as *const ProgLoad, std::mem::size_of::<ProgLoad>())
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = fd as libc::c_int;
    let jited = jited_length(fd).is_ok_and(|length| length > 0);
    // SAFETY: `fd` is the program just loaded, owned here.
    unsafe { libc::close(fd) };
    Ok(Jited(jited))
}

/// The length of the machine code the JIT made of program `fd` (0 when it
/// runs interpreted), from BPF_OBJ_GET_INFO_BY_FD.
fn jited_length(fd: libc::c_int) -> io::Result<u32> {
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    // The first fields of the kernel's `struct bpf_prog_info`; the kernel
    // fills no more than `info_len` bytes.
    #[repr(C)]
    #[derive(Default)]
    struct ProgInfo {
        prog_type: u32,
        id: u32,
        tag: [u8; 8],
        jited_prog_len: u32,
        xlated_prog_len: u32,
    }
    #[repr(C)]
    struct InfoByFd {
        bpf_fd: u32,
        info_len: u32,
        info: u64,
        rest: [u8; 112],
    }
    let mut info = ProgInfo::default();
    let attr = InfoByFd {
        bpf_fd: fd as u32,
        info_len: std::mem::size_of::<ProgInfo>() as u32,
        info: &mut info as *mut ProgInfo as u64,
        rest: [0; 112],
    };
    // SAFETY: bpf(2) writes at most `info_len` bytes to `info`, which lives
    // until after the call.
    let result = unsafe {
        libc::syscall(libc::SYS_bpf, BPF_OBJ_GET_INFO_BY_FD, &attr as *const InfoByFd, std::mem::size_of::<InfoByFd>())
    };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info.jited_prog_len)
}

/// `galette check`'s table: one line per feature.
pub fn report(features: &[(Feature, Availability)]) -> String {
    let mut text = String::new();
    for (feature, availability) in features {
        let (mark, detail) = match availability {
            Availability::Available => ("ok", String::new()),
            Availability::Missing(why) => ("MISSING", format!(": {why} ({})", feature.config_option())),
            Availability::Unknown(why) => ("unknown", format!(": {why}")),
        };
        text += &format!("{mark:>8}  {}, for {}{detail}\n", feature.name(), feature.needed_for());
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_runs_chains_jit_compiled() {
        // The tests run as root on a kernel with everything (TOOLCHAIN.md).
        let features = probe();
        assert_eq!(features.len(), Feature::ALL.len());
        for (feature, availability) in &features {
            assert_eq!(*availability, Availability::Available, "{}", feature.name());
        }
        assert!(missing_for_chain(&features, true).is_empty());
        assert_eq!(load_pass_program().unwrap(), Jited(true));
    }

    #[test]
    fn a_kernel_without_the_jit_or_with_it_off_is_told_apart() {
        let absent = || Err(io::Error::from(io::ErrorKind::NotFound));
        let denied = || Err(io::Error::from(io::ErrorKind::PermissionDenied));
        assert_eq!(jit_availability(&Ok(Jited(true)), absent()), Availability::Available);
        let off = jit_availability(&Ok(Jited(false)), Ok("0\n".to_owned()));
        assert!(matches!(&off, Availability::Missing(why) if why.contains("switched off")), "{off:?}");
        // Outside the first network namespace the sysctl is absent.
        let built_without = jit_availability(&Ok(Jited(false)), absent());
        assert!(matches!(&built_without, Availability::Missing(why) if why.contains("without the JIT")));
        // Not allowed to load a program: only the sysctl can tell.
        assert_eq!(jit_availability(&denied(), Ok("1\n".to_owned())), Availability::Available);
        assert!(matches!(jit_availability(&denied(), absent()), Availability::Unknown(_)));
    }

    #[test]
    fn af_xdp_is_needed_only_by_chains_with_userland_nfs() {
        let features = vec![
            (Feature::BpfSyscall, Availability::Available),
            (Feature::XdpPrograms, Availability::Available),
            (Feature::BpfJit, Availability::Missing("off".into())),
            (Feature::AfXdp, Availability::Missing("no AF_XDP".into())),
        ];
        assert!(missing_for_chain(&features, false).is_empty(), "the JIT is only speed");
        assert_eq!(missing_for_chain(&features, true), vec![(Feature::AfXdp, "no AF_XDP".to_owned())]);
        let table = report(&features);
        assert!(
            table.contains("MISSING  AF_XDP sockets, for chains with userland NFs: no AF_XDP (CONFIG_XDP_SOCKETS)")
        );
    }
}
