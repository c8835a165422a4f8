//! `std.acl`: allows or denies IPv4 and IPv6 packets by the prefixes their
//! source and destination addresses fall in, kept in two LPM tries.
//!
//! Ports:
//!
//! - `allowed`: a rule allows the packet and none denies it;
//! - `denied`: a rule denies the packet (deny wins over allow), or its
//!   EtherType is IPv4 or IPv6 but the header is cut short or malformed, so
//!   its addresses cannot be checked;
//! - `unmatched`: IP, but no rule decides: the chain chooses (`drop` for a
//!   default-deny list, `pass` or another NF for a block list);
//! - `other`: not IP (ARP, LLDP, ... and runt frames), which an address list
//!   cannot judge: a gateway usually lets ARP through.
//!
//! No packet is changed. VLAN-tagged frames (one tag or a QinQ pair) are
//! judged by the IP header behind the tags.
//!
//! Maps: `v4`, an `lpm_trie<Ipv4Prefix, u8>`, holds the IPv4 rules, and `v6`,
//! an `lpm_trie<Ipv6Prefix, u8>`, the IPv6 ones. A chain binds both (a
//! chain without IPv6 rules can bind an empty `v6` of one entry):
//!
//! ```text
//! map acl_v4: lpm_trie<Ipv4Prefix, u8>[65536]
//! map acl_v6: lpm_trie<Ipv6Prefix, u8>[65536]
//! nf acl = std.acl { v4: acl_v4, v6: acl_v6 }
//! ```
//!
//! Configuration: each entry maps a prefix to a byte of flags saying what
//! the prefix decides, for each direction:
//!
//! | flag | value | meaning |
//! |---|---|---|
//! | [`ALLOW_FROM`] | 1 | allow packets whose **source** is in the prefix |
//! | [`DENY_FROM`]  | 2 | deny packets whose **source** is in the prefix |
//! | [`ALLOW_TO`]   | 4 | allow packets whose **destination** is in the prefix |
//! | [`DENY_TO`]    | 8 | deny packets whose **destination** is in the prefix |
//!
//! Add them up: 5 allows from and to the prefix, 10 denies both, 0 decides
//! nothing. The upper four bits are reserved and ignored (keep them 0). So
//! `galette map set BUNDLE acl_v4 198.18.0.0/15 1` lets 198.18.0.0/15 send,
//! and `galette map load BUNDLE acl_v4 FILE` loads `PREFIX VALUE` lines.
//!
//! A packet is judged in this order:
//!
//! 1. its source address is looked up in the trie of its family; if the
//!    entry found has [`DENY_FROM`], the packet is `denied`;
//! 2. its destination address is looked up; if the entry found has
//!    [`DENY_TO`], the packet is `denied`;
//! 3. if the source's entry has [`ALLOW_FROM`] or the destination's
//!    [`ALLOW_TO`], the packet is `allowed`;
//! 4. otherwise it is `unmatched`.
//!
//! Each look-up finds the **longest** stored prefix that contains the
//! address, and that one entry alone speaks for the address: a longer prefix
//! overrides the shorter ones it lies in, for both directions. Give a longer
//! prefix every flag it should keep (an entry of 0 is a hole: addresses in
//! it get no verdict from the shorter prefixes around it). IPv4 and IPv6 are
//! separate: an IPv4-mapped IPv6 address is looked up in `v6` as it is.
//!
//! Where it runs: anywhere; it is `#![no_std]` and the kernel verifier
//! accepts it, so by default it runs in XDP. Both tries are the chain's, so
//! other NFs or `galette map` may change the rules while it runs.
//!
//! Cost: parsing Ethernet and the IP header, then two LPM trie look-ups (one
//! when the source is denied), each a walk of the kernel's trie whose length
//! grows with the prefix lengths stored: the most expensive of the simple
//! standard NFs, still without any loop of its own.
#![no_std]

use nf_std::Packet;
use nf_std::headers::{Ethernet, Ipv4, Ipv6, ethertype};
use nf_std::maps::{Ipv4Prefix, Ipv6Prefix, LpmTrie};

/// Allow packets whose source is in the prefix.
pub const ALLOW_FROM: u8 = 0x01;
/// Deny packets whose source is in the prefix.
pub const DENY_FROM: u8 = 0x02;
/// Allow packets whose destination is in the prefix.
pub const ALLOW_TO: u8 = 0x04;
/// Deny packets whose destination is in the prefix.
pub const DENY_TO: u8 = 0x08;

/// The maps a chain binds: the rules, one trie per address family.
#[nf_std::maps]
pub struct Maps {
    /// IPv4 prefix → flags ([`ALLOW_FROM`], [`DENY_FROM`], [`ALLOW_TO`],
    /// [`DENY_TO`]); `lpm_trie<Ipv4Prefix, u8>` in the chain.
    v4: LpmTrie<Ipv4Prefix, u8>,
    /// IPv6 prefix → flags, as `v4`; `lpm_trie<Ipv6Prefix, u8>`.
    v6: LpmTrie<Ipv6Prefix, u8>,
}

/// The ports of `acl`.
pub enum Action {
    /// A rule allows the packet, and none denies it.
    Allowed,
    /// A rule denies the packet, or its IP header is cut short or malformed.
    Denied,
    /// An IP packet no rule decides.
    Unmatched,
    /// Not IPv4 or IPv6.
    Other,
}

#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    let Some(eth) = Ethernet::parse(pkt) else { return Action::Other };
    match eth.ethertype() {
        ethertype::IPV4 => {
            let Some((src, dst)) = ipv4_addresses(pkt, eth.payload_offset()) else { return Action::Denied };
            judge(|| maps.v4.get(&Ipv4Prefix::host(src)), || maps.v4.get(&Ipv4Prefix::host(dst)))
        }
        ethertype::IPV6 => {
            let Some((src, dst)) = ipv6_addresses(pkt, eth.payload_offset()) else { return Action::Denied };
            judge(|| maps.v6.get(&Ipv6Prefix::host(src)), || maps.v6.get(&Ipv6Prefix::host(dst)))
        }
        _ => Action::Other,
    }
}

/// The source and destination of the IPv4 header at `offset`.
#[inline(always)]
fn ipv4_addresses<P: Packet>(pkt: &P, offset: usize) -> Option<([u8; 4], [u8; 4])> {
    let ip = Ipv4::parse_at(pkt, offset)?;
    Some((ip.src(pkt)?, ip.dst(pkt)?))
}

/// The source and destination of the IPv6 header at `offset`.
#[inline(always)]
fn ipv6_addresses<P: Packet>(pkt: &P, offset: usize) -> Option<([u8; 16], [u8; 16])> {
    let ip = Ipv6::parse_at(pkt, offset)?;
    Some((ip.src(pkt)?, ip.dst(pkt)?))
}

/// The verdict, from the flags of the entries that the source and the
/// destination fall in (`None` when no prefix contains the address). The
/// destination is only looked up when the source does not deny.
#[inline(always)]
fn judge(source: impl FnOnce() -> Option<u8>, destination: impl FnOnce() -> Option<u8>) -> Action {
    let from = source().unwrap_or(0);
    if from & DENY_FROM != 0 {
        return Action::Denied;
    }
    let to = destination().unwrap_or(0);
    if to & DENY_TO != 0 {
        Action::Denied
    } else if from & ALLOW_FROM != 0 || to & ALLOW_TO != 0 {
        Action::Allowed
    } else {
        Action::Unmatched
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use nf_std::SlicePacket;
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;
    use std::vec::Vec;

    const INSIDE: [u8; 4] = [198, 18, 0, 1];
    const INSIDE_TOO: [u8; 4] = [198, 19, 255, 254];
    const OUTSIDE: [u8; 4] = [203, 0, 113, 9];
    const ELSEWHERE: [u8; 4] = [192, 0, 2, 77];

    /// 2001:db8:1::/48 holds `v6(1, x)`; `v6(2, x)` is outside it.
    const fn v6(net: u8, host: u8) -> [u8; 16] {
        [0x20, 0x01, 0x0d, 0xb8, 0, net, 0, 0, 0, 0, 0, 0, 0, 0, 0, host]
    }

    /// Empty tries.
    fn maps() -> Maps {
        Maps { v4: memory_map(64), v6: memory_map(64) }
    }

    /// Maps with IPv4 rules `(addr, len, flags)`.
    fn with_v4(rules: &[([u8; 4], u32, u8)]) -> Maps {
        let maps = maps();
        for &(addr, len, flags) in rules {
            maps.v4.insert(&Ipv4Prefix::new(addr, len), &flags).unwrap();
        }
        maps
    }

    fn udp4(src: [u8; 4], dst: [u8; 4]) -> PacketBuilder {
        PacketBuilder::new().ipv4(src, dst).udp(40000, 53).payload(b"query")
    }

    fn udp6(src: [u8; 16], dst: [u8; 16]) -> PacketBuilder {
        PacketBuilder::new().ipv6(src, dst).udp(40000, 53).payload(b"query")
    }

    /// The port a packet from `builder` leaves by, as its snake-case name;
    /// also checks that the frame is left unchanged.
    fn port(maps: &mut Maps, builder: &PacketBuilder) -> &'static str {
        let (action, frame) = builder.run(|pkt| packet(pkt, maps));
        assert_eq!(frame, builder.build(), "the acl changes no packet");
        name(action)
    }

    fn name(action: Action) -> &'static str {
        match action {
            Action::Allowed => "allowed",
            Action::Denied => "denied",
            Action::Unmatched => "unmatched",
            Action::Other => "other",
        }
    }

    #[test]
    fn with_no_rules_every_ip_packet_is_unmatched() {
        let mut maps = maps();
        assert_eq!(port(&mut maps, &udp4(INSIDE, OUTSIDE)), "unmatched");
        assert_eq!(port(&mut maps, &udp6(v6(1, 1), v6(2, 2))), "unmatched");
    }

    #[test]
    fn allow_from_allows_sources_in_the_prefix_only() {
        let mut maps = with_v4(&[([198, 18, 0, 0], 15, ALLOW_FROM)]);
        assert_eq!(port(&mut maps, &udp4(INSIDE, OUTSIDE)), "allowed");
        assert_eq!(port(&mut maps, &udp4(INSIDE_TOO, ELSEWHERE)), "allowed");
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, ELSEWHERE)), "unmatched");
        // The direction matters: an allowed source is no allowed destination,
        // so outsiders cannot reach the prefix through its own rule.
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, INSIDE)), "unmatched");
    }

    #[test]
    fn deny_from_denies_sources_in_the_prefix() {
        let mut maps = with_v4(&[([203, 0, 113, 0], 24, DENY_FROM)]);
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, INSIDE)), "denied");
        assert_eq!(port(&mut maps, &udp4(INSIDE, OUTSIDE)), "unmatched");
    }

    #[test]
    fn allow_to_and_deny_to_judge_destinations() {
        let mut maps = with_v4(&[([198, 18, 0, 0], 15, ALLOW_TO), ([203, 0, 113, 0], 24, DENY_TO)]);
        assert_eq!(port(&mut maps, &udp4(ELSEWHERE, INSIDE)), "allowed");
        assert_eq!(port(&mut maps, &udp4(INSIDE, ELSEWHERE)), "unmatched");
        assert_eq!(port(&mut maps, &udp4(ELSEWHERE, OUTSIDE)), "denied");
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, ELSEWHERE)), "unmatched");
    }

    #[test]
    fn flags_add_up_for_both_directions() {
        let mut maps =
            with_v4(&[([198, 18, 0, 0], 15, ALLOW_FROM | ALLOW_TO), ([203, 0, 113, 0], 24, DENY_FROM | DENY_TO)]);
        assert_eq!(port(&mut maps, &udp4(INSIDE, ELSEWHERE)), "allowed");
        assert_eq!(port(&mut maps, &udp4(ELSEWHERE, INSIDE)), "allowed");
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, ELSEWHERE)), "denied");
        assert_eq!(port(&mut maps, &udp4(ELSEWHERE, OUTSIDE)), "denied");
    }

    #[test]
    fn deny_wins_over_allow() {
        // An allowed source sending to a denied destination, and the reverse.
        let mut maps =
            with_v4(&[([198, 18, 0, 0], 15, ALLOW_FROM | ALLOW_TO), ([203, 0, 113, 0], 24, DENY_FROM | DENY_TO)]);
        assert_eq!(port(&mut maps, &udp4(INSIDE, OUTSIDE)), "denied");
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, INSIDE)), "denied");
        // Allow and deny in one entry.
        let mut both =
            with_v4(&[([198, 18, 0, 0], 15, ALLOW_FROM | DENY_FROM), ([203, 0, 113, 0], 24, ALLOW_TO | DENY_TO)]);
        assert_eq!(port(&mut both, &udp4(INSIDE, ELSEWHERE)), "denied");
        assert_eq!(port(&mut both, &udp4(ELSEWHERE, OUTSIDE)), "denied");
    }

    #[test]
    fn the_longest_prefix_speaks_alone_for_an_address() {
        let mut maps = with_v4(&[
            ([0, 0, 0, 0], 0, DENY_FROM),
            ([198, 18, 0, 0], 15, ALLOW_FROM),
            ([198, 18, 7, 0], 24, DENY_FROM),
            ([198, 18, 8, 0], 24, 0),
            ([198, 18, 7, 7], 32, ALLOW_FROM),
        ]);
        assert_eq!(port(&mut maps, &udp4(INSIDE, ELSEWHERE)), "allowed", "the /15");
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, INSIDE)), "denied", "only the /0 holds it");
        assert_eq!(port(&mut maps, &udp4([198, 18, 7, 1], ELSEWHERE)), "denied", "the /24 overrides the /15");
        assert_eq!(port(&mut maps, &udp4([198, 18, 7, 7], ELSEWHERE)), "allowed", "the /32 overrides the /24");
        assert_eq!(port(&mut maps, &udp4([198, 18, 8, 1], ELSEWHERE)), "unmatched", "a hole: 0 decides nothing");
    }

    #[test]
    fn the_reserved_bits_are_ignored() {
        let mut maps = with_v4(&[([198, 18, 0, 0], 15, 0xf0 | ALLOW_FROM), ([203, 0, 113, 0], 24, 0xf0)]);
        assert_eq!(port(&mut maps, &udp4(INSIDE, ELSEWHERE)), "allowed");
        assert_eq!(port(&mut maps, &udp4(OUTSIDE, ELSEWHERE)), "unmatched");
        assert_eq!(port(&mut maps, &udp4(ELSEWHERE, OUTSIDE)), "unmatched");
    }

    #[test]
    fn ipv6_is_judged_by_its_own_trie() {
        let mut maps = maps();
        maps.v6.insert(&Ipv6Prefix::new(v6(1, 0), 48), &(ALLOW_FROM | DENY_TO)).unwrap();
        maps.v6.insert(&Ipv6Prefix::new(v6(1, 0x80), 121), &DENY_FROM).unwrap();
        assert_eq!(port(&mut maps, &udp6(v6(1, 1), v6(2, 2))), "allowed");
        assert_eq!(port(&mut maps, &udp6(v6(2, 2), v6(1, 1))), "denied");
        assert_eq!(port(&mut maps, &udp6(v6(2, 2), v6(2, 3))), "unmatched");
        assert_eq!(port(&mut maps, &udp6(v6(1, 0x81), v6(2, 2))), "denied", "the /121 overrides the /48");
    }

    #[test]
    fn the_families_do_not_mix() {
        // Rules covering every address of one family do not touch the other.
        let mut only_v4 = with_v4(&[([0; 4], 0, DENY_FROM | DENY_TO)]);
        assert_eq!(port(&mut only_v4, &udp6(v6(1, 1), v6(2, 2))), "unmatched");
        let mut only_v6 = maps();
        only_v6.v6.insert(&Ipv6Prefix::new([0; 16], 0), &(DENY_FROM | DENY_TO)).unwrap();
        assert_eq!(port(&mut only_v6, &udp4(INSIDE, OUTSIDE)), "unmatched");
        // An IPv4-mapped IPv6 address (::ffff:198.18.0.1) is IPv6.
        let mut mapped = with_v4(&[([198, 18, 0, 0], 15, DENY_FROM)]);
        let mut from = [0u8; 16];
        from[10..12].copy_from_slice(&[0xff, 0xff]);
        from[12..].copy_from_slice(&INSIDE);
        assert_eq!(port(&mut mapped, &udp6(from, v6(2, 2))), "unmatched");
    }

    #[test]
    fn tagged_frames_options_and_other_protocols_are_judged_alike() {
        let mut maps = with_v4(&[([198, 18, 0, 0], 15, ALLOW_FROM), ([203, 0, 113, 0], 24, DENY_FROM)]);
        let cases = [
            (udp4(INSIDE, ELSEWHERE).vlan(42), "allowed"),
            (udp4(OUTSIDE, ELSEWHERE).qinq(100, 200), "denied"),
            (udp4(INSIDE, ELSEWHERE).ipv4_options(&[1; 40]), "allowed"),
            (PacketBuilder::new().ipv4(OUTSIDE, INSIDE).tcp(1, 2), "denied"),
            (PacketBuilder::new().ipv4(INSIDE, ELSEWHERE).icmp_echo(8, 1, 1), "allowed"),
            (PacketBuilder::new().ipv4(OUTSIDE, INSIDE).udp(1, 2).fragment(512, false), "denied"),
        ];
        for (builder, expected) in cases {
            assert_eq!(port(&mut maps, &builder), expected, "{builder:?}");
        }
        maps.v6.insert(&Ipv6Prefix::new(v6(1, 0), 48), &ALLOW_TO).unwrap();
        assert_eq!(port(&mut maps, &udp6(v6(2, 2), v6(1, 1)).vlan(7)), "allowed");
        assert_eq!(port(&mut maps, &udp6(v6(2, 2), v6(1, 1)).qinq(7, 8)), "allowed");
    }

    #[test]
    fn frames_that_are_not_ip_are_other() {
        let mut maps = with_v4(&[([0, 0, 0, 0], 0, DENY_FROM | DENY_TO)]);
        let cases = [
            PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]),
            PacketBuilder::new().vlan(5).ethertype(ethertype::ARP).payload(&[0; 28]),
            PacketBuilder::new().payload(&[1; 46]),
            // Three tags: nf-std unwraps two, the third is "another EtherType".
            udp4(INSIDE, OUTSIDE).vlan(1).vlan(2).vlan(3),
        ];
        for builder in cases {
            assert_eq!(port(&mut maps, &builder), "other", "{builder:?}");
        }
        for len in [0usize, 1, 13] {
            let mut frame = [0x08u8; 13];
            assert_eq!(name(packet(&mut SlicePacket::new(&mut frame[..len]), &mut maps)), "other");
        }
        // A tag cut short.
        let mut cut_tag = udp4(INSIDE, OUTSIDE).vlan(3).build();
        cut_tag.truncate(16);
        assert_eq!(name(packet(&mut SlicePacket::new(&mut cut_tag), &mut maps)), "other");
    }

    #[test]
    fn ip_headers_cut_short_or_malformed_are_denied() {
        // Everything allowed: the verdict can only come from the header.
        let mut maps = with_v4(&[([0, 0, 0, 0], 0, ALLOW_FROM | ALLOW_TO)]);
        maps.v6.insert(&Ipv6Prefix::new([0; 16], 0), &(ALLOW_FROM | ALLOW_TO)).unwrap();
        let mut frames: Vec<Vec<u8>> = Vec::new();
        // Cut before the end of the destination address, and at the
        // Ethernet header's end.
        for (builder, header) in [(udp4(INSIDE, OUTSIDE), 20), (udp6(v6(1, 1), v6(2, 2)), 40)] {
            let mut cut = builder.build();
            cut.truncate(14 + header - 1);
            frames.push(cut);
            let mut bare = builder.vlan(9).build();
            bare.truncate(18);
            frames.push(bare);
        }
        // IPv4 options announced but cut short.
        let mut cut_options = udp4(INSIDE, OUTSIDE).ipv4_options(&[1; 8]).build();
        cut_options.truncate(14 + 27);
        frames.push(cut_options);
        // The wrong IP version behind each EtherType, and an IHL below 5.
        frames.push(udp6(v6(1, 1), v6(2, 2)).ethertype(ethertype::IPV4).build());
        frames.push(udp4(INSIDE, OUTSIDE).ethertype(ethertype::IPV6).pad_to(80).build());
        let mut short_ihl = udp4(INSIDE, OUTSIDE).build();
        short_ihl[14] = 0x44;
        frames.push(short_ihl);
        for mut frame in frames {
            let before = frame.clone();
            assert_eq!(name(packet(&mut SlicePacket::new(&mut frame), &mut maps)), "denied", "{before:02x?}");
            assert_eq!(frame, before);
        }
    }

    #[test]
    fn a_denied_source_spares_the_destination_look_up() {
        let looked_up = core::cell::Cell::new(false);
        let verdict = judge(
            || Some(DENY_FROM),
            || {
                looked_up.set(true);
                Some(ALLOW_TO)
            },
        );
        assert_eq!(name(verdict), "denied");
        assert!(!looked_up.get());
    }
}
