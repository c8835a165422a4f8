//! `std.compute`: a benchmark NF that does a configurable amount of work per
//! packet and lets it through unchanged.
#![no_std]

use nf_std::Packet;
use nf_std::maps::Array;

/// Index in `config` of the operations per packet.
pub const OPS: u32 = 0;

/// The most operations per packet in XDP.
pub const MAX_OPS_XDP: u32 = 4096;

/// The most operations per packet where this build runs.
pub const MAX_OPS: u32 = if cfg!(target_arch = "bpf") { MAX_OPS_XDP } else { u32::MAX };

/// The FNV-1a 64-bit prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;
/// The FNV-1a 64-bit offset basis.
const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

#[nf_std::maps]
pub struct Maps {
    config: Array<u32>,
}

/// The ports of `compute`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Every packet, unchanged.
    Out,
}

#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    let ops = maps.config.get(OPS).unwrap_or(0);
    let result = work(seed(pkt), ops);
    // SAFETY: a write to a live local; volatile so the work cannot be
    // optimised away.
    let mut sink = 0u64;
    unsafe { core::ptr::write_volatile(&mut sink, result) };
    Action::Out
}

/// The packet's first 16 bytes folded into one word.
#[inline(always)]
pub fn seed<P: Packet>(pkt: &P) -> u64 {
    match pkt.bytes::<16>(0) {
        Some(b) => {
            let lo = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
            let hi = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
            (lo ^ BASIS).wrapping_mul(PRIME) ^ hi
        }
        None => (pkt.len() as u64) ^ BASIS,
    }
}

/// `ops` rounds (at most [`MAX_OPS`]) of mixing from `seed`.
#[inline(always)]
pub fn work(seed: u64, ops: u32) -> u64 {
    let mut acc = seed;
    for i in 0..MAX_OPS {
        if i >= ops {
            break;
        }
        acc = (acc ^ seed.wrapping_add(u64::from(i))).wrapping_mul(PRIME);
    }
    acc
}
