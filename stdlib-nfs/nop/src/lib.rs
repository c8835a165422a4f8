//! `std.nop`: does nothing. Every frame leaves by `out`, unchanged, whatever
//! it holds (even an empty or runt frame).
//!
//! Ports: `out`, the only one. Maps and configuration: none.
//!
//! What it is for: measuring what a chain's plumbing costs. An instance of
//! `nop` costs exactly what Galette adds around any NF in its tier (in XDP:
//! a program of its own, entered by a tail call, its packet and port
//! counters and a look-up of where the port leads; in userland: the call
//! through the NF ABI), so `rx -> n -> tx` against `rx -> tx`, or a chain of
//! N `nop`s, measures the overhead of one instance.
//!
//! Where it runs: anywhere; it is `#![no_std]` and the kernel verifier
//! accepts it, so by default it runs in XDP.
//!
//! Cost: nothing of its own: it reads no byte of the packet.
#![no_std]

use nf_std::Packet;

/// The ports of `nop`.
pub enum Action {
    /// Every frame leaves here, unchanged.
    Out,
}

#[inline(always)]
pub fn packet<P: Packet>(_pkt: &mut P) -> Action {
    Action::Out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::SlicePacket;
    use nf_std::headers::ethertype;
    use nf_std::testing::PacketBuilder;

    #[test]
    fn every_frame_leaves_by_out_unchanged() {
        let cases = [
            PacketBuilder::new().ipv4([198, 18, 0, 1], [198, 18, 0, 2]).udp(1, 2).ttl(0),
            PacketBuilder::new().ipv6([0xfd; 16], [0xfe; 16]).tcp(1, 2).vlan(42),
            PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]),
            PacketBuilder::new().payload(&[0xff; 1500]),
        ];
        for builder in cases {
            let (action, frame) = builder.run(|pkt| packet(pkt));
            assert!(matches!(action, Action::Out));
            assert_eq!(frame, builder.build());
        }
    }

    #[test]
    fn runt_and_empty_frames_leave_by_out_too() {
        for len in [0usize, 1, 13] {
            let mut frame = [0xa5u8; 13];
            let frame = &mut frame[..len];
            assert!(matches!(packet(&mut SlicePacket::new(frame)), Action::Out));
            assert!(frame.iter().all(|&byte| byte == 0xa5));
        }
    }
}
