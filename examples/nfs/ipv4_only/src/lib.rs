//! An example of a custom NF: sends IPv4 frames (EtherType 0x0800, also
//! behind one 802.1Q VLAN tag) to port `ipv4` and every other frame to port
//! `other`. Used by `examples/ipv4_reflector.gal`.
#![no_std]

use nf_std::Packet;

/// The ports of `ipv4_only`.
pub enum Action {
    /// An IPv4 frame.
    Ipv4,
    /// Anything else: ARP, IPv6, unknown EtherTypes, runt frames.
    Other,
}

const ETHERTYPE_OFFSET: usize = 12;
const ETHERTYPE_IPV4: [u8; 2] = [0x08, 0x00];
const ETHERTYPE_VLAN: [u8; 2] = [0x81, 0x00];
/// A VLAN tag pushes the real EtherType 4 bytes further.
const VLAN_TAG_LEN: usize = 4;

pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    let Some(&ethertype) = pkt.bytes::<2>(ETHERTYPE_OFFSET) else { return Action::Other };
    let ethertype = if ethertype == ETHERTYPE_VLAN {
        match pkt.bytes::<2>(ETHERTYPE_OFFSET + VLAN_TAG_LEN) {
            Some(&inner) => inner,
            None => return Action::Other,
        }
    } else {
        ethertype
    };
    if ethertype == ETHERTYPE_IPV4 { Action::Ipv4 } else { Action::Other }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::SlicePacket;

    fn frame(ethertype: [u8; 2], rest: &[u8]) -> [u8; 32] {
        let mut frame = [0u8; 32];
        frame[12..14].copy_from_slice(&ethertype);
        frame[14..14 + rest.len()].copy_from_slice(rest);
        frame
    }

    fn verdict(mut frame: impl AsMut<[u8]>) -> Action {
        packet(&mut SlicePacket::new(frame.as_mut()))
    }

    #[test]
    fn ipv4_goes_to_ipv4() {
        assert!(matches!(verdict(frame([0x08, 0x00], &[0x45])), Action::Ipv4));
    }

    #[test]
    fn a_vlan_tagged_ipv4_frame_is_ipv4() {
        assert!(matches!(verdict(frame([0x81, 0x00], &[0, 42, 0x08, 0x00])), Action::Ipv4));
    }

    #[test]
    fn everything_else_goes_to_other() {
        assert!(matches!(verdict(frame([0x86, 0xdd], &[])), Action::Other), "IPv6");
        assert!(matches!(verdict(frame([0x08, 0x06], &[])), Action::Other), "ARP");
        assert!(matches!(verdict(frame([0x81, 0x00], &[0, 42, 0x86, 0xdd])), Action::Other), "IPv6 in a VLAN");
        assert!(matches!(verdict([0u8; 13]), Action::Other), "runt");
    }
}
