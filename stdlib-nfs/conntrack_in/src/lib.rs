//! `std.conntrack_in`: the outside half of a stateful firewall. A packet
//! from the outside (link `rx.wan` to it) leaves by `reply` only when it
//! belongs to a connection `std.conntrack_out` recorded for the inside, by
//! `related` when it is an ICMP error about one, and by `new` otherwise:
//! link `new` to `drop` (nothing from the outside opens a connection) or to
//! an allow list of forwarded ports. As nftables' `ct state
//! established,related accept` followed by a drop, or the default zone
//! policy of a home router.
//!
//! The two NFs bind the same two maps; see `std.conntrack_out` for what
//! they hold, and [`nf_std::conntrack`] for the states and timeouts.
//!
//! # Ports
//!
//! - `reply`: part of a tracked, live connection: a TCP segment that fits
//!   its state (the SYN-ACK to the inside's SYN, then anything until it
//!   closes, a RST once), a UDP datagram back to the inside's address and
//!   port, an ICMP echo reply with the request's identifier. It refreshes
//!   the connection.
//! - `related`: an ICMP error (destination unreachable, time exceeded,
//!   parameter problem, packet too big) quoting a packet of a tracked
//!   connection.
//! - `new`: everything else that is IP: a connection attempt, a probe, a
//!   reply to a connection that expired or was evicted, other protocols,
//!   and fragments but an IPv4 datagram's first: nothing is reassembled, so
//!   a later IPv4 fragment carries no ports to match, and IPv6's Fragment
//!   header is not walked.
//! - `link`: not IP (ARP), or ICMPv6 neighbour discovery and multicast
//!   listener messages (those behind their Hop-by-Hop header included):
//!   what the link needs to work; link it to the inside too.
//!
//! # Maps
//!
//! - `connections: LruHash<ConnKey, ConnEntry>`, `timeouts: Array<u64>`:
//!   the same maps as `std.conntrack_out`'s.
//!
//! # Where it runs and what it costs
//!
//! `#![no_std]`: in XDP or natively. Per packet: one header parse, one LRU
//! hash lookup and, for a reply, one array lookup and one update of the
//! entry; an ICMP error costs a lookup of the connection it quotes.
#![no_std]

use nf_std::Packet;
pub use nf_std::conntrack::{ConnEntry, ConnKey};
use nf_std::conntrack::{ConnTable, Inbound, inbound};
use nf_std::maps::{Array, LruHash};

/// The maps a chain binds.
#[nf_std::maps]
pub struct Maps {
    /// The connections `std.conntrack_out` records: `lru_hash<ConnKey, ConnEntry>`.
    connections: LruHash<ConnKey, ConnEntry>,
    /// Each state's timeout in seconds (0: the default): `array<u32, u64>[9]`.
    timeouts: Array<u64>,
}

/// The ports of `conntrack_in`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Part of a connection the inside opened.
    Reply,
    /// An ICMP error about a packet of a tracked connection.
    Related,
    /// Nothing tracked: a new connection, or a packet of an expired or
    /// evicted one.
    New,
    /// Not IP, or IPv6 neighbour discovery: what the link needs.
    Link,
}

/// Judges the packet against the tracked connections, at the current time.
#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    judge_at(pkt, maps, nf_std::now_ns())
}

/// [`packet`] at a given time `now` ([`nf_std::now_ns`]'s clock): for tests.
#[inline(always)]
pub fn judge_at<P: Packet>(pkt: &P, maps: &Maps, now: u64) -> Action {
    let table = ConnTable { connections: maps.connections, timeouts: maps.timeouts };
    match inbound(pkt, &table, now) {
        Inbound::Reply => Action::Reply,
        Inbound::Related => Action::Related,
        Inbound::New => Action::New,
        Inbound::Link => Action::Link,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::headers::TcpFlags;
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;

    /// The two halves on one pair of maps, as a chain binds them.
    #[test]
    fn replies_to_what_conntrack_out_recorded_come_in_and_nothing_else() {
        let maps = Maps { connections: memory_map(16), timeouts: memory_map(9) };
        let out_maps = conntrack_out::Maps { connections: maps.connections, timeouts: maps.timeouts };
        let (inside, outside) = ([198, 18, 0, 2], [198, 19, 0, 2]);
        let syn = PacketBuilder::new().ipv4(inside, outside).tcp(40000, 22).tcp_flags(TcpFlags::SYN);
        let syn_ack = PacketBuilder::new().ipv4(outside, inside).tcp(22, 40000).tcp_flags(TcpFlags(0x12));
        let judge = |builder: &PacketBuilder| builder.run(|pkt| judge_at(pkt, &maps, 2_000)).0;
        assert_eq!(judge(&syn_ack), Action::New, "nothing recorded yet");
        assert_eq!(syn.run(|pkt| conntrack_out::track_at(pkt, &out_maps, 1_000)).0, conntrack_out::Action::Tracked);
        assert_eq!(judge(&syn_ack), Action::Reply);
        let telnet = PacketBuilder::new().ipv4(outside, inside).tcp(50000, 23).tcp_flags(TcpFlags::SYN);
        assert_eq!(judge(&telnet), Action::New, "inbound telnet, as Mirai spread");
        assert_eq!(judge(&PacketBuilder::new().ethertype(0x0806).payload(&[0; 28])), Action::Link);
    }
}
