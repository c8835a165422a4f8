//! Building and picking apart Ethernet II / IPv4 / UDP frames, so tests can
//! send frames they recognise and find them again among the kernel's own
//! traffic (IPv6 router solicitations and the like).

use std::net::Ipv4Addr;

/// An Ethernet (MAC) address.
pub type MacAddr = [u8; 6];

const ETHERNET_HEADER_LEN: usize = 14;
const IPV4_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;
const ETHERTYPE_IPV4: u16 = 0x0800;
const IP_PROTOCOL_UDP: u8 = 17;
/// Version 4, header length 5 words (no options).
const IPV4_VERSION_AND_HEADER_LEN: u8 = 0x45;
const IPV4_TTL: u8 = 64;
/// The largest UDP payload an IPv4 datagram can carry.
pub const MAX_UDP_PAYLOAD: usize = u16::MAX as usize - IPV4_HEADER_LEN - UDP_HEADER_LEN;

/// A UDP datagram in an IPv4 packet in an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpFrame {
    pub src_mac: MacAddr,
    pub dst_mac: MacAddr,
    pub src_ip: Ipv4Addr,
    pub dst_ip: Ipv4Addr,
    pub src_port: u16,
    pub dst_port: u16,
    pub payload: Vec<u8>,
}

impl UdpFrame {
    /// Encodes the frame: Ethernet II header, a 20-byte IPv4 header (TTL 64,
    /// identification 0, not fragmented and DF unset, correct checksum) and
    /// a UDP header with a correct checksum, then the payload. No padding is
    /// added: veth carries frames shorter than the Ethernet minimum as they
    /// are, and a receiver that compares bytes sees exactly these.
    ///
    /// # Panics
    /// If the payload is longer than [`MAX_UDP_PAYLOAD`], which no IPv4
    /// packet can carry.
    pub fn to_bytes(&self) -> Vec<u8> {
        assert!(
            self.payload.len() <= MAX_UDP_PAYLOAD,
            "UDP payload of {} bytes exceeds the IPv4 limit of {MAX_UDP_PAYLOAD}",
            self.payload.len()
        );
        let udp_len = (UDP_HEADER_LEN + self.payload.len()) as u16;
        let ip_total_len = IPV4_HEADER_LEN as u16 + udp_len;

        let mut frame = Vec::with_capacity(ETHERNET_HEADER_LEN + usize::from(ip_total_len));
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        frame.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());

        let ip_start = frame.len();
        frame.push(IPV4_VERSION_AND_HEADER_LEN);
        frame.push(0); // DSCP and ECN
        frame.extend_from_slice(&ip_total_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]); // identification
        frame.extend_from_slice(&[0, 0]); // flags (DF unset) and fragment offset
        frame.push(IPV4_TTL);
        frame.push(IP_PROTOCOL_UDP);
        frame.extend_from_slice(&[0, 0]); // header checksum, filled in below
        frame.extend_from_slice(&self.src_ip.octets());
        frame.extend_from_slice(&self.dst_ip.octets());
        let ip_checksum = internet_checksum(&[&frame[ip_start..]]);
        frame[ip_start + 10..ip_start + 12].copy_from_slice(&ip_checksum.to_be_bytes());

        let udp_start = frame.len();
        frame.extend_from_slice(&self.src_port.to_be_bytes());
        frame.extend_from_slice(&self.dst_port.to_be_bytes());
        frame.extend_from_slice(&udp_len.to_be_bytes());
        frame.extend_from_slice(&[0, 0]); // checksum, filled in below
        frame.extend_from_slice(&self.payload);
        let udp_checksum = self.udp_checksum(&frame[udp_start..], udp_len);
        frame[udp_start + 6..udp_start + 8].copy_from_slice(&udp_checksum.to_be_bytes());
        frame
    }

    /// The UDP checksum over the IPv4 pseudo-header and `datagram` (UDP
    /// header with a zero checksum field, then the payload).
    fn udp_checksum(&self, datagram: &[u8], udp_len: u16) -> u16 {
        let mut pseudo_header = [0u8; 12];
        pseudo_header[0..4].copy_from_slice(&self.src_ip.octets());
        pseudo_header[4..8].copy_from_slice(&self.dst_ip.octets());
        pseudo_header[9] = IP_PROTOCOL_UDP;
        pseudo_header[10..12].copy_from_slice(&udp_len.to_be_bytes());
        match internet_checksum(&[&pseudo_header, datagram]) {
            // Zero on the wire means "no checksum" (RFC 768), so a computed
            // zero is sent as its ones' complement equivalent.
            0 => 0xffff,
            checksum => checksum,
        }
    }
}

/// The Internet checksum (RFC 1071) of the concatenation of `parts`. Every
/// part except the last must have an even length, which holds for the
/// headers this module builds.
fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for word in &mut words {
            sum += u64::from(u16::from_be_bytes([word[0], word[1]]));
        }
        if let [last] = words.remainder() {
            sum += u64::from(u16::from_be_bytes([*last, 0]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The destination MAC address of an Ethernet frame, if it is long enough
/// to have one.
pub fn ethernet_dst(frame: &[u8]) -> Option<MacAddr> {
    frame.get(0..6)?.try_into().ok()
}

/// The source MAC address of an Ethernet frame, if it is long enough to
/// have one.
pub fn ethernet_src(frame: &[u8]) -> Option<MacAddr> {
    frame.get(6..12)?.try_into().ok()
}

/// The UDP payload of an Ethernet II / IPv4 / UDP frame, bounded by the UDP
/// length field (so link-layer padding is not included).
///
/// `None` for anything else: other EtherTypes (VLAN-tagged frames
/// included), other IP protocols, fragments, and truncated or inconsistent
/// headers. Checksums are not verified.
pub fn udp_payload(frame: &[u8]) -> Option<&[u8]> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().ok()?);
    if ethertype != ETHERTYPE_IPV4 {
        return None;
    }
    let ip = &frame[ETHERNET_HEADER_LEN..];
    let version_and_header_len = *ip.first()?;
    let header_len = usize::from(version_and_header_len & 0x0f) * 4;
    if version_and_header_len >> 4 != 4 || header_len < IPV4_HEADER_LEN {
        return None;
    }
    let total_len = usize::from(u16::from_be_bytes(ip.get(2..4)?.try_into().ok()?));
    let flags_and_fragment_offset = u16::from_be_bytes(ip.get(6..8)?.try_into().ok()?);
    // Only a whole datagram has a UDP header followed by the full payload:
    // reject any fragment (more-fragments set or a non-zero offset).
    let is_fragment = flags_and_fragment_offset & 0x3fff != 0;
    if *ip.get(9)? != IP_PROTOCOL_UDP || is_fragment || total_len < header_len {
        return None;
    }
    let udp = ip.get(header_len..total_len)?;
    let udp_len = usize::from(u16::from_be_bytes(udp.get(4..6)?.try_into().ok()?));
    if udp_len < UDP_HEADER_LEN {
        return None;
    }
    udp.get(UDP_HEADER_LEN..udp_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_frame(payload: &[u8]) -> UdpFrame {
        UdpFrame {
            src_mac: [0x02, 0, 0, 0, 0, 0x01],
            dst_mac: [0x02, 0, 0, 0, 0, 0x02],
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 18, 0, 2),
            src_port: 1000,
            dst_port: 2000,
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn checksum_matches_the_textbook_example() {
        // The IPv4 header from the Wikipedia "Internet checksum" example,
        // checksum field zeroed; its checksum is 0xb861.
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(internet_checksum(&[&header]), 0xb861);
    }

    #[test]
    fn encodes_a_frame_with_hand_computed_checksums() {
        // IPv4 header words: 4500 001e 0000 0000 4011 c612 0001 c612 0002
        // sum 0x21156, folded 0x1158, complement 0xeea7.
        // UDP: pseudo-header c612 0001 c612 0002 0011 000a, header 03e8
        // 07d0 000a, payload 6869 ("hi"): sum 0x2006d, folded 0x006f,
        // complement 0xff90.
        let expected: Vec<u8> = vec![
            0x02, 0, 0, 0, 0, 0x02, // destination MAC
            0x02, 0, 0, 0, 0, 0x01, // source MAC
            0x08, 0x00, // EtherType IPv4
            0x45, 0x00, 0x00, 0x1e, // version, IHL, DSCP, total length 30
            0x00, 0x00, 0x00, 0x00, // identification, flags, fragment offset
            0x40, 0x11, 0xee, 0xa7, // TTL 64, UDP, header checksum
            198, 18, 0, 1, // source address
            198, 18, 0, 2, // destination address
            0x03, 0xe8, 0x07, 0xd0, // ports 1000 -> 2000
            0x00, 0x0a, 0xff, 0x90, // UDP length 10, checksum
            b'h', b'i',
        ];
        assert_eq!(sample_frame(b"hi").to_bytes(), expected);
    }

    #[test]
    fn odd_length_payload_is_padded_for_the_checksum_only() {
        // As above with payload "hi!": the padded last word 0x2100 and the
        // UDP length 11 (counted twice) give sum 0x2216f, folded 0x2171,
        // complement 0xde8e; IP total length 31 makes the header checksum
        // 0xeea6.
        let bytes = sample_frame(b"hi!").to_bytes();
        assert_eq!(bytes.len(), 14 + 20 + 8 + 3);
        assert_eq!(&bytes[24..26], &[0xee, 0xa6]);
        assert_eq!(&bytes[40..42], &[0xde, 0x8e]);
        assert_eq!(internet_checksum(&[&bytes[14..34]]), 0, "header verifies");
    }

    #[test]
    fn parsing_returns_what_was_encoded() {
        let frame = sample_frame(b"seq=42");
        let bytes = frame.to_bytes();
        assert_eq!(ethernet_dst(&bytes), Some(frame.dst_mac));
        assert_eq!(ethernet_src(&bytes), Some(frame.src_mac));
        assert_eq!(udp_payload(&bytes), Some(&b"seq=42"[..]));
    }

    #[test]
    fn link_layer_padding_is_not_part_of_the_payload() {
        let mut bytes = sample_frame(b"x").to_bytes();
        bytes.resize(60, 0);
        assert_eq!(udp_payload(&bytes), Some(&b"x"[..]));
    }

    #[test]
    fn non_udp_and_broken_frames_have_no_payload() {
        let good = sample_frame(b"payload").to_bytes();

        let mut ipv6 = good.clone();
        ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
        assert_eq!(udp_payload(&ipv6), None);

        let mut tcp = good.clone();
        tcp[14 + 9] = 6;
        assert_eq!(udp_payload(&tcp), None);

        let mut fragment = good.clone();
        fragment[14 + 6] = 0x20; // more fragments
        assert_eq!(udp_payload(&fragment), None);

        let mut long_udp_length = good.clone();
        long_udp_length[38..40].copy_from_slice(&0xffffu16.to_be_bytes());
        assert_eq!(udp_payload(&long_udp_length), None);

        for len in 0..good.len() - b"payload".len() {
            assert_eq!(udp_payload(&good[..len]), None, "truncated to {len}");
        }
        assert_eq!(ethernet_dst(&good[..5]), None);
        assert_eq!(ethernet_src(&good[..11]), None);
    }
}
