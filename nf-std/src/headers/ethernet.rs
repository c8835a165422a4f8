use crate::Packet;

use super::ethertype;

/// Length of an Ethernet II header without VLAN tags.
const HEADER_LEN: usize = 14;
/// Length of one VLAN tag (TPID + TCI).
const TAG_LEN: usize = 4;

/// One 802.1Q / 802.1ad VLAN tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// The tag protocol identifier: [`ethertype::VLAN`], [`ethertype::QINQ`]
    /// or [`ethertype::QINQ_LEGACY`].
    pub tpid: u16,
    /// The tag control information: PCP (3 bits), DEI (1), VID (12).
    pub tci: u16,
}

impl VlanTag {
    /// The VLAN identifier (12 bits).
    #[inline(always)]
    pub fn vid(&self) -> u16 {
        self.tci & 0x0fff
    }

    /// The priority code point (3 bits).
    #[inline(always)]
    pub fn pcp(&self) -> u8 {
        (self.tci >> 13) as u8
    }

    /// The drop eligible indicator.
    #[inline(always)]
    pub fn dei(&self) -> bool {
        self.tci & 0x1000 != 0
    }
}

/// An Ethernet II header at the start of the frame, with up to two VLAN tags.
///
/// With no tag the payload starts at 14, with one at 18, with two (QinQ) at
/// 22. A frame with a third tag is not unwrapped further:
/// [`ethertype()`](Self::ethertype) is then that tag's TPID and the payload
/// offset points at it, so it falls in an NF's "other EtherType" case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ethernet {
    ethertype: u16,
    payload_offset: usize,
    outer: Option<VlanTag>,
    inner: Option<VlanTag>,
}

#[inline(always)]
fn is_tag(tpid: u16) -> bool {
    tpid == ethertype::VLAN || tpid == ethertype::QINQ || tpid == ethertype::QINQ_LEGACY
}

/// Reads the tag at `offset` (a constant at every call site): its TCI and the
/// EtherType after it.
#[inline(always)]
fn tag_at<P: Packet>(pkt: &P, offset: usize) -> Option<(u16, u16)> {
    let tag = pkt.bytes::<TAG_LEN>(offset)?;
    Some((u16::from_be_bytes([tag[0], tag[1]]), u16::from_be_bytes([tag[2], tag[3]])))
}

impl Ethernet {
    /// Parses the Ethernet header (and up to two VLAN tags) at the start of
    /// the frame. `None` when the frame is shorter than the header and its
    /// tags.
    #[inline(always)]
    pub fn parse<P: Packet>(pkt: &P) -> Option<Ethernet> {
        let header = pkt.bytes::<HEADER_LEN>(0)?;
        let first = u16::from_be_bytes([header[12], header[13]]);
        if !is_tag(first) {
            return Some(Ethernet { ethertype: first, payload_offset: HEADER_LEN, outer: None, inner: None });
        }
        let (tci, second) = tag_at(pkt, HEADER_LEN)?;
        let outer = Some(VlanTag { tpid: first, tci });
        if !is_tag(second) {
            return Some(Ethernet { ethertype: second, payload_offset: HEADER_LEN + TAG_LEN, outer, inner: None });
        }
        let (tci, third) = tag_at(pkt, HEADER_LEN + TAG_LEN)?;
        Some(Ethernet {
            ethertype: third,
            payload_offset: HEADER_LEN + 2 * TAG_LEN,
            outer,
            inner: Some(VlanTag { tpid: second, tci }),
        })
    }

    /// The EtherType of the payload, after the VLAN tags (e.g.
    /// [`ethertype::IPV4`]).
    #[inline(always)]
    pub fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// Where the payload (the L3 header) starts: 14, 18 or 22.
    #[inline(always)]
    pub fn payload_offset(&self) -> usize {
        self.payload_offset
    }

    /// How many VLAN tags were unwrapped: 0, 1 or 2.
    #[inline(always)]
    pub fn vlan_count(&self) -> u8 {
        match (self.outer, self.inner) {
            (None, _) => 0,
            (Some(_), None) => 1,
            (Some(_), Some(_)) => 2,
        }
    }

    /// The first (outermost) VLAN tag, if any.
    #[inline(always)]
    pub fn outer_vlan(&self) -> Option<VlanTag> {
        self.outer
    }

    /// The second VLAN tag of a double-tagged (QinQ) frame.
    #[inline(always)]
    pub fn inner_vlan(&self) -> Option<VlanTag> {
        self.inner
    }

    /// The VLAN tag nearest the payload (the only one, or the inner one of
    /// two): the one that usually names the customer VLAN.
    #[inline(always)]
    pub fn innermost_vlan(&self) -> Option<VlanTag> {
        match self.inner {
            Some(tag) => Some(tag),
            None => self.outer,
        }
    }

    /// The destination MAC address.
    #[inline(always)]
    pub fn dst<P: Packet>(&self, pkt: &P) -> Option<[u8; 6]> {
        pkt.bytes::<6>(0).copied()
    }

    /// The source MAC address.
    #[inline(always)]
    pub fn src<P: Packet>(&self, pkt: &P) -> Option<[u8; 6]> {
        pkt.bytes::<6>(6).copied()
    }

    /// Sets the destination MAC address.
    #[inline(always)]
    pub fn set_dst<P: Packet>(&self, pkt: &mut P, mac: [u8; 6]) -> Option<()> {
        *pkt.bytes_mut::<6>(0)? = mac;
        Some(())
    }

    /// Sets the source MAC address.
    #[inline(always)]
    pub fn set_src<P: Packet>(&self, pkt: &mut P, mac: [u8; 6]) -> Option<()> {
        *pkt.bytes_mut::<6>(6)? = mac;
        Some(())
    }

    /// Swaps the source and destination MAC addresses.
    #[inline(always)]
    pub fn swap_macs<P: Packet>(&self, pkt: &mut P) -> Option<()> {
        let macs = pkt.bytes_mut::<12>(0)?;
        let mut dst = [0u8; 6];
        let mut src = [0u8; 6];
        dst.copy_from_slice(&macs[..6]);
        src.copy_from_slice(&macs[6..]);
        macs[..6].copy_from_slice(&src);
        macs[6..].copy_from_slice(&dst);
        Some(())
    }

    /// Rewrites the VID of the outermost VLAN tag (keeping PCP and DEI).
    /// `None` if the frame has no tag.
    #[inline(always)]
    pub fn set_outer_vid<P: Packet>(&mut self, pkt: &mut P, vid: u16) -> Option<()> {
        let tag = self.outer.as_mut()?;
        tag.tci = (tag.tci & 0xf000) | (vid & 0x0fff);
        // The outer tag's TCI follows its TPID, which sits where an untagged
        // frame has its EtherType (12..14).
        super::write_u16(pkt, HEADER_LEN, tag.tci)
    }
}
