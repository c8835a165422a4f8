//! An XDP program attached to an interface through a bpf_link this process
//! owns, and the atomic replacement of the program behind it.
//!
//! aya attaches through bpf_link too, but its replacement (`attach_to_link`)
//! consumes the link and closes it when the kernel refuses the update, which
//! detaches the interface: a failed reload would stop traffic. Here the link
//! stays ours whatever the kernel says: `BPF_LINK_UPDATE` with
//! `BPF_F_REPLACE` swaps the program only if the link still runs the one we
//! expect, and on any error the link runs the old program as before.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// `bpf(2)` commands and flags (include/uapi/linux/bpf.h).
const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_LINK_UPDATE: libc::c_long = 29;
/// The attach type of XDP programs in `BPF_LINK_CREATE`.
const BPF_XDP: u32 = 37;
/// Replace only if the link's program is `old_prog_fd`.
const BPF_F_REPLACE: u32 = 1 << 2;

/// An interface's XDP attachment. Dropping it closes the link, which
/// detaches the program (the link is never pinned).
#[derive(Debug)]
pub struct XdpLink {
    fd: OwnedFd,
    if_index: u32,
}

impl XdpLink {
    /// Attaches `program` to the interface `if_index` with the XDP mode
    /// `flags` (`XDP_FLAGS_*`).
    pub fn attach(program: BorrowedFd<'_>, if_index: u32, flags: u32) -> io::Result<XdpLink> {
        let mut attr = Attr::default();
        // struct { prog_fd; target_ifindex; attach_type; flags; ... } link_create
        attr.set_u32(0, program.as_raw_fd() as u32);
        attr.set_u32(4, if_index);
        attr.set_u32(8, BPF_XDP);
        attr.set_u32(12, flags);
        let fd = attr.call(BPF_LINK_CREATE)?;
        // SAFETY: BPF_LINK_CREATE returned a new file descriptor we own.
        Ok(XdpLink { fd: unsafe { OwnedFd::from_raw_fd(fd) }, if_index })
    }

    /// Makes the link run `new` instead of `old`, in one step: every packet
    /// runs in one or the other. Fails, changing nothing, if the link does
    /// not run `old`.
    pub fn replace(&self, old: BorrowedFd<'_>, new: BorrowedFd<'_>) -> io::Result<()> {
        let mut attr = Attr::default();
        // struct { link_fd; new_prog_fd; flags; old_prog_fd; } link_update
        attr.set_u32(0, self.fd.as_raw_fd() as u32);
        attr.set_u32(4, new.as_raw_fd() as u32);
        attr.set_u32(8, BPF_F_REPLACE);
        attr.set_u32(12, old.as_raw_fd() as u32);
        attr.call(BPF_LINK_UPDATE).map(|_| ())
    }

    pub fn if_index(&self) -> u32 {
        self.if_index
    }
}

impl AsFd for XdpLink {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A `union bpf_attr`, zeroed: the kernel requires every byte it does not
/// read to be zero, and 64 bytes hold both commands used here.
#[repr(C, align(8))]
struct Attr([u8; 64]);

impl Default for Attr {
    fn default() -> Attr {
        Attr([0; 64])
    }
}

impl Attr {
    fn set_u32(&mut self, offset: usize, value: u32) {
        self.0[offset..offset + 4].copy_from_slice(&value.to_ne_bytes());
    }

    fn call(&mut self, command: libc::c_long) -> io::Result<i32> {
        // SAFETY: `self` is a valid, initialised bpf_attr of the size given,
        // and the kernel only reads it for these commands.
        let result =
            unsafe { libc::syscall(libc::SYS_bpf, command, self.0.as_mut_ptr(), self.0.len() as libc::c_uint) };
        if result < 0 { Err(io::Error::last_os_error()) } else { Ok(result as i32) }
    }
}
