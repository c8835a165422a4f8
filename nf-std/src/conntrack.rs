//! Connection tracking for a gateway between an inside network (the LAN it
//! protects) and the outside (the WAN): what `std.conntrack_out` and
//! `std.conntrack_in` share.
//!
//! A packet from the inside creates or refreshes the connection it belongs
//! to ([`outbound`]); a packet from the outside is let in only when it
//! belongs to a connection the inside opened, or is an ICMP error about one
//! ([`inbound`]). Connections live in an LRU hash map of [`ConnKey`] to
//! [`ConnEntry`], oriented from the inside, so both directions find the same
//! entry, and expire after a timeout that depends on their state
//! ([`ConnState`], [`DEFAULT_TIMEOUTS_S`], overridable per state in an
//! array of seconds).
//!
//! TCP follows the connection's state machine (SYN, SYN-ACK, ACK, FIN from
//! each side, RST), in the spirit of Linux's conntrack: a connection seen
//! mid-stream from the inside is picked up as established (as Linux does by
//! default, `nf_conntrack_tcp_loose`), and sequence numbers are not checked.
//! UDP and ICMP echo are tracked by their addresses and ports (the echo
//! identifier for ICMP) with timeouts. Nothing is reassembled: a later IPv4
//! fragment carries no ports, so it cannot be matched.
//!
//! The clock is [`crate::now_ns`]'s, the same in XDP and in userland, so an
//! XDP instance and a userland one can share one map.

use crate::Packet;
use crate::headers::{Icmp, L3, L4, Layers, TcpFlags, ip_proto, opaque, parse_l3_l4};
use crate::maps::{Array, LruHash, PlainData};

/// A connection, as the inside sees it: the same key for the packets that
/// leave and for the replies.
///
/// For ICMP echo, `inside_port` is the echo identifier and `outside_port`
/// is 0. Ports are in the host's byte order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnKey {
    /// The inside host's address, network order (IPv4 in the first 4 bytes).
    pub inside_addr: [u8; 16],
    /// The outside host's address, network order.
    pub outside_addr: [u8; 16],
    /// The inside host's TCP or UDP port, or the ICMP echo identifier.
    pub inside_port: u16,
    /// The outside host's TCP or UDP port; 0 for ICMP.
    pub outside_port: u16,
    /// [`ip_proto::TCP`], [`ip_proto::UDP`], [`ip_proto::ICMP`] or
    /// [`ip_proto::ICMPV6`].
    pub protocol: u8,
    /// 4 or 6.
    pub ip_version: u8,
    /// Always zero: the padding made explicit, so equal keys are equal bytes.
    pub reserved: [u8; 2],
}

// 16 + 16 + 2 + 2 + 1 + 1 + 2 = 40 bytes, alignment 2: no padding.
const _: () = assert!(core::mem::size_of::<ConnKey>() == 40);
const _: () = assert!(core::mem::align_of::<ConnKey>() == 2);

// SAFETY: `#[repr(C)]`, only integers and byte arrays, no padding (asserted
// above), no pointers, and every bit pattern is a valid `ConnKey`.
unsafe impl PlainData for ConnKey {}

/// What is known of one connection.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnEntry {
    /// When its last packet was seen ([`crate::now_ns`]'s clock).
    pub last_seen_ns: u64,
    /// When its first packet was seen.
    pub created_ns: u64,
    /// Packets from the inside (wrapping).
    pub packets_out: u32,
    /// Packets from the outside let in (wrapping).
    pub packets_in: u32,
    /// Its [`ConnState`], as [`ConnState::code`].
    pub state: u8,
    /// TCP: [`FIN_OUT`] and [`FIN_IN`], the sides that have sent a FIN.
    pub fins: u8,
    /// Always zero.
    pub reserved: [u8; 6],
}

// 8 + 8 + 4 + 4 + 1 + 1 + 6 = 32 bytes, alignment 8: no padding.
const _: () = assert!(core::mem::size_of::<ConnEntry>() == 32);

// SAFETY: `#[repr(C)]`, only integers and byte arrays, no padding (asserted
// above), no pointers, and every bit pattern is a valid `ConnEntry` (a state
// code that is no state reads as no connection).
unsafe impl PlainData for ConnEntry {}

/// [`ConnEntry::fins`]: the inside has sent a FIN.
pub const FIN_OUT: u8 = 1;
/// [`ConnEntry::fins`]: the outside has sent a FIN.
pub const FIN_IN: u8 = 2;

/// Where a connection is in its life. Each state has its own timeout: the
/// index of the state in the timeouts array is `code() - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    /// TCP: the inside sent a SYN; no answer yet.
    TcpSynSent,
    /// TCP: a SYN-ACK answered the SYN; the handshake's last ACK is due.
    TcpSynReceived,
    /// TCP: the handshake is done (or the connection was picked up
    /// mid-stream from the inside).
    TcpEstablished,
    /// TCP: one side has sent a FIN.
    TcpClosing,
    /// TCP: both sides have sent a FIN; late segments still pass.
    TcpTimeWait,
    /// TCP: a RST ended it.
    TcpClosed,
    /// UDP: datagrams went out, none came back yet.
    UdpUnreplied,
    /// UDP: the outside has answered.
    UdpReplied,
    /// ICMP echo: a request went out.
    IcmpEcho,
}

/// How many states (and timeouts) there are.
pub const STATES: usize = 9;

/// The timeout of each state in seconds, by index `code() - 1`, when the
/// timeouts array says 0 (or is shorter): Linux's conntrack defaults
/// (`net.netfilter.nf_conntrack_*_timeout*`), which nftables uses too. A
/// TCP connection with one FIN gets Linux's `fin_wait` timeout.
pub const DEFAULT_TIMEOUTS_S: [u64; STATES] = [120, 60, 432_000, 120, 120, 10, 30, 120, 30];

const NS_PER_S: u64 = 1_000_000_000;

impl ConnState {
    pub const ALL: [ConnState; STATES] = [
        ConnState::TcpSynSent,
        ConnState::TcpSynReceived,
        ConnState::TcpEstablished,
        ConnState::TcpClosing,
        ConnState::TcpTimeWait,
        ConnState::TcpClosed,
        ConnState::UdpUnreplied,
        ConnState::UdpReplied,
        ConnState::IcmpEcho,
    ];

    /// How [`ConnEntry::state`] stores it: 1 to [`STATES`] (0 is no state).
    #[inline(always)]
    pub fn code(self) -> u8 {
        match self {
            ConnState::TcpSynSent => 1,
            ConnState::TcpSynReceived => 2,
            ConnState::TcpEstablished => 3,
            ConnState::TcpClosing => 4,
            ConnState::TcpTimeWait => 5,
            ConnState::TcpClosed => 6,
            ConnState::UdpUnreplied => 7,
            ConnState::UdpReplied => 8,
            ConnState::IcmpEcho => 9,
        }
    }

    #[inline(always)]
    pub fn from_code(code: u8) -> Option<ConnState> {
        Some(match code {
            1 => ConnState::TcpSynSent,
            2 => ConnState::TcpSynReceived,
            3 => ConnState::TcpEstablished,
            4 => ConnState::TcpClosing,
            5 => ConnState::TcpTimeWait,
            6 => ConnState::TcpClosed,
            7 => ConnState::UdpUnreplied,
            8 => ConnState::UdpReplied,
            9 => ConnState::IcmpEcho,
            _ => return None,
        })
    }

    /// Its name in `galette map dump` and the docs.
    pub fn name(self) -> &'static str {
        match self {
            ConnState::TcpSynSent => "syn_sent",
            ConnState::TcpSynReceived => "syn_received",
            ConnState::TcpEstablished => "established",
            ConnState::TcpClosing => "closing",
            ConnState::TcpTimeWait => "time_wait",
            ConnState::TcpClosed => "closed",
            ConnState::UdpUnreplied => "unreplied",
            ConnState::UdpReplied => "replied",
            ConnState::IcmpEcho => "echo",
        }
    }

    /// Its timeout in nanoseconds: `timeouts[code() - 1]` seconds, or the
    /// default when that is 0 or missing.
    #[inline(always)]
    pub fn timeout_ns(self, timeouts: &Array<u64>) -> u64 {
        let index = self.code() - 1;
        let seconds = match timeouts.get(u32::from(index)) {
            Some(seconds) if seconds != 0 => seconds,
            _ => self.default_timeout_s(),
        };
        // Not `saturating_mul`, which multiplies in 128 bits (`__multi3`,
        // which BPF does not have): against a constant, one comparison.
        if seconds > u64::MAX / NS_PER_S { u64::MAX } else { seconds * NS_PER_S }
    }

    /// [`DEFAULT_TIMEOUTS_S`] for this state (a match, not an index, so the
    /// verifier sees no variable offset).
    #[inline(always)]
    pub fn default_timeout_s(self) -> u64 {
        match self {
            ConnState::TcpSynSent => DEFAULT_TIMEOUTS_S[0],
            ConnState::TcpSynReceived => DEFAULT_TIMEOUTS_S[1],
            ConnState::TcpEstablished => DEFAULT_TIMEOUTS_S[2],
            ConnState::TcpClosing => DEFAULT_TIMEOUTS_S[3],
            ConnState::TcpTimeWait => DEFAULT_TIMEOUTS_S[4],
            ConnState::TcpClosed => DEFAULT_TIMEOUTS_S[5],
            ConnState::UdpUnreplied => DEFAULT_TIMEOUTS_S[6],
            ConnState::UdpReplied => DEFAULT_TIMEOUTS_S[7],
            ConnState::IcmpEcho => DEFAULT_TIMEOUTS_S[8],
        }
    }
}

impl ConnEntry {
    /// A connection first seen at `now`, in `state`.
    #[inline(always)]
    pub fn new(state: ConnState, now: u64) -> ConnEntry {
        ConnEntry { last_seen_ns: now, created_ns: now, state: state.code(), ..ConnEntry::default() }
    }

    #[inline(always)]
    pub fn conn_state(&self) -> Option<ConnState> {
        ConnState::from_code(self.state)
    }

    /// Whether the connection has timed out at `now`.
    #[inline(always)]
    pub fn expired(&self, timeouts: &Array<u64>, now: u64) -> bool {
        match self.conn_state() {
            Some(state) => now.saturating_sub(self.last_seen_ns) > state.timeout_ns(timeouts),
            None => true,
        }
    }
}

/// Which way a packet crosses the gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// From the inside, out.
    Out,
    /// From the outside, in.
    In,
}

/// What a TCP segment does to a connection in `state` (`None`: no live
/// connection) whose sides in `fins` have sent a FIN: the connection's next
/// state and FINs, or `None` when the segment is not part of it (from the
/// inside: nothing to record; from the outside: it is not let in).
#[inline(always)]
pub fn tcp_step(state: Option<ConnState>, fins: u8, direction: Direction, flags: TcpFlags) -> Option<(ConnState, u8)> {
    use ConnState::*;
    let opening = flags.syn() && !flags.ack();
    let answering = flags.syn() && flags.ack();
    let out = direction == Direction::Out;
    if flags.rst() {
        // A reset ends a live connection, from either side, and is let in
        // (so the inside learns of a refused connection); unknown, it is
        // nothing to record and not let in.
        return match state {
            Some(TcpClosed) | None => None,
            Some(_) => Some((TcpClosed, fins)),
        };
    }
    let fins = if flags.fin() { fins | if out { FIN_OUT } else { FIN_IN } } else { fins };
    let closing = || if fins == FIN_OUT | FIN_IN { TcpTimeWait } else { TcpClosing };
    let next = match (state, direction) {
        // Nothing known: the inside opens a connection, answers one that was
        // let in by another path (a port forward), or is picked up
        // mid-stream. From the outside, nothing is let in.
        (None, Direction::Out) if opening => (TcpSynSent, 0),
        (None, Direction::Out) if answering => (TcpSynReceived, 0),
        (None, Direction::Out) if fins != 0 => (TcpClosing, fins),
        (None, Direction::Out) => (TcpEstablished, 0),
        (None, Direction::In) => return None,
        // A closed connection's addresses and ports may be used again.
        (Some(TcpClosed | TcpTimeWait), Direction::Out) if opening => (TcpSynSent, 0),
        (Some(TcpClosed), Direction::Out) => (TcpClosed, fins),
        (Some(TcpClosed), Direction::In) => return None,
        (Some(TcpTimeWait), Direction::In) if opening => return None,
        (Some(TcpTimeWait), _) => (TcpTimeWait, fins),
        // The handshake.
        (Some(TcpSynSent), Direction::In) if flags.syn() => (TcpSynReceived, fins),
        (Some(TcpSynSent), Direction::In) => return None,
        (Some(TcpSynSent), Direction::Out) => (TcpSynSent, fins),
        (Some(TcpSynReceived), _) if fins != 0 => (closing(), fins),
        (Some(TcpSynReceived), _) if flags.ack() && !flags.syn() => (TcpEstablished, fins),
        (Some(TcpSynReceived), _) => (TcpSynReceived, fins),
        // An open connection, then its close.
        // A SYN from the outside does not open anything on an open one.
        (Some(TcpEstablished | TcpClosing), Direction::In) if opening => return None,
        (Some(TcpEstablished | TcpClosing), _) if fins != 0 => (closing(), fins),
        (Some(TcpEstablished), _) => (TcpEstablished, fins),
        (Some(TcpClosing), _) => (TcpClosing, fins),
        // A key's state is always a TCP one; anything else is no connection.
        (Some(UdpUnreplied | UdpReplied | IcmpEcho), Direction::Out) => (TcpEstablished, fins),
        (Some(UdpUnreplied | UdpReplied | IcmpEcho), Direction::In) => return None,
    };
    Some(next)
}

/// What [`outbound`] did with a packet from the inside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// TCP, UDP or an ICMP echo request: its connection is recorded, now in
    /// this state.
    Tracked(ConnState),
    /// Not tracked: not IP, another protocol, a later IPv4 fragment, an
    /// ICMP message other than an echo request, a TCP reset for no known
    /// connection, or a malformed header.
    Untracked,
}

/// What [`inbound`] made of a packet from the outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound {
    /// Part of a connection the inside opened (a reply).
    Reply,
    /// An ICMP error (destination unreachable, time exceeded, parameter
    /// problem, packet too big) about a packet of a tracked connection.
    Related,
    /// Nothing tracked: a new connection, a packet of an expired or evicted
    /// one, or one that does not fit its connection's state.
    New,
    /// Not IP, or ICMPv6 neighbour discovery or multicast listener
    /// messages: what the link itself needs to work.
    Link,
}

/// The maps both NFs bind.
pub struct ConnTable<'a> {
    pub connections: &'a LruHash<ConnKey, ConnEntry>,
    pub timeouts: &'a Array<u64>,
}

impl ConnTable<'_> {
    /// The live connection of `key` at `now`: expired ones are none.
    #[inline(always)]
    fn live(&self, key: &ConnKey, now: u64) -> Option<ConnEntry> {
        self.connections.get(key).filter(|entry| !entry.expired(self.timeouts, now))
    }

    /// Records `entry`: in place when the connection is in the table (a
    /// lookup, where an update of an LRU map takes its locks and may evict),
    /// else inserted (the map makes room by evicting the connection seen
    /// longest ago; if that fails all the same, this packet's verdict
    /// stands).
    #[inline(always)]
    fn record(&self, key: &ConnKey, entry: &ConnEntry) {
        if self.connections.modify(key, |slot| *slot = *entry).is_err() {
            let _ = self.connections.insert(key, entry);
        }
    }
}

/// A packet from the inside at `now`: records its connection.
#[inline(always)]
pub fn outbound<P: Packet>(pkt: &P, table: &ConnTable<'_>, now: u64) -> Outbound {
    let Some(layers) = parse_l3_l4(pkt) else { return Outbound::Untracked };
    let Some(key) = key_of(pkt, &layers, Direction::Out) else { return Outbound::Untracked };
    let current = table.live(&key, now);
    let state = current.and_then(|entry| entry.conn_state());
    let (next, fins) = match layers.l4 {
        L4::Tcp(tcp) => {
            let Some(flags) = tcp.flags(pkt) else { return Outbound::Untracked };
            let fins = current.map_or(0, |entry| entry.fins);
            match tcp_step(state, fins, Direction::Out, flags) {
                Some(next) => next,
                None => return Outbound::Untracked,
            }
        }
        L4::Udp(_) => match state {
            Some(ConnState::UdpReplied) => (ConnState::UdpReplied, 0),
            _ => (ConnState::UdpUnreplied, 0),
        },
        L4::Icmp(_) => (ConnState::IcmpEcho, 0),
        _ => return Outbound::Untracked,
    };
    // A connection opened again on a closed one's addresses starts afresh.
    let reopened = next == ConnState::TcpSynSent && state != Some(ConnState::TcpSynSent);
    let mut entry = match current {
        Some(entry) if !reopened => entry,
        _ => ConnEntry::new(next, now),
    };
    entry.state = next.code();
    entry.fins = fins;
    entry.last_seen_ns = now;
    entry.packets_out = entry.packets_out.wrapping_add(1);
    table.record(&key, &entry);
    Outbound::Tracked(next)
}

/// A packet from the outside at `now`: lets it in only as part of, or about,
/// a tracked connection.
#[inline(always)]
pub fn inbound<P: Packet>(pkt: &P, table: &ConnTable<'_>, now: u64) -> Inbound {
    let Some(layers) = parse_l3_l4(pkt) else { return Inbound::Link };
    // An ICMP error is about the connection of the packet it quotes (one the
    // inside sent); anything else about its own. One lookup either way (the
    // code is inlined into every program that runs it: one copy is less).
    let mut error = false;
    match layers.l4 {
        L4::Icmp(icmp) => match icmp_kind(pkt, &icmp, &layers.l3) {
            IcmpKind::EchoReply => {}
            IcmpKind::Error => error = true,
            IcmpKind::Link => return Inbound::Link,
            IcmpKind::Other => return Inbound::New,
        },
        // Multicast listener messages always carry a Hop-by-Hop options
        // header (the router alert); they are what the link needs too.
        L4::Other { protocol: ip_proto::HOPOPT, offset } if is_mld_after_hop_by_hop(pkt, offset) => {
            return Inbound::Link;
        }
        _ => {}
    }
    let key = match layers.l4 {
        L4::Icmp(icmp) if error => quoted_key(pkt, &icmp, &layers.l3),
        _ => key_of(pkt, &layers, Direction::In),
    };
    let Some(key) = key else { return Inbound::New };
    let Some(mut entry) = table.live(&key, now) else { return Inbound::New };
    if error {
        return Inbound::Related;
    }
    let state = entry.conn_state();
    let next = match layers.l4 {
        L4::Tcp(tcp) => {
            let Some(flags) = tcp.flags(pkt) else { return Inbound::New };
            match tcp_step(state, entry.fins, Direction::In, flags) {
                Some((next, fins)) => {
                    entry.fins = fins;
                    next
                }
                None => return Inbound::New,
            }
        }
        L4::Udp(_) if matches!(state, Some(ConnState::UdpUnreplied | ConnState::UdpReplied)) => ConnState::UdpReplied,
        L4::Icmp(_) if state == Some(ConnState::IcmpEcho) => ConnState::IcmpEcho,
        _ => return Inbound::New,
    };
    entry.state = next.code();
    entry.last_seen_ns = now;
    entry.packets_in = entry.packets_in.wrapping_add(1);
    table.record(&key, &entry);
    Inbound::Reply
}

/// What an ICMP message from the outside is, for connection tracking.
enum IcmpKind {
    /// An echo reply: matched like a UDP reply, by its identifier.
    EchoReply,
    /// An error that quotes the packet it is about.
    Error,
    /// ICMPv6 neighbour discovery or multicast listener messages.
    Link,
    /// Anything else (echo requests, timestamps, ...): new.
    Other,
}

#[inline(always)]
fn icmp_kind<P: Packet>(pkt: &P, icmp: &Icmp, l3: &L3) -> IcmpKind {
    let Some(icmp_type) = icmp.icmp_type(pkt) else { return IcmpKind::Other };
    match l3 {
        L3::Ipv4(_) => match icmp_type {
            Icmp::ECHO_REPLY => IcmpKind::EchoReply,
            // Destination unreachable, time exceeded, parameter problem.
            Icmp::DEST_UNREACHABLE | Icmp::TIME_EXCEEDED | 12 => IcmpKind::Error,
            _ => IcmpKind::Other,
        },
        L3::Ipv6(_) => match icmp_type {
            Icmp::V6_ECHO_REPLY => IcmpKind::EchoReply,
            // Destination unreachable, packet too big, time exceeded,
            // parameter problem.
            1..=4 => IcmpKind::Error,
            // Multicast listener query, report, done; router and neighbour
            // solicitation and advertisement, redirect; MLDv2 report.
            130..=137 | 143 => IcmpKind::Link,
            _ => IcmpKind::Other,
        },
    }
}

/// Whether the IPv6 Hop-by-Hop options header at `offset` is followed by
/// an ICMPv6 multicast listener message (query, report, done; MLDv2
/// report).
#[inline(always)]
fn is_mld_after_hop_by_hop<P: Packet>(pkt: &P, offset: usize) -> bool {
    let Some(&[next, length]) = pkt.bytes::<2>(opaque(offset)) else { return false };
    // The header's length is in 8-byte units, not counting the first 8.
    let icmp = offset + (usize::from(length) + 1) * 8;
    next == ip_proto::ICMPV6 && matches!(pkt.bytes::<1>(opaque(icmp)), Some(&[130..=132 | 143]))
}

/// The connection of the packet an ICMP error quotes: its IP header and the
/// first bytes after it (RFC 792 and 4443 require at least 8), which hold
/// the ports, or the echo identifier.
#[inline(always)]
fn quoted_key<P: Packet>(pkt: &P, icmp: &Icmp, l3: &L3) -> Option<ConnKey> {
    let start = icmp.payload_offset();
    let mut key = ConnKey::default();
    let payload = match l3 {
        L3::Ipv4(_) => {
            let header = pkt.bytes::<20>(opaque(start))?;
            if header[0] >> 4 != 4 {
                return None;
            }
            key.ip_version = 4;
            key.protocol = header[9];
            // The quoted packet went from the inside (its source) out.
            key.inside_addr[..4].copy_from_slice(&header[12..16]);
            key.outside_addr[..4].copy_from_slice(&header[16..20]);
            // Masked: at most 60, whatever the byte holds.
            start + usize::from(header[0] & 0x0f) * 4
        }
        L3::Ipv6(_) => {
            let header = pkt.bytes::<40>(opaque(start))?;
            if header[0] >> 4 != 6 {
                return None;
            }
            key.ip_version = 6;
            key.protocol = header[6];
            key.inside_addr.copy_from_slice(&header[8..24]);
            key.outside_addr.copy_from_slice(&header[24..40]);
            start + 40
        }
    };
    let l4 = pkt.bytes::<6>(opaque(payload))?;
    match key.protocol {
        ip_proto::TCP | ip_proto::UDP => {
            key.inside_port = u16::from_be_bytes([l4[0], l4[1]]);
            key.outside_port = u16::from_be_bytes([l4[2], l4[3]]);
        }
        // An echo request: type, code, checksum, then the identifier.
        ip_proto::ICMP | ip_proto::ICMPV6 => key.inside_port = u16::from_be_bytes([l4[4], l4[5]]),
        _ => return None,
    }
    Some(key)
}

/// The key of a TCP, UDP or ICMP echo packet crossing in `direction`, read
/// straight into place (code inlined into every program that runs it: no
/// intermediate copy of the addresses).
#[inline(always)]
fn key_of<P: Packet>(pkt: &P, layers: &Layers, direction: Direction) -> Option<ConnKey> {
    let out = direction == Direction::Out;
    let mut key = ConnKey::default();
    match layers.l3 {
        L3::Ipv4(ip) => {
            // Source and destination are adjacent: one 8-byte read.
            let addrs = pkt.bytes::<8>(opaque(ip.offset() + 12))?;
            let (src, dst) = addrs.split_at(4);
            let (inside, outside) = if out { (src, dst) } else { (dst, src) };
            key.inside_addr[..4].copy_from_slice(inside);
            key.outside_addr[..4].copy_from_slice(outside);
            key.ip_version = 4;
        }
        L3::Ipv6(ip) => {
            let addrs = pkt.bytes::<32>(opaque(ip.offset() + 8))?;
            let (src, dst) = addrs.split_at(16);
            let (inside, outside) = if out { (src, dst) } else { (dst, src) };
            key.inside_addr.copy_from_slice(inside);
            key.outside_addr.copy_from_slice(outside);
            key.ip_version = 6;
        }
    }
    key.protocol = layers.l4.protocol(&layers.l3);
    let (src, dst) = match layers.l4 {
        L4::Tcp(tcp) => tcp.ports(pkt)?,
        L4::Udp(udp) => udp.ports(pkt)?,
        L4::Icmp(icmp) => {
            // Only echo: a request going out, its reply coming in.
            let wanted = match (layers.l3, direction) {
                (L3::Ipv4(_), Direction::Out) => Icmp::ECHO_REQUEST,
                (L3::Ipv4(_), Direction::In) => Icmp::ECHO_REPLY,
                (L3::Ipv6(_), Direction::Out) => Icmp::V6_ECHO_REQUEST,
                (L3::Ipv6(_), Direction::In) => Icmp::V6_ECHO_REPLY,
            };
            if icmp.icmp_type(pkt)? != wanted {
                return None;
            }
            key.inside_port = icmp.echo_id(pkt)?;
            return Some(key);
        }
        _ => return None,
    };
    (key.inside_port, key.outside_port) = if out { (src, dst) } else { (dst, src) };
    Some(key)
}

#[cfg(test)]
mod tests;
