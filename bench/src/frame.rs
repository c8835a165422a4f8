//! The frames the generator sends: UDP over IPv4 from the generator to the
//! device under test, carrying the marker and the send timestamp the sink
//! reads (see `bench/ebpf/lib.rs`).

use std::net::Ipv4Addr;

/// Where the marker starts: after Ethernet (14), IPv4 (20) and UDP (8).
pub const MARK_OFFSET: usize = 42;
/// "GALB": a benchmark frame.
pub const MARK: [u8; 4] = *b"GALB";
/// The smallest frame that holds the marker and the timestamp.
pub const MIN_FRAME: usize = MARK_OFFSET + 12;
/// Ethernet's frame check sequence: counted in the sizes people quote (64 to
/// 1518 bytes) but never seen by software.
pub const FCS: u32 = 4;
/// The IPv4 TTL of every benchmark frame as the generator sends it; one less
/// when a chain marks a frame with `std.ttl`.
pub const TTL: u8 = 64;

/// The endpoints of the generated frames.
#[derive(Debug, Clone, Copy)]
pub struct Endpoints {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
}

/// A frame of `wire_bytes` on the wire (FCS included), so `wire_bytes - 4`
/// bytes long in memory.
pub fn benchmark_frame(endpoints: &Endpoints, wire_bytes: u32) -> Vec<u8> {
    let len = (wire_bytes.saturating_sub(FCS) as usize).max(MIN_FRAME);
    let mut frame = vec![0u8; len];
    frame[0..6].copy_from_slice(&endpoints.dst_mac);
    frame[6..12].copy_from_slice(&endpoints.src_mac);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip_len = (len - 14) as u16;
    let ip = &mut frame[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = TTL;
    ip[9] = 17; // UDP
    ip[12..16].copy_from_slice(&endpoints.src_ip.octets());
    ip[16..20].copy_from_slice(&endpoints.dst_ip.octets());
    let checksum = ipv4_checksum(ip);
    ip[10..12].copy_from_slice(&checksum.to_be_bytes());
    let udp = &mut frame[34..42];
    udp[0..2].copy_from_slice(&40_000u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes()); // discard
    udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
    // A zero UDP checksum means "none" over IPv4; the timestamp changes on
    // every frame, so no fixed checksum could be right.
    frame[MARK_OFFSET..MARK_OFFSET + 4].copy_from_slice(&MARK);
    frame
}

fn ipv4_checksum(header: &[u8]) -> u16 {
    let sum: u32 = header.chunks(2).map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]]))).sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    !(((folded & 0xffff) + (folded >> 16)) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoints() -> Endpoints {
        Endpoints {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src_ip: Ipv4Addr::new(198, 18, 0, 2),
            dst_ip: Ipv4Addr::new(198, 18, 0, 1),
        }
    }

    #[test]
    fn frames_have_the_wire_size_minus_the_fcs_and_carry_the_marker() {
        for wire in [64, 128, 1518] {
            let frame = benchmark_frame(&endpoints(), wire);
            assert_eq!(frame.len() as u32, wire - FCS);
            assert_eq!(&frame[MARK_OFFSET..MARK_OFFSET + 4], b"GALB");
            assert_eq!(u16::from_be_bytes([frame[16], frame[17]]) as usize, frame.len() - 14);
        }
        assert_eq!(benchmark_frame(&endpoints(), 10).len(), MIN_FRAME);
    }

    #[test]
    fn the_ip_checksum_verifies() {
        let frame = benchmark_frame(&endpoints(), 64);
        assert_eq!(ipv4_checksum(&frame[14..34]), 0);
    }
}
