//! The state machine as tables: sequences of packets through a gateway,
//! each with the verdict it must get, on in-memory maps with a clock the
//! test sets.

extern crate std;
use std::vec::Vec;

use super::*;
use crate::headers::TcpFlags;
use crate::maps::memory_map;
use crate::testing::PacketBuilder;

const INSIDE: [u8; 4] = [198, 18, 0, 2];
const OUTSIDE: [u8; 4] = [198, 19, 0, 2];
const OTHER: [u8; 4] = [198, 19, 0, 99];
const INSIDE6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const OUTSIDE6: [u8; 16] = [0xfd, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const S: u64 = 1_000_000_000;
const T0: u64 = 1_000 * S;

struct Gateway {
    connections: &'static LruHash<ConnKey, ConnEntry>,
    timeouts: &'static Array<u64>,
}

impl Gateway {
    fn new() -> Gateway {
        Gateway { connections: memory_map(64), timeouts: memory_map(STATES as u32) }
    }

    fn table(&self) -> ConnTable<'_> {
        ConnTable { connections: self.connections, timeouts: self.timeouts }
    }

    /// A packet leaving the inside.
    fn leaves(&self, packet: &PacketBuilder, now: u64) -> Outbound {
        packet.run(|pkt| outbound(pkt, &self.table(), now)).0
    }

    /// A packet arriving from the outside.
    fn arrives(&self, packet: &PacketBuilder, now: u64) -> Inbound {
        packet.run(|pkt| inbound(pkt, &self.table(), now)).0
    }
}

/// One step of a table: a packet, which way it crosses, and when.
#[derive(Clone, Copy)]
enum Step {
    Out(Packet, u64),
    In(Packet, u64),
}

/// The packets the tables are made of.
#[derive(Clone, Copy)]
enum Packet {
    /// TCP inside:40000 <-> outside:80 with these flags.
    Tcp(TcpFlags),
    /// TCP from another outside host to the inside port (a scan).
    TcpFromOther(TcpFlags),
    /// UDP inside:5353 <-> outside:53.
    Udp,
    /// UDP to another inside port.
    UdpOtherPort,
    /// ICMP echo request out / reply in, identifier 7.
    Echo,
    /// An echo reply with another identifier.
    EchoOtherId,
    /// ICMP destination unreachable quoting the UDP datagram.
    UnreachableForUdp,
}

/// The verdict a step must get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Out(Outbound),
    In(Inbound),
}

fn tcp(flags: TcpFlags, from_inside: bool) -> PacketBuilder {
    if from_inside {
        PacketBuilder::new().ipv4(INSIDE, OUTSIDE).tcp(40000, 80).tcp_flags(flags)
    } else {
        PacketBuilder::new().ipv4(OUTSIDE, INSIDE).tcp(80, 40000).tcp_flags(flags)
    }
}

fn udp_datagram(from_inside: bool) -> PacketBuilder {
    if from_inside {
        PacketBuilder::new().ipv4(INSIDE, OUTSIDE).udp(5353, 53).payload(b"query")
    } else {
        PacketBuilder::new().ipv4(OUTSIDE, INSIDE).udp(53, 5353).payload(b"answer")
    }
}

/// The IP header and the first 8 bytes after it of `packet`, as an ICMP
/// error quotes them.
fn quoted(packet: &PacketBuilder) -> Vec<u8> {
    let frame = packet.build();
    frame[14..14 + 20 + 8].to_vec()
}

fn build(packet: Packet, from_inside: bool) -> PacketBuilder {
    match packet {
        Packet::Tcp(flags) => tcp(flags, from_inside),
        Packet::TcpFromOther(flags) => PacketBuilder::new().ipv4(OTHER, INSIDE).tcp(80, 40000).tcp_flags(flags),
        Packet::Udp => udp_datagram(from_inside),
        Packet::UdpOtherPort => PacketBuilder::new().ipv4(OUTSIDE, INSIDE).udp(53, 5354).payload(b"answer"),
        Packet::Echo if from_inside => PacketBuilder::new().ipv4(INSIDE, OUTSIDE).icmp_echo(Icmp::ECHO_REQUEST, 7, 1),
        Packet::Echo => PacketBuilder::new().ipv4(OUTSIDE, INSIDE).icmp_echo(Icmp::ECHO_REPLY, 7, 1),
        Packet::EchoOtherId => PacketBuilder::new().ipv4(OUTSIDE, INSIDE).icmp_echo(Icmp::ECHO_REPLY, 8, 1),
        Packet::UnreachableForUdp => PacketBuilder::new()
            .ipv4([198, 19, 0, 1], INSIDE)
            .icmp(Icmp::DEST_UNREACHABLE, 3)
            .payload(&quoted(&udp_datagram(true))),
    }
}

/// Runs `steps` through a fresh gateway and returns each step's verdict.
fn run(steps: &[Step]) -> Vec<Verdict> {
    let gateway = Gateway::new();
    steps
        .iter()
        .map(|step| match *step {
            Step::Out(packet, at) => Verdict::Out(gateway.leaves(&build(packet, true), T0 + at)),
            Step::In(packet, at) => Verdict::In(gateway.arrives(&build(packet, false), T0 + at)),
        })
        .collect()
}

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;
const SYN_ACK: TcpFlags = TcpFlags(0x12);
const FIN_ACK: TcpFlags = TcpFlags(0x11);
const RST: TcpFlags = TcpFlags::RST;
const PSH_ACK: TcpFlags = TcpFlags(0x18);

use ConnState::*;
use Inbound::{New, Related, Reply};
use Outbound::Tracked;
use Step::{In, Out};

fn out(state: ConnState) -> Verdict {
    Verdict::Out(Tracked(state))
}

fn inn(inbound: Inbound) -> Verdict {
    Verdict::In(inbound)
}

#[test]
fn a_tcp_connection_from_the_inside_lets_its_replies_in_until_it_closes() {
    let steps = [
        Out(Packet::Tcp(SYN), 0),
        In(Packet::Tcp(SYN_ACK), 0),
        Out(Packet::Tcp(ACK), 0),
        In(Packet::Tcp(PSH_ACK), 1),
        Out(Packet::Tcp(FIN_ACK), 2),
        In(Packet::Tcp(FIN_ACK), 2),
        Out(Packet::Tcp(ACK), 2),
        // Late segments of the closed connection still pass (TIME_WAIT)...
        In(Packet::Tcp(ACK), 3),
        // ...but not once its timeout (120 s) has passed.
        In(Packet::Tcp(ACK), 3 + 121 * S),
    ];
    assert_eq!(
        run(&steps),
        [
            out(TcpSynSent),
            inn(Reply),
            out(TcpEstablished),
            inn(Reply),
            out(TcpClosing),
            inn(Reply),
            out(TcpTimeWait),
            inn(Reply),
            inn(New),
        ]
    );
}

#[test]
fn nothing_from_the_outside_opens_a_connection() {
    let steps = [
        // A scan: SYNs to the inside host, an ACK probe, a FIN probe.
        In(Packet::Tcp(SYN), 0),
        In(Packet::Tcp(ACK), 0),
        In(Packet::Tcp(FIN_ACK), 0),
        In(Packet::Udp, 0),
        In(Packet::Echo, 0),
        // The inside answering a SYN it was given by another path (a port
        // forward) is recorded; the outside's ACK then completes it.
        Out(Packet::Tcp(SYN_ACK), 1),
        In(Packet::Tcp(ACK), 1),
    ];
    assert_eq!(run(&steps), [inn(New), inn(New), inn(New), inn(New), inn(New), out(TcpSynReceived), inn(Reply),]);
}

#[test]
fn a_connection_is_one_pair_of_addresses_and_ports() {
    let steps = [
        Out(Packet::Tcp(SYN), 0),
        // Another outside host cannot answer in its place.
        In(Packet::TcpFromOther(SYN_ACK), 0),
        // Nor can the outside skip the handshake.
        In(Packet::Tcp(ACK), 0),
        In(Packet::Tcp(SYN_ACK), 0),
        Out(Packet::Udp, 0),
        In(Packet::UdpOtherPort, 0),
        In(Packet::Udp, 0),
        Out(Packet::Echo, 0),
        In(Packet::EchoOtherId, 0),
        In(Packet::Echo, 0),
    ];
    assert_eq!(
        run(&steps),
        [
            out(TcpSynSent),
            inn(New),
            inn(New),
            inn(Reply),
            out(UdpUnreplied),
            inn(New),
            inn(Reply),
            out(IcmpEcho),
            inn(New),
            inn(Reply),
        ]
    );
}

#[test]
fn a_reset_ends_a_connection_and_is_let_in_once() {
    let refused = [Out(Packet::Tcp(SYN), 0), In(Packet::Tcp(RST), 0), In(Packet::Tcp(RST), 0), In(Packet::Tcp(ACK), 0)];
    assert_eq!(run(&refused), [out(TcpSynSent), inn(Reply), inn(New), inn(New)]);
    // The inside resets an established connection, then opens it again.
    let reopened = [
        Out(Packet::Tcp(SYN), 0),
        In(Packet::Tcp(SYN_ACK), 0),
        Out(Packet::Tcp(RST), 0),
        In(Packet::Tcp(PSH_ACK), 0),
        Out(Packet::Tcp(SYN), 1),
        In(Packet::Tcp(SYN_ACK), 1),
    ];
    assert_eq!(run(&reopened), [out(TcpSynSent), inn(Reply), out(TcpClosed), inn(New), out(TcpSynSent), inn(Reply)]);
    // A reset for nothing known is not recorded.
    assert_eq!(run(&[Out(Packet::Tcp(RST), 0)]), [Verdict::Out(Outbound::Untracked)]);
}

#[test]
fn udp_replies_come_in_until_the_timeout() {
    let steps = [
        Out(Packet::Udp, 0),
        // 30 s unreplied...
        In(Packet::Udp, 29 * S),
        // ...then, replied, 120 s from the last packet.
        In(Packet::Udp, 29 * S + 119 * S),
        In(Packet::Udp, 29 * S + 119 * S + 121 * S),
    ];
    assert_eq!(run(&steps), [out(UdpUnreplied), inn(Reply), inn(Reply), inn(New)]);
    assert_eq!(run(&[Out(Packet::Udp, 0), In(Packet::Udp, 31 * S)]), [out(UdpUnreplied), inn(New)]);
}

#[test]
fn timeouts_come_from_the_array_and_zero_means_the_default() {
    let gateway = Gateway::new();
    gateway.timeouts.insert(UdpUnreplied.code() as u32 - 1, &2).unwrap();
    let at = |seconds: u64| T0 + seconds * S;
    assert_eq!(gateway.leaves(&udp_datagram(true), at(0)), Tracked(UdpUnreplied));
    assert_eq!(gateway.arrives(&udp_datagram(false), at(3)), New, "2 s, not the default 30 s");
    gateway.timeouts.insert(UdpUnreplied.code() as u32 - 1, &0).unwrap();
    assert_eq!(gateway.leaves(&udp_datagram(true), at(10)), Tracked(UdpUnreplied));
    assert_eq!(gateway.arrives(&udp_datagram(false), at(39)), Reply, "0: the default, 30 s");
    assert_eq!(UdpUnreplied.timeout_ns(gateway.timeouts), 30 * S);
    gateway.timeouts.insert(TcpEstablished.code() as u32 - 1, &u64::MAX).unwrap();
    assert_eq!(TcpEstablished.timeout_ns(gateway.timeouts), u64::MAX, "saturates");
}

#[test]
fn icmp_errors_about_a_tracked_connection_are_related() {
    let steps = [In(Packet::UnreachableForUdp, 0), Out(Packet::Udp, 0), In(Packet::UnreachableForUdp, 1)];
    assert_eq!(run(&steps), [inn(New), out(UdpUnreplied), inn(Related)]);
}

#[test]
fn what_a_link_needs_passes_and_what_cannot_be_tracked_goes_out_untracked() {
    let gateway = Gateway::new();
    let arp = PacketBuilder::new().ethertype(0x0806).payload(&[0; 28]);
    assert_eq!(gateway.arrives(&arp, T0), Inbound::Link);
    assert_eq!(gateway.leaves(&arp, T0), Outbound::Untracked);
    let neighbour_solicitation = PacketBuilder::new().ipv6(OUTSIDE6, INSIDE6).icmp(135, 0).payload(&[0; 20]);
    assert_eq!(gateway.arrives(&neighbour_solicitation, T0), Inbound::Link);
    let gre = PacketBuilder::new().ipv4(INSIDE, OUTSIDE).ip_protocol(47).payload(&[0; 8]);
    assert_eq!(gateway.leaves(&gre, T0), Outbound::Untracked);
    let gre_in = PacketBuilder::new().ipv4(OUTSIDE, INSIDE).ip_protocol(47).payload(&[0; 8]);
    assert_eq!(gateway.arrives(&gre_in, T0), New);
    let later_fragment =
        PacketBuilder::new().ipv4(OUTSIDE, INSIDE).fragment(185, false).ip_protocol(17).payload(&[0; 8]);
    assert_eq!(gateway.arrives(&later_fragment, T0), New);
    let ping_in = PacketBuilder::new().ipv4(OUTSIDE, INSIDE).icmp_echo(Icmp::ECHO_REQUEST, 7, 1);
    assert_eq!(gateway.arrives(&ping_in, T0), New);
}

#[test]
fn ipv6_connections_are_tracked_like_ipv4_ones() {
    let gateway = Gateway::new();
    let out = PacketBuilder::new().ipv6(INSIDE6, OUTSIDE6).tcp(40000, 443).tcp_flags(SYN);
    let back = PacketBuilder::new().ipv6(OUTSIDE6, INSIDE6).tcp(443, 40000).tcp_flags(SYN_ACK);
    assert_eq!(gateway.arrives(&back, T0), New);
    assert_eq!(gateway.leaves(&out, T0), Tracked(TcpSynSent));
    assert_eq!(gateway.arrives(&back, T0), Reply);
    let echo = PacketBuilder::new().ipv6(INSIDE6, OUTSIDE6).icmp_echo(Icmp::V6_ECHO_REQUEST, 3, 1);
    let echo_reply = PacketBuilder::new().ipv6(OUTSIDE6, INSIDE6).icmp_echo(Icmp::V6_ECHO_REPLY, 3, 1);
    assert_eq!(gateway.leaves(&echo, T0), Tracked(IcmpEcho));
    assert_eq!(gateway.arrives(&echo_reply, T0), Reply);
}

#[test]
fn the_entry_counts_packets_both_ways_and_keys_read_from_the_inside() {
    let gateway = Gateway::new();
    gateway.leaves(&tcp(SYN, true), T0);
    gateway.arrives(&tcp(SYN_ACK, false), T0 + S);
    gateway.leaves(&tcp(ACK, true), T0 + 2 * S);
    let key = ConnKey {
        inside_addr: [198, 18, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        outside_addr: [198, 19, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        inside_port: 40000,
        outside_port: 80,
        protocol: ip_proto::TCP,
        ip_version: 4,
        reserved: [0; 2],
    };
    let entry = gateway.connections.get(&key).expect("one entry for both directions");
    assert_eq!(entry.conn_state(), Some(TcpEstablished));
    assert_eq!((entry.packets_out, entry.packets_in), (2, 1));
    assert_eq!((entry.created_ns, entry.last_seen_ns), (T0, T0 + 2 * S));
}

#[test]
fn a_full_table_evicts_the_connection_seen_longest_ago() {
    let gateway = Gateway { connections: memory_map(2), timeouts: memory_map(STATES as u32) };
    let udp_from = |port: u16| PacketBuilder::new().ipv4(INSIDE, OUTSIDE).udp(port, 53).payload(b"q");
    let udp_to = |port: u16| PacketBuilder::new().ipv4(OUTSIDE, INSIDE).udp(53, port).payload(b"a");
    for port in [1000, 1001, 1002] {
        assert_eq!(gateway.leaves(&udp_from(port), T0), Tracked(UdpUnreplied));
    }
    assert_eq!(gateway.arrives(&udp_to(1000), T0), New, "evicted: its reply is new");
    assert_eq!(gateway.arrives(&udp_to(1002), T0), Reply);
}

#[test]
fn every_state_has_a_code_a_name_and_a_default_timeout() {
    for (index, state) in ConnState::ALL.into_iter().enumerate() {
        assert_eq!(usize::from(state.code()), index + 1);
        assert_eq!(ConnState::from_code(state.code()), Some(state));
        assert_eq!(state.default_timeout_s(), DEFAULT_TIMEOUTS_S[index]);
        assert!(!state.name().is_empty());
    }
    assert_eq!(ConnState::from_code(0), None);
    assert_eq!(ConnState::from_code(10), None);
}

#[test]
fn multicast_listener_reports_behind_a_hop_by_hop_header_are_what_the_link_needs() {
    let gateway = Gateway::new();
    // Next header ICMPv6, length 0 (8 bytes), router alert (type 5, 2 bytes,
    // value 0), PadN; then an MLDv2 report (143).
    let hop_by_hop = [58, 0, 5, 2, 0, 0, 1, 0];
    let mut payload = hop_by_hop.to_vec();
    payload.extend_from_slice(&[143, 0, 0, 0, 0, 0, 0, 0]);
    let report = PacketBuilder::new().ipv6([0; 16], INSIDE6).ip_protocol(0).payload(&payload);
    assert_eq!(gateway.arrives(&report, T0), Inbound::Link);
    // Another protocol behind the same header is not.
    payload[0] = 17;
    let other = PacketBuilder::new().ipv6([0; 16], INSIDE6).ip_protocol(0).payload(&payload);
    assert_eq!(gateway.arrives(&other, T0), New);
}

#[test]
fn a_syn_from_the_outside_opens_nothing_on_an_open_or_closing_connection() {
    let steps = [
        Out(Packet::Tcp(SYN), 0),
        In(Packet::Tcp(SYN_ACK), 0),
        Out(Packet::Tcp(ACK), 0),
        In(Packet::Tcp(SYN), 0),
        Out(Packet::Tcp(FIN_ACK), 1),
        In(Packet::Tcp(SYN), 1),
        In(Packet::Tcp(ACK), 1),
    ];
    assert_eq!(
        run(&steps),
        [out(TcpSynSent), inn(Reply), out(TcpEstablished), inn(New), out(TcpClosing), inn(New), inn(Reply),]
    );
}
