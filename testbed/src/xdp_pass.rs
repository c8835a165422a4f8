//! A minimal XDP program that passes every frame, loaded and attached with
//! the raw `bpf(2)` syscall.
//!
//! Why it exists: on veth, a frame sent with `XDP_TX` or redirected into a
//! veth reaches the peer only if the peer also has an XDP program attached
//! (attaching one switches the peer's receive path to NAPI). Test topologies
//! attach this program to such peers.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::link::interface_index;
use crate::netns::run_in_netns;

/// `enum bpf_cmd` values used here (include/uapi/linux/bpf.h).
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;
/// `enum bpf_prog_type`: BPF_PROG_TYPE_XDP.
const BPF_PROG_TYPE_XDP: u32 = 6;
/// `enum bpf_attach_type`: BPF_XDP.
const BPF_XDP: u32 = 37;
/// The verdict the program returns (`enum xdp_action`).
const XDP_PASS: i32 = 2;
/// The name the program shows under in `bpftool prog` and `ip link`.
const PROGRAM_NAME: &[u8] = b"galette_pass";

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
struct BpfInstruction {
    opcode: u8,
    /// Destination register in the low nibble, source register in the high.
    registers: u8,
    offset: i16,
    immediate: i32,
}

/// `mov64 r0, XDP_PASS; exit`: BPF_ALU64 | BPF_MOV | BPF_K, then
/// BPF_JMP | BPF_EXIT.
static PASS_PROGRAM: [BpfInstruction; 2] = [
    BpfInstruction { opcode: 0xb7, registers: 0, offset: 0, immediate: XDP_PASS },
    BpfInstruction { opcode: 0x95, registers: 0, offset: 0, immediate: 0 },
];

/// The leading part of `union bpf_attr` used by BPF_PROG_LOAD, up to and
/// including `prog_name`, the last field set here. The kernel accepts any
/// attr size up to a page: it zero-fills what a shorter attr leaves out (and
/// rejects a longer one only if the bytes it does not know are non-zero), so
/// fields after `prog_name` are simply zero. Padding between fields is
/// explicit so that every byte passed is initialised to zero.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// The leading part of `union bpf_attr` used by BPF_LINK_CREATE: the
/// `link_create` member's first four fields (the rest are for other link
/// types and are zero-filled by the kernel, as for [`ProgLoadAttr`]).
#[repr(C)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    /// XDP_FLAGS_*; zero lets the kernel pick native mode where the driver
    /// has it (veth does), which is the mode the veth quirk needs.
    flags: u32,
}

/// An XDP_PASS program attached to an interface through a BPF link.
///
/// Dropping the guard closes the link and program file descriptors, which
/// detaches the program (links created this way are not pinned, so nothing
/// else keeps them alive).
#[derive(Debug)]
pub struct XdpPassProgram {
    // Only held, never read: closing these is what detaches the program.
    _link: OwnedFd,
    _program: OwnedFd,
}

/// Loads a program that returns XDP_PASS and attaches it to `ifname` in
/// network namespace `ns`.
///
/// Fails if the interface does not exist or already has an XDP program
/// attached (a BPF link never replaces another program).
pub fn attach_xdp_pass(ns: &str, ifname: &str) -> io::Result<XdpPassProgram> {
    let program = load_pass_program()?;
    let program_fd = raw_fd_as_u32(&program);
    // Interface indexes are per namespace, so the name must be resolved, and
    // the link created, from inside `ns`.
    let link = run_in_netns(ns, || -> io::Result<OwnedFd> {
        let ifindex = interface_index(ifname)
            .map_err(|error| io::Error::new(error.kind(), format!("in namespace {ns}: {error}")))?;
        let attr = LinkCreateAttr { prog_fd: program_fd, target_ifindex: ifindex, attach_type: BPF_XDP, flags: 0 };
        // SAFETY: `attr` is a fully initialised `LinkCreateAttr`, the layout
        // BPF_LINK_CREATE reads, and the size passed is its own.
        unsafe { bpf(BPF_LINK_CREATE, &attr) }.map_err(|error| {
            io::Error::new(
                error.kind(),
                format!("attaching XDP program to {ifname} in namespace {ns} (BPF_LINK_CREATE): {error}"),
            )
        })
    })??;
    Ok(XdpPassProgram { _link: link, _program: program })
}

/// Loads [`PASS_PROGRAM`] as an XDP program and returns its file descriptor.
fn load_pass_program() -> io::Result<OwnedFd> {
    let license = c"GPL";
    let mut prog_name = [0u8; 16];
    prog_name[..PROGRAM_NAME.len()].copy_from_slice(PROGRAM_NAME);
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_XDP,
        insn_cnt: PASS_PROGRAM.len() as u32,
        insns: PASS_PROGRAM.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
    };
    // SAFETY: `attr` is a fully initialised `ProgLoadAttr`; the instructions
    // and license it points to are statics that outlive the call.
    unsafe { bpf(BPF_PROG_LOAD, &attr) }
        .map_err(|error| io::Error::new(error.kind(), format!("loading XDP pass program (BPF_PROG_LOAD): {error}")))
}

/// Issues `bpf(cmd, attr, size_of::<A>())` for a command that returns a new
/// file descriptor.
///
/// # Safety
/// `attr` must have the layout the kernel expects for `cmd`, with every
/// byte initialised, and every pointer in it valid for the call.
unsafe fn bpf<A>(cmd: libc::c_int, attr: &A) -> io::Result<OwnedFd> {
    // SAFETY: upheld by the caller; the kernel reads at most
    // `size_of::<A>()` bytes from `attr`.
    let result = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *const A, mem::size_of::<A>() as libc::c_uint) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    let fd = libc::c_int::try_from(result)
        .map_err(|_| io::Error::other(format!("bpf() returned {result}, not a file descriptor")))?;
    // SAFETY: on success these commands return a new file descriptor that
    // nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The form in which `union bpf_attr` carries a file descriptor.
fn raw_fd_as_u32(fd: &OwnedFd) -> u32 {
    // File descriptors are never negative.
    fd.as_raw_fd() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_layouts_match_the_kernel_offsets() {
        // Offsets from `union bpf_attr` in include/uapi/linux/bpf.h.
        assert_eq!(mem::offset_of!(ProgLoadAttr, insns), 8);
        assert_eq!(mem::offset_of!(ProgLoadAttr, license), 16);
        assert_eq!(mem::offset_of!(ProgLoadAttr, log_buf), 32);
        assert_eq!(mem::offset_of!(ProgLoadAttr, prog_flags), 44);
        assert_eq!(mem::offset_of!(ProgLoadAttr, prog_name), 48);
        assert_eq!(mem::size_of::<ProgLoadAttr>(), 64);
        assert_eq!(mem::offset_of!(LinkCreateAttr, attach_type), 8);
        assert_eq!(mem::size_of::<LinkCreateAttr>(), 16);
        assert_eq!(mem::size_of::<BpfInstruction>(), 8);
    }

    #[test]
    fn program_name_fits_with_its_terminator() {
        assert!(PROGRAM_NAME.len() < 16);
    }
}
