//! `std.macswap`: swaps the Ethernet source and destination addresses, so a
//! frame sent back out (`tx`) returns to its sender. The classic reflector
//! used to measure a data plane's forwarding cost.
#![no_std]

use nf_std::{Packet, ethernet::ADDR_LEN};

/// The ports of `macswap`.
pub enum Action {
    /// Every frame leaves here, swapped if it holds a whole pair of addresses.
    Out,
}

/// Swaps the two MAC addresses at the start of the frame. A frame too short
/// to hold both is left as it is (XDP never sees one; a userland test can).
#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    if let Some(macs) = pkt.bytes_mut::<{ 2 * ADDR_LEN }>(0) {
        let (dst, src) = macs.split_at_mut(ADDR_LEN);
        dst.swap_with_slice(src);
    }
    Action::Out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::SlicePacket;

    #[test]
    fn swaps_destination_and_source() {
        let mut frame = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00, 0xaa];
        let mut pkt = SlicePacket::new(&mut frame);
        assert!(matches!(packet(&mut pkt), Action::Out));
        assert_eq!(frame, [2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0x08, 0x00, 0xaa]);
    }

    #[test]
    fn leaves_a_runt_frame_alone() {
        let mut frame = [7u8; 11];
        assert!(matches!(packet(&mut SlicePacket::new(&mut frame)), Action::Out));
        assert_eq!(frame, [7u8; 11]);
    }
}
