//! `std.compute`: a benchmark NF that does a configurable amount of
//! arithmetic per packet and lets every packet out unchanged. It stands in
//! for an expensive NF, to measure what a given amount of work per packet
//! costs in each tier (the Galette paper used 100 000 operations per packet).
//!
//! # Ports
//!
//! - `out`: every packet, unchanged.
//!
//! # Maps
//!
//! - `config: Array<u32>` (`array<u32, u32>[1]` in a chain): index [`OPS`]
//!   (0) is the number of operations per packet. 0, the value of a map never
//!   written, means no work at all. A value above [`MAX_OPS`] is clamped to
//!   it.
//!
//! An *operation* is one round of mixing: a 64-bit add, xor and multiply
//! (FNV-1a's prime) into an accumulator, seeded from the packet's first 16
//! bytes (its MAC addresses and EtherType; its length if it is shorter), so
//! the work depends on the packet and cannot be computed ahead. The result is
//! written to a volatile local, so the compiler cannot drop the work either.
//!
//! # Where it runs and what it costs
//!
//! `#![no_std]`: in XDP or, marked `@userland` (or behind an upcall), in
//! userland. The loop is bounded by a constant, as the verifier requires, so
//! the most operations per packet depends on where the build runs:
//!
//! - in XDP, [`MAX_OPS_XDP`] = 100 000. The verifier walks every round of the
//!   loop and gives up after a million instructions. Rounds run in blocks of
//!   16 with the count checked once per block (about 9 instructions of the
//!   verifier's budget per operation, against 15 when every round checks): on
//!   Linux 6.18 a bound of 105 000 is accepted and 110 000 is not ("BPF
//!   program is too large. Processed 1000001 insn"). A chain that needs
//!   more per packet cannot have it in XDP: run the instance in userland
//!   (`@userland`), where the same crate has no such bound;
//! - natively (userland, host tests), [`MAX_OPS`] is `u32::MAX`.
//!
//! The cost is linear in the configured operations. Each depends on the one
//! before (an xor, then a multiply), so they do not overlap: natively on the
//! machine this was written on, 2.6 ns each, so 100 000 operations hold a
//! core for about a quarter of a millisecond per packet (JIT-compiled XDP
//! code does the same instructions). Reading the configuration is one array
//! lookup per packet (in userland, a map lookup through the runtime).
#![no_std]

use nf_std::Packet;
use nf_std::maps::Array;

/// Index in `config` of the operations per packet.
pub const OPS: u32 = 0;

/// The most operations per packet in XDP: the largest round bound the
/// verifier accepts, with a little room (see the crate's documentation).
pub const MAX_OPS_XDP: u32 = 100_000;

/// The most operations per packet where this build runs: [`MAX_OPS_XDP`] in
/// XDP, `u32::MAX` natively.
pub const MAX_OPS: u32 = if cfg!(target_arch = "bpf") { MAX_OPS_XDP } else { u32::MAX };

/// Rounds run in blocks of this many, the count checked once per block.
const BLOCK: u32 = 16;

/// The FNV-1a 64-bit prime.
const PRIME: u64 = 0x0000_0100_0000_01b3;
/// The FNV-1a 64-bit offset basis.
const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

/// The maps a chain binds.
#[nf_std::maps]
pub struct Maps {
    /// Index 0: operations per packet. `array<u32, u32>[1]` in a chain.
    config: Array<u32>,
}

/// The ports of `compute`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Every packet, unchanged.
    Out,
}

/// Does the configured work on the packet's first bytes; the packet leaves
/// by `out`, unchanged.
#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    let ops = maps.config.get(OPS).unwrap_or(0);
    let result = work(seed(pkt), ops);
    let mut sink = 0u64;
    // SAFETY: a write to a live local. Volatile, so that the compiler must
    // compute `result` and cannot drop the work as unused.
    unsafe { core::ptr::write_volatile(&mut sink, result) };
    Action::Out
}

/// The packet's first 16 bytes folded into one word (its length, if it is
/// shorter).
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

/// `ops` operations (at most [`MAX_OPS`]) of mixing from `seed`.
#[inline(always)]
pub fn work(seed: u64, ops: u32) -> u64 {
    rounds::<MAX_OPS>(seed, ops)
}

/// `ops` operations, at most `MAX`: `ops % 16` single rounds first, then
/// blocks of 16. Equal to `MAX.min(ops)` rounds of [`round`].
#[inline(always)]
fn rounds<const MAX: u32>(seed: u64, ops: u32) -> u64 {
    let ops = if ops < MAX { ops } else { MAX };
    let blocks = ops / BLOCK;
    let rest = ops % BLOCK;
    let mut acc = seed;
    let mut x = seed;
    for r in 0..BLOCK {
        if r >= rest {
            break;
        }
        round(&mut acc, &mut x);
    }
    // Constant bounds only: the verifier walks this loop block by block.
    for b in 0..MAX / BLOCK {
        if b >= blocks {
            break;
        }
        for _ in 0..BLOCK {
            round(&mut acc, &mut x);
        }
    }
    acc
}

/// One operation.
#[inline(always)]
fn round(acc: &mut u64, x: &mut u64) {
    *x = x.wrapping_add(1);
    *acc = (*acc ^ *x).wrapping_mul(PRIME);
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::collections::BTreeSet;
    use std::vec::Vec;

    use super::*;
    use nf_std::SlicePacket;
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;

    /// The work, one round at a time.
    fn reference(seed: u64, ops: u32) -> u64 {
        let (mut acc, mut x) = (seed, seed);
        for _ in 0..ops {
            round(&mut acc, &mut x);
        }
        acc
    }

    fn maps(ops: u32) -> Maps {
        let maps = Maps { config: memory_map(1) };
        maps.config.insert(OPS, &ops).unwrap();
        maps
    }

    #[test]
    fn every_packet_leaves_unchanged() {
        for ops in [0, 1, 1000, 100_000] {
            let mut maps = maps(ops);
            let builder = PacketBuilder::new().ipv4([198, 18, 0, 1], [198, 18, 0, 2]).udp(1, 2).payload(b"x");
            let (action, frame) = builder.run(|pkt| packet(pkt, &mut maps));
            assert_eq!(action, Action::Out);
            assert_eq!(frame, builder.build());
        }
    }

    #[test]
    fn blocks_do_the_same_work_as_single_rounds() {
        for ops in (0..=80).chain([1000, 1007, 65_535, 100_000]) {
            assert_eq!(work(0x1234, ops), reference(0x1234, ops), "{ops} operations");
        }
    }

    #[test]
    fn the_work_is_clamped_to_the_maximum() {
        assert_eq!(rounds::<64>(7, 1000), reference(7, 64));
        assert_eq!(rounds::<64>(7, 64), reference(7, 64));
        assert_eq!(rounds::<64>(7, 63), reference(7, 63));
        assert_eq!(rounds::<MAX_OPS_XDP>(7, u32::MAX), reference(7, MAX_OPS_XDP));
        // A bound that is not a multiple of the block.
        assert_eq!(rounds::<40>(7, 39), reference(7, 39));
        assert_eq!(rounds::<40>(7, 47), reference(7, 40));
    }

    #[test]
    fn the_paper_s_load_fits_in_xdp() {
        const { assert!(MAX_OPS_XDP >= 100_000) };
        assert_eq!(MAX_OPS, u32::MAX, "natively there is no bound");
    }

    #[test]
    fn each_operation_changes_the_result() {
        let results: BTreeSet<u64> = (0..2000).map(|ops| work(42, ops)).collect();
        assert_eq!(results.len(), 2000);
        assert_eq!(work(42, 0), 42, "no operations, no work");
    }

    #[test]
    fn the_seed_comes_from_the_packet() {
        let seeds: Vec<u64> = [[1u8; 6], [2; 6], [3; 6]]
            .iter()
            .map(|&mac| {
                let mut frame = PacketBuilder::new().macs(mac, [9; 6]).ipv4([1; 4], [2; 4]).build();
                seed(&SlicePacket::new(&mut frame))
            })
            .collect();
        assert!(seeds[0] != seeds[1] && seeds[1] != seeds[2] && seeds[0] != seeds[2]);
        // Shorter than 16 bytes: the length is the seed.
        let (mut a, mut b) = ([0u8; 15], [0u8; 3]);
        assert_ne!(seed(&SlicePacket::new(&mut a)), seed(&SlicePacket::new(&mut b)));
        let mut runt = [0u8; 3];
        let mut maps = maps(100);
        assert_eq!(packet(&mut SlicePacket::new(&mut runt), &mut maps), Action::Out);
    }

    #[test]
    fn an_unconfigured_map_means_no_work() {
        let mut maps = Maps { config: memory_map(1) };
        let mut frame = [0u8; 60];
        assert_eq!(packet(&mut SlicePacket::new(&mut frame), &mut maps), Action::Out);
        assert_eq!(maps.config.get(OPS), Some(0));
    }
}
