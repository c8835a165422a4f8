//! `std.counter`: counts the packets and bytes that pass through it, then
//! lets every packet out. Bind its `totals` field to a
//! `percpu_array<u32, u64>` of at least 2 entries: index 0 counts packets,
//! index 1 bytes; per CPU, so XDP updates need no atomics (sum the CPUs'
//! values to read it).
#![no_std]

use nf_std::Packet;
use nf_std::maps::PercpuArray;

/// Index of the packet count in `totals`.
pub const PACKETS: u32 = 0;
/// Index of the byte count in `totals`.
pub const BYTES: u32 = 1;

#[nf_std::maps]
pub struct Maps {
    totals: PercpuArray<u64>,
}

/// The ports of `counter`.
pub enum Action {
    /// Every packet leaves here, counted.
    Out,
}

#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    add(maps.totals, PACKETS, 1);
    add(maps.totals, BYTES, pkt.len() as u64);
    Action::Out
}

#[inline(always)]
fn add(totals: &PercpuArray<u64>, index: u32, amount: u64) {
    // In place, with one map lookup. Only fails if the chain's map is
    // smaller than 2 entries; a counter must never drop traffic, so the
    // packet goes on regardless.
    let _ = totals.modify(index, |count| *count = count.wrapping_add(amount));
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::SlicePacket;
    use nf_std::maps::memory_map;

    #[test]
    fn counts_packets_and_bytes() {
        let mut maps = Maps { totals: memory_map(2) };
        for len in [60usize, 1514] {
            let mut frame = [0u8; 1514];
            let mut pkt = SlicePacket::new(&mut frame[..len]);
            assert!(matches!(packet(&mut pkt, &mut maps), Action::Out));
        }
        assert_eq!(maps.totals.get(PACKETS), Some(2));
        assert_eq!(maps.totals.get(BYTES), Some(1574));
    }

    #[test]
    fn a_map_too_small_still_lets_packets_out() {
        let mut maps = Maps { totals: memory_map(1) };
        let mut frame = [0u8; 60];
        assert!(matches!(packet(&mut SlicePacket::new(&mut frame), &mut maps), Action::Out));
        assert_eq!(maps.totals.get(PACKETS), Some(1));
    }
}
