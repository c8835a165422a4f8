//! `std.conntrack_out`: the inside half of a stateful firewall. Every packet
//! from the inside network (link `rx.lan` to it, or whatever leads from the
//! LAN to the WAN) creates or refreshes its connection in `connections`,
//! which `std.conntrack_in` on the outside reads to let the replies in and
//! nothing else. The two are one NF cut in two because an NF does not know
//! which interface a packet arrived on: the chain says it, by where it
//! links each.
//!
//! What counts as a connection, its states and timeouts are
//! [`nf_std::conntrack`]'s: TCP by its state machine (SYN, SYN-ACK, FIN,
//! RST; one seen mid-stream is picked up as established), UDP and ICMP echo
//! by addresses and ports (the echo identifier) with timeouts.
//!
//! # Ports
//!
//! - `tracked`: TCP, UDP or an ICMP echo request, its connection recorded.
//! - `other`: not tracked, and not recorded: frames that are not IP (ARP),
//!   other IP protocols, later IPv4 fragments, ICMP messages other than
//!   echo requests (errors the inside sends, neighbour discovery), a TCP
//!   reset for no known connection, a cut header. Link it out as well to
//!   let them through (their replies, if any, are not let in), or to `drop`.
//!
//! # Maps
//!
//! - `connections: LruHash<ConnKey, ConnEntry>` (`lru_hash<ConnKey,
//!   ConnEntry>` in a chain, shared with `std.conntrack_in`; e.g. 65 536
//!   entries): one entry per connection, keyed from the inside. When it is
//!   full the connection seen longest ago is evicted; its next reply then
//!   leaves `std.conntrack_in` by `new`.
//! - `timeouts: Array<u64>` (`array<u32, u64>[9]`, shared too): each state's
//!   timeout in seconds, by [`ConnState`] index; 0 (or a map left empty)
//!   means Linux's default ([`DEFAULT_TIMEOUTS_S`]).
//!
//! # Where it runs and what it costs
//!
//! `#![no_std]`: in XDP, or natively in userland (after an NF that runs
//! there), sharing the map with XDP instances. Per packet: one header
//! parse, one LRU hash lookup, one array lookup (the state's timeout) and
//! one update of a 32-byte entry. Reading and updating are two steps: two
//! CPUs updating one connection at once may lose one's packet count.
#![no_std]

use nf_std::Packet;
pub use nf_std::conntrack::{ConnEntry, ConnKey, ConnState, DEFAULT_TIMEOUTS_S};
use nf_std::conntrack::{ConnTable, Outbound, outbound};
use nf_std::maps::{Array, LruHash};

/// The maps a chain binds.
#[nf_std::maps]
pub struct Maps {
    /// The connections, keyed from the inside: `lru_hash<ConnKey, ConnEntry>`,
    /// shared with `std.conntrack_in`.
    connections: LruHash<ConnKey, ConnEntry>,
    /// Each state's timeout in seconds (0: the default): `array<u32, u64>[9]`.
    timeouts: Array<u64>,
}

/// The ports of `conntrack_out`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// TCP, UDP or an ICMP echo request: its connection is recorded.
    Tracked,
    /// Not tracked (not IP, another protocol, a later fragment, another
    /// ICMP message, a reset for nothing known): not recorded.
    Other,
}

/// Records the packet's connection, at the current time.
#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    track_at(pkt, maps, nf_std::now_ns())
}

/// [`packet`] at a given time `now` ([`nf_std::now_ns`]'s clock): for tests.
#[inline(always)]
pub fn track_at<P: Packet>(pkt: &P, maps: &Maps, now: u64) -> Action {
    let table = ConnTable { connections: maps.connections, timeouts: maps.timeouts };
    match outbound(pkt, &table, now) {
        Outbound::Tracked(_) => Action::Tracked,
        Outbound::Untracked => Action::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::headers::TcpFlags;
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;

    #[test]
    fn tcp_udp_and_echo_are_tracked_the_rest_is_other() {
        let maps = Maps { connections: memory_map(16), timeouts: memory_map(9) };
        let run = |builder: PacketBuilder| builder.run(|pkt| track_at(pkt, &maps, 1_000)).0;
        let (inside, outside) = ([198, 18, 0, 2], [198, 19, 0, 2]);
        let syn = PacketBuilder::new().ipv4(inside, outside).tcp(40000, 80).tcp_flags(TcpFlags::SYN);
        assert_eq!(run(syn), Action::Tracked);
        assert_eq!(run(PacketBuilder::new().ipv4(inside, outside).udp(5353, 53)), Action::Tracked);
        assert_eq!(run(PacketBuilder::new().ipv4(inside, outside).icmp_echo(8, 1, 1)), Action::Tracked);
        assert_eq!(run(PacketBuilder::new().ethertype(0x0806).payload(&[0; 28])), Action::Other);
        assert_eq!(run(PacketBuilder::new().ipv4(inside, outside).icmp(3, 3)), Action::Other);
        assert_eq!(run(PacketBuilder::new().ipv4(inside, outside).ip_protocol(50)), Action::Other);
        let mut key =
            ConnKey { inside_port: 40000, outside_port: 80, protocol: 6, ip_version: 4, ..ConnKey::default() };
        key.inside_addr[..4].copy_from_slice(&inside);
        key.outside_addr[..4].copy_from_slice(&outside);
        let entry = maps.connections.get(&key).expect("the SYN's connection is recorded");
        assert_eq!(entry.conn_state(), Some(ConnState::TcpSynSent));
    }
}
