//! The XDP side of [`Packet`]: a frame in the kernel's XDP buffer.

use aya_ebpf::helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail};
use aya_ebpf::programs::XdpContext;

use crate::{AdjustError, Packet};

/// A frame seen by an XDP program. Only exists when compiled for BPF.
pub struct XdpPacket<'a> {
    ctx: &'a XdpContext,
}

impl<'a> XdpPacket<'a> {
    /// Wraps the context the XDP program was called with.
    #[inline(always)]
    pub fn new(ctx: &'a XdpContext) -> Self {
        XdpPacket { ctx }
    }

    #[inline(always)]
    fn window(&self, offset: usize, len: usize) -> Option<usize> {
        // Bounds a computed offset, so the verifier can reason about the
        // pointer arithmetic below.
        if offset > Self::MAX_OFFSET {
            return None;
        }
        let start = self.ctx.data();
        let end = self.ctx.data_end();
        // The verifier only learns a range from `addr + len > end` when it
        // sees that comparison. Left alone, LLVM rewrites `addr + 1 > end`
        // into `addr >= end`, from which the verifier learns nothing when
        // `addr` is the start of the frame or a computed offset (a 1-byte
        // read there is then refused). Hiding `addr`'s origin from LLVM
        // keeps the comparison as written.
        let addr = core::hint::black_box(start + offset);
        if addr + len > end {
            return None;
        }
        Some(addr)
    }
}

impl Packet for XdpPacket<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.ctx.data_end() - self.ctx.data()
    }

    #[inline(always)]
    fn bytes<const N: usize>(&self, offset: usize) -> Option<&[u8; N]> {
        let addr = self.window(offset, N)?;
        // SAFETY: `window` checked that `addr..addr + N` lies inside the frame,
        // and the frame outlives the context borrow.
        Some(unsafe { &*(addr as *const [u8; N]) })
    }

    #[inline(always)]
    fn bytes_mut<const N: usize>(&mut self, offset: usize) -> Option<&mut [u8; N]> {
        let addr = self.window(offset, N)?;
        // SAFETY: as in `bytes`; `&mut self` makes this the only live window.
        Some(unsafe { &mut *(addr as *mut [u8; N]) })
    }

    #[inline(always)]
    fn adjust_head(&mut self, delta: i32) -> Result<(), AdjustError> {
        // SAFETY: the helper checks the bounds itself; the context pointer is
        // the one the kernel passed to this program.
        let status = unsafe { bpf_xdp_adjust_head(self.ctx.ctx, delta) };
        if status == 0 { Ok(()) } else { Err(AdjustError) }
    }

    #[inline(always)]
    fn adjust_tail(&mut self, delta: i32) -> Result<(), AdjustError> {
        // SAFETY: as in `adjust_head`.
        let status = unsafe { bpf_xdp_adjust_tail(self.ctx.ctx, delta) };
        if status == 0 { Ok(()) } else { Err(AdjustError) }
    }
}
