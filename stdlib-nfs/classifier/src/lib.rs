//! `std.classifier`: sorts traffic by its source address into `benign`,
//! `suspicious` and `malicious`, from what that source did in the current
//! time window: how many TCP SYNs it sent (a SYN flood) and to how many
//! distinct destination ports (a port scan).
//!
//! # Ports
//!
//! - `benign`: below every "suspicious" threshold; also every frame that is
//!   not IPv4 or IPv6 (ARP, LLDP, runt frames, a cut IP header): the
//!   classifier judges sources, and such frames have none. Put an ACL in front
//!   if they must not pass.
//! - `suspicious`: the source reached a "suspicious" threshold in this window
//!   (SYNs or distinct ports), not yet a "malicious" one. In the design's
//!   security chain this goes up to `dpi`.
//! - `malicious`: the source reached a "malicious" threshold in this window.
//!
//! Within a window the counts only grow, so a source's verdict goes from
//! benign to suspicious to malicious, never back; when the window expires its
//! counts start again from zero (and so does its verdict).
//!
//! # Maps
//!
//! - `flows: LruHash<SourceKey, SourceStats>`: the state of each source
//!   (`lru_hash<SourceKey, SourceStats>` in a chain, e.g. 65 536 entries; the
//!   least recently seen sources are evicted when it is full). IPv4 and IPv6
//!   sources are distinct keys. [`SourceStats`] holds packets and bytes since
//!   the entry was created, the start of its window, the window's SYN count,
//!   an estimate of the window's distinct destination ports (a 256-bit bitmap
//!   of hashed ports and the number of bits set) and the last verdict.
//! - `config: Array<u64>`: the thresholds (`array<u32, u64>[5]` in a chain),
//!   by index: [`WINDOW_NS`] (0), [`SYN_SUSPICIOUS`] (1), [`SYN_MALICIOUS`]
//!   (2), [`PORTS_SUSPICIOUS`] (3), [`PORTS_MALICIOUS`] (4). A threshold is
//!   reached when the window's count is at least its value. A 0 (or an index
//!   the map does not have) means the default: [`DEFAULTS`], a 1 s window,
//!   32 and 256 SYNs, 16 and 64 distinct ports. So an unconfigured map works;
//!   to turn one test off, set it to `u64::MAX`.
//!
//! What counts:
//!
//! - a SYN is a TCP segment with SYN set and ACK clear (a connection attempt;
//!   a server's SYN-ACKs do not count);
//! - a destination port counts for TCP segments with neither ACK nor RST set
//!   (SYN, FIN, NULL and Xmas probes: what opens or scans, not an established
//!   connection's traffic or a closed port's answer), and for UDP datagrams
//!   from a source port of 1024 or more (so a DNS or NTP server answering many
//!   clients from its well-known port does not look like a scanner);
//! - everything else (ICMP, other protocols, IPv4 later fragments, a cut TCP
//!   or UDP header) counts as a packet of its source and nothing more.
//!
//! Detection is per source address: a flood from spoofed random sources is
//! spread over many entries (and churns the LRU map); rate limiting
//! (`std.rate_limit`) or a SYN proxy deals with that. The port count is an
//! estimate from below: two ports may hash to one bit (with 64 ports, about
//! 7 collide), and the count stops growing at 256.
//!
//! # Where it runs and what it costs
//!
//! `#![no_std]`: in XDP (the verifier accepts it), or natively. Per IP packet:
//! a parse of the headers, five array lookups (the thresholds), one LRU hash
//! lookup and one update of the source's 80-byte entry. Reading and writing
//! the entry are two steps, so two CPUs seeing the same source at once may
//! lose a count: the thresholds are not exact under that race, which is fine
//! for a classifier.
#![no_std]

use nf_std::Packet;
use nf_std::headers::{L3, L4, parse_l3_l4};
use nf_std::maps::{Array, LruHash, PlainData};

/// Index in `config` of the window's length, in nanoseconds (default 1 s).
pub const WINDOW_NS: u32 = 0;
/// Index in `config` of the SYNs in one window at which a source is
/// suspicious (default 32).
pub const SYN_SUSPICIOUS: u32 = 1;
/// Index in `config` of the SYNs in one window at which a source is
/// malicious (default 256).
pub const SYN_MALICIOUS: u32 = 2;
/// Index in `config` of the distinct destination ports in one window at which
/// a source is suspicious (default 16).
pub const PORTS_SUSPICIOUS: u32 = 3;
/// Index in `config` of the distinct destination ports in one window at which
/// a source is malicious (default 64).
pub const PORTS_MALICIOUS: u32 = 4;
/// The number of entries `config` needs.
pub const CONFIG_LEN: u32 = 5;

/// The defaults, used for a `config` entry that is 0 or missing.
pub const DEFAULTS: Thresholds = Thresholds {
    window_ns: 1_000_000_000,
    syn_suspicious: 32,
    syn_malicious: 256,
    ports_suspicious: 16,
    ports_malicious: 64,
};

/// How many bits the port bitmap of [`SourceStats`] has.
pub const PORT_BITS: u32 = 256;

/// The maps a chain binds.
#[nf_std::maps]
pub struct Maps {
    /// Per source: `lru_hash<SourceKey, SourceStats>` in a chain.
    flows: LruHash<SourceKey, SourceStats>,
    /// The thresholds, by the indices above: `array<u32, u64>[5]`.
    config: Array<u64>,
}

/// The ports of `classifier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// A source below every "suspicious" threshold, or a frame that is not IP.
    Benign,
    /// A source past a "suspicious" threshold in this window.
    Suspicious,
    /// A source past a "malicious" threshold in this window.
    Malicious,
}

/// A source address, the key of `flows`; shared with `std.rate_limit`.
pub use nf_std::maps::SourceKey;

/// What `flows` keeps per source.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SourceStats {
    /// Packets since the entry was created (not reset with the window).
    pub packets: u64,
    /// Bytes (whole frames) since the entry was created.
    pub bytes: u64,
    /// When the current window started ([`nf_std::now_ns`]).
    pub window_start_ns: u64,
    /// TCP SYNs (without ACK) in this window.
    pub syns: u64,
    /// Bits set in `port_bits`: the estimate of distinct destination ports
    /// probed in this window.
    pub distinct_ports: u64,
    /// Destination ports probed in this window, each hashed to one of 256
    /// bits ([`port_bit`]).
    pub port_bits: [u64; 4],
    /// The last verdict: 0 benign, 1 suspicious, 2 malicious.
    pub level: u64,
}

// Ten u64 and nothing else: 80 bytes, no padding.
const _: () = assert!(core::mem::size_of::<SourceStats>() == 80);

// SAFETY: `#[repr(C)]`, only integers and an integer array, no padding
// (asserted above), no pointers, and every bit pattern is a valid
// `SourceStats` (a `level` above 2 reads as malicious).
unsafe impl PlainData for SourceStats {}

/// The thresholds in force, read from `config` (see [`DEFAULTS`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Thresholds {
    /// The window's length in nanoseconds.
    pub window_ns: u64,
    /// SYNs at which a source is suspicious.
    pub syn_suspicious: u64,
    /// SYNs at which a source is malicious.
    pub syn_malicious: u64,
    /// Distinct destination ports at which a source is suspicious.
    pub ports_suspicious: u64,
    /// Distinct destination ports at which a source is malicious.
    pub ports_malicious: u64,
}

impl Thresholds {
    /// The thresholds in `config`, with the default for each 0 or missing entry.
    #[inline(always)]
    pub fn read(config: &Array<u64>) -> Thresholds {
        Thresholds {
            window_ns: setting(config, WINDOW_NS, DEFAULTS.window_ns),
            syn_suspicious: setting(config, SYN_SUSPICIOUS, DEFAULTS.syn_suspicious),
            syn_malicious: setting(config, SYN_MALICIOUS, DEFAULTS.syn_malicious),
            ports_suspicious: setting(config, PORTS_SUSPICIOUS, DEFAULTS.ports_suspicious),
            ports_malicious: setting(config, PORTS_MALICIOUS, DEFAULTS.ports_malicious),
        }
    }
}

#[inline(always)]
fn setting(config: &Array<u64>, index: u32, default: u64) -> u64 {
    match config.get(index) {
        Some(value) if value != 0 => value,
        _ => default,
    }
}

/// What one packet tells about its source.
///
/// Plain fields rather than an `Option<u16>`: a `None` leaves its payload
/// undefined, and LLVM may then compute with whatever a register held on
/// that path (here a stack pointer, which the verifier refuses to mask:
/// "R1 bitwise operator &= on pointer prohibited").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Probe {
    /// A TCP SYN without ACK.
    syn: bool,
    /// Whether `port` counts towards the distinct ports.
    probes_port: bool,
    /// The destination port (0 unless `probes_port`).
    port: u16,
}

/// The bit of the port bitmap that `port` sets: a multiplicative hash of the
/// port, its top 8 bits (0..=255), so neighbouring ports land far apart.
#[inline(always)]
pub fn port_bit(port: u16) -> u32 {
    u32::from(port).wrapping_mul(0x9e37_79b1) >> 24
}

impl SourceStats {
    /// Accounts one packet of `len` bytes at `now`, starting a new window
    /// first if the current one is over, and returns the verdict.
    #[inline(always)]
    fn observe(&mut self, now: u64, len: u64, probe: Probe, limits: &Thresholds) -> Action {
        // saturating: a clock read on another CPU may be a hair behind.
        if now.saturating_sub(self.window_start_ns) >= limits.window_ns {
            self.window_start_ns = now;
            self.syns = 0;
            self.distinct_ports = 0;
            self.port_bits = [0; 4];
        }
        self.packets = self.packets.wrapping_add(1);
        self.bytes = self.bytes.wrapping_add(len);
        if probe.syn {
            self.syns = self.syns.saturating_add(1);
        }
        if probe.probes_port {
            let bit = port_bit(probe.port);
            let mask = 1u64 << (bit & 63);
            // `bit >> 6` is 0..=3: a constant-bounded index, no panic path.
            let word = &mut self.port_bits[(bit >> 6) as usize & 3];
            if *word & mask == 0 {
                *word |= mask;
                self.distinct_ports = self.distinct_ports.wrapping_add(1);
            }
        }
        let by_syns = level(self.syns, limits.syn_suspicious, limits.syn_malicious);
        let by_ports = level(self.distinct_ports, limits.ports_suspicious, limits.ports_malicious);
        let verdict = if by_syns > by_ports { by_syns } else { by_ports };
        self.level = match verdict {
            Action::Benign => 0,
            Action::Suspicious => 1,
            Action::Malicious => 2,
        };
        verdict
    }
}

#[inline(always)]
fn level(count: u64, suspicious: u64, malicious: u64) -> Action {
    if count >= malicious {
        Action::Malicious
    } else if count >= suspicious {
        Action::Suspicious
    } else {
        Action::Benign
    }
}

/// Classifies one packet by its source, at the current time.
#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    classify_at(pkt, maps, nf_std::now_ns())
}

/// [`packet`] at a given time `now` (nanoseconds of [`nf_std::now_ns`]'s
/// clock): for tests, and for callers that read the clock once for several
/// NFs.
#[inline(always)]
pub fn classify_at<P: Packet>(pkt: &P, maps: &Maps, now: u64) -> Action {
    let Some(layers) = parse_l3_l4(pkt) else { return Action::Benign };
    let key = match layers.l3 {
        L3::Ipv4(ip) => match ip.src(pkt) {
            Some(src) => SourceKey::v4(src),
            None => return Action::Benign,
        },
        L3::Ipv6(ip) => match ip.src(pkt) {
            Some(src) => SourceKey::v6(src),
            None => return Action::Benign,
        },
    };
    let probe = probe(pkt, &layers.l4);
    let limits = Thresholds::read(maps.config);
    let mut stats = maps.flows.get(&key).unwrap_or(SourceStats { window_start_ns: now, ..SourceStats::default() });
    let verdict = stats.observe(now, pkt.len() as u64, probe, &limits);
    // An LRU map makes room by evicting; if the update fails all the same,
    // the packet still gets the verdict of what this source did.
    let _ = maps.flows.insert(&key, &stats);
    verdict
}

/// What the transport header says: a SYN, a probed destination port.
#[inline(always)]
fn probe<P: Packet>(pkt: &P, l4: &L4) -> Probe {
    match *l4 {
        L4::Tcp(tcp) => {
            let Some(flags) = tcp.flags(pkt) else { return Probe::default() };
            let Some((_, dst)) = tcp.ports(pkt) else { return Probe::default() };
            let opening = !flags.ack() && !flags.rst();
            Probe { syn: flags.syn() && !flags.ack(), probes_port: opening, port: if opening { dst } else { 0 } }
        }
        L4::Udp(udp) => {
            let Some((src, dst)) = udp.ports(pkt) else { return Probe::default() };
            if src >= 1024 { Probe { syn: false, probes_port: true, port: dst } } else { Probe::default() }
        }
        _ => Probe::default(),
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use nf_std::SlicePacket;
    use nf_std::headers::{TcpFlags, ethertype};
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;

    const A: [u8; 4] = [198, 18, 0, 1];
    const B: [u8; 4] = [198, 18, 0, 2];
    const SERVER: [u8; 4] = [198, 19, 0, 1];
    const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const SERVER6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const T0: u64 = 1_000_000_000_000;
    const MS: u64 = 1_000_000;

    /// Fresh maps with `config` written at indices 0, 1, ...
    fn maps_with(config: &[u64]) -> Maps {
        let maps = Maps { flows: memory_map(64), config: memory_map(CONFIG_LEN) };
        for (index, value) in (0u32..).zip(config) {
            maps.config.insert(index, value).unwrap();
        }
        maps
    }

    /// A 1 s window, suspicious at 3 SYNs, malicious at 6; 4 and 8 ports.
    fn small() -> Maps {
        maps_with(&[1_000 * MS, 3, 6, 4, 8])
    }

    fn tcp(src: [u8; 4], dst_port: u16, flags: TcpFlags) -> PacketBuilder {
        PacketBuilder::new().ipv4(src, SERVER).tcp(40000, dst_port).tcp_flags(flags)
    }

    fn run(maps: &Maps, builder: &PacketBuilder, now: u64) -> Action {
        builder.run(|pkt| classify_at(pkt, maps, now)).0
    }

    fn stats(maps: &Maps, src: [u8; 4]) -> SourceStats {
        maps.flows.get(&SourceKey::v4(src)).expect("the source has an entry")
    }

    #[test]
    fn normal_connections_stay_benign() {
        let maps = small();
        // Two connections to port 443 (a SYN each, then data and ACKs), and
        // DNS over UDP: below every threshold, however many packets.
        let mut verdicts = Vec::new();
        let mut bytes = 0;
        let mut send = |builder: PacketBuilder, now: u64| {
            bytes += builder.build().len() as u64;
            verdicts.push(run(&maps, &builder, now));
        };
        for i in 0..2 {
            let now = T0 + i * 10 * MS;
            send(tcp(A, 443, TcpFlags::SYN), now);
            for j in 0..20 {
                send(tcp(A, 443, TcpFlags::ACK | TcpFlags::PSH).payload(b"GET / HTTP/1.1\r\n\r\n"), now + j);
            }
            send(tcp(A, 443, TcpFlags::FIN | TcpFlags::ACK), now + 50);
        }
        send(PacketBuilder::new().ipv4(A, SERVER).udp(53000, 53).payload(b"query"), T0 + 30 * MS);
        assert!(verdicts.iter().all(|v| *v == Action::Benign), "{verdicts:?}");
        let s = stats(&maps, A);
        assert_eq!((s.packets, s.bytes, s.syns, s.distinct_ports, s.level), (45, bytes, 2, 2, 0));
    }

    #[test]
    fn a_syn_flood_turns_suspicious_then_malicious() {
        let maps = small();
        let verdicts: Vec<Action> = (0..8).map(|i| run(&maps, &tcp(A, 80, TcpFlags::SYN), T0 + i * MS)).collect();
        use Action::*;
        assert_eq!(verdicts, [Benign, Benign, Suspicious, Suspicious, Suspicious, Malicious, Malicious, Malicious]);
        let s = stats(&maps, A);
        assert_eq!((s.syns, s.distinct_ports, s.level), (8, 1, 2), "one port, many SYNs");
        // Another source is not affected.
        assert_eq!(run(&maps, &tcp(B, 80, TcpFlags::SYN), T0 + 9 * MS), Benign);
    }

    #[test]
    fn a_port_scan_turns_suspicious_then_malicious() {
        // SYN thresholds out of the way: only the distinct ports count.
        let maps = maps_with(&[1_000 * MS, u64::MAX, u64::MAX, 4, 8]);
        // Ports chosen to land on distinct bits.
        let ports: Vec<u16> = distinct_bit_ports(10);
        let verdicts: Vec<Action> =
            ports.iter().enumerate().map(|(i, &p)| run(&maps, &tcp(A, p, TcpFlags::SYN), T0 + i as u64)).collect();
        use Action::*;
        assert_eq!(
            verdicts,
            [Benign, Benign, Benign, Suspicious, Suspicious, Suspicious, Suspicious, Malicious, Malicious, Malicious]
        );
        assert_eq!(stats(&maps, A).distinct_ports, 10);
        // The same port again adds nothing.
        assert_eq!(run(&maps, &tcp(A, ports[0], TcpFlags::SYN), T0 + 20), Malicious);
        assert_eq!(stats(&maps, A).distinct_ports, 10);
    }

    #[test]
    fn stealth_and_udp_scans_count_ports_too() {
        let maps = maps_with(&[1_000 * MS, u64::MAX, u64::MAX, 4, 8]);
        let ports = distinct_bit_ports(8);
        // FIN, NULL and Xmas probes, then UDP probes from a high port.
        let probes = [TcpFlags::FIN, TcpFlags(0), TcpFlags::FIN | TcpFlags::PSH | TcpFlags::URG];
        for (i, &port) in ports[..4].iter().enumerate() {
            run(&maps, &tcp(A, port, probes[i % 3]), T0);
        }
        assert_eq!(stats(&maps, A).syns, 0);
        assert_eq!(run(&maps, &tcp(A, ports[0], TcpFlags(0)), T0), Action::Suspicious);
        for &port in &ports[4..] {
            run(&maps, &PacketBuilder::new().ipv4(A, SERVER).udp(33434, port), T0);
        }
        assert_eq!(stats(&maps, A).distinct_ports, 8);
        assert_eq!(run(&maps, &tcp(A, ports[0], TcpFlags(0)), T0), Action::Malicious);
    }

    #[test]
    fn answers_do_not_count_as_probes() {
        let maps = maps_with(&[1_000 * MS, 1, 2, 1, 2]);
        // A server's SYN-ACKs, ACKs and RSTs to many client ports, and a DNS
        // server's answers from port 53: no SYN, no port.
        for (i, port) in distinct_bit_ports(20).into_iter().enumerate() {
            let flags =
                [TcpFlags::SYN | TcpFlags::ACK, TcpFlags::ACK, TcpFlags::RST, TcpFlags::RST | TcpFlags::ACK][i % 4];
            let reply = PacketBuilder::new().ipv4(SERVER, A).tcp(443, port).tcp_flags(flags);
            assert_eq!(run(&maps, &reply, T0), Action::Benign);
            let dns = PacketBuilder::new().ipv4(SERVER, A).udp(53, port).payload(b"answer");
            assert_eq!(run(&maps, &dns, T0), Action::Benign);
        }
        let s = stats(&maps, SERVER);
        assert_eq!((s.packets, s.syns, s.distinct_ports), (40, 0, 0));
    }

    #[test]
    fn icmp_fragments_and_cut_headers_only_count_packets() {
        let maps = maps_with(&[1_000 * MS, 1, 2, 1, 2]);
        let ping = PacketBuilder::new().ipv4(A, SERVER).icmp_echo(8, 1, 1);
        let fragment = PacketBuilder::new().ipv4(A, SERVER).ip_protocol(6).fragment(64, false).payload(&[0x02; 24]);
        let gre = PacketBuilder::new().ipv4(A, SERVER).ip_protocol(47).payload(&[0; 8]);
        for builder in [&ping, &fragment, &gre] {
            assert_eq!(run(&maps, builder, T0), Action::Benign);
        }
        // A TCP SYN whose header is cut after 12 bytes.
        let mut cut = tcp(A, 80, TcpFlags::SYN).build();
        cut.truncate(14 + 20 + 12);
        assert_eq!(classify_at(&SlicePacket::new(&mut cut), &maps, T0), Action::Benign);
        let s = stats(&maps, A);
        assert_eq!((s.packets, s.syns, s.distinct_ports), (4, 0, 0));
    }

    #[test]
    fn a_new_window_starts_over() {
        let maps = small();
        for i in 0..6 {
            run(&maps, &tcp(A, 80, TcpFlags::SYN), T0 + i * MS);
        }
        assert_eq!(stats(&maps, A).level, 2);
        // Still in the window (999 ms after its start): still malicious.
        assert_eq!(run(&maps, &tcp(A, 80, TcpFlags::ACK), T0 + 999 * MS), Action::Malicious);
        // 1 s after its start: a new window, counts from zero.
        assert_eq!(run(&maps, &tcp(A, 80, TcpFlags::SYN), T0 + 1_000 * MS), Action::Benign);
        let s = stats(&maps, A);
        assert_eq!((s.window_start_ns, s.syns, s.distinct_ports, s.level), (T0 + 1_000 * MS, 1, 1, 0));
        assert_eq!(s.packets, 8, "packets are not reset with the window");
        // A clock read that is a little behind does not start a window.
        assert_eq!(run(&maps, &tcp(A, 80, TcpFlags::SYN), T0 + 999 * MS), Action::Benign);
        assert_eq!(stats(&maps, A).syns, 2);
    }

    #[test]
    fn an_unconfigured_map_means_the_defaults() {
        let maps = maps_with(&[]);
        assert_eq!(Thresholds::read(maps.config), DEFAULTS);
        let verdicts: Vec<Action> = (0..256).map(|i| run(&maps, &tcp(A, 80, TcpFlags::SYN), T0 + i)).collect();
        assert_eq!(verdicts.iter().position(|v| *v == Action::Suspicious), Some(31));
        assert_eq!(verdicts.iter().position(|v| *v == Action::Malicious), Some(255));
        // Partly configured: zero entries keep their default.
        let maps = maps_with(&[0, 5]);
        assert_eq!(Thresholds::read(maps.config), Thresholds { syn_suspicious: 5, ..DEFAULTS });
        // A config map too small for every index: the missing ones are defaults.
        let tiny = Maps { flows: memory_map(4), config: memory_map(2) };
        tiny.config.insert(1, &7).unwrap();
        assert_eq!(Thresholds::read(tiny.config), Thresholds { syn_suspicious: 7, ..DEFAULTS });
    }

    #[test]
    fn a_real_port_scan_is_caught_with_the_defaults() {
        // nmap's default: the 1000 most common ports, here simply 1..=1000,
        // SYN thresholds out of the way.
        let maps = maps_with(&[0, u64::MAX, u64::MAX]);
        let verdicts: Vec<Action> = (1..=1000).map(|p| run(&maps, &tcp(A, p, TcpFlags::SYN), T0)).collect();
        let suspicious = verdicts.iter().position(|v| *v == Action::Suspicious).unwrap();
        let malicious = verdicts.iter().position(|v| *v == Action::Malicious).unwrap();
        assert!((15..=20).contains(&suspicious), "suspicious after {} ports", suspicious + 1);
        assert!((63..=90).contains(&malicious), "malicious after {} ports", malicious + 1);
        assert!(stats(&maps, A).distinct_ports > 200, "1000 ports fill most of the 256 bits");
    }

    #[test]
    fn ipv6_sources_are_classified_and_kept_apart_from_ipv4() {
        let maps = small();
        let syn6 = PacketBuilder::new().ipv6(A6, SERVER6).tcp(40000, 22).tcp_flags(TcpFlags::SYN);
        let verdicts: Vec<Action> = (0..6).map(|i| run(&maps, &syn6, T0 + i)).collect();
        assert_eq!(verdicts[2], Action::Suspicious);
        assert_eq!(verdicts[5], Action::Malicious);
        assert_eq!(maps.flows.get(&SourceKey::v6(A6)).unwrap().syns, 6);
        // The IPv4 address made of A6's first four bytes is another source.
        assert_eq!(maps.flows.get(&SourceKey::v4([0xfd, 0, 0, 0])), None);
        assert_eq!(run(&maps, &tcp([0xfd, 0, 0, 0], 22, TcpFlags::SYN), T0), Action::Benign);
    }

    #[test]
    fn vlan_tagged_frames_are_classified() {
        let maps = small();
        let tagged = tcp(A, 80, TcpFlags::SYN).qinq(10, 20);
        let verdicts: Vec<Action> = (0..3).map(|i| run(&maps, &tagged, T0 + i)).collect();
        assert_eq!(verdicts[2], Action::Suspicious);
    }

    #[test]
    fn frames_that_are_not_ip_are_benign_and_leave_no_state() {
        let maps = maps_with(&[1_000 * MS, 1, 1, 1, 1]);
        let arp = PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]);
        let other = PacketBuilder::new().payload(b"local experimental");
        for builder in [&arp, &other] {
            assert_eq!(run(&maps, builder, T0), Action::Benign);
        }
        // An IPv4 EtherType with the header cut short, a wrong IP version,
        // and a runt frame.
        let mut cut = tcp(A, 80, TcpFlags::SYN).build();
        cut.truncate(14 + 19);
        let mut bad_version = tcp(A, 80, TcpFlags::SYN).build();
        bad_version[14] = 0x65;
        let mut runt = [0u8; 10];
        for frame in [&mut cut[..], &mut bad_version[..], &mut runt[..]] {
            assert_eq!(classify_at(&SlicePacket::new(frame), &maps, T0), Action::Benign);
        }
        assert_eq!(maps.flows.get(&SourceKey::v4(A)), None);
    }

    #[test]
    fn a_full_map_evicts_but_the_verdict_stands() {
        let maps = Maps { flows: memory_map(1), config: memory_map(CONFIG_LEN) };
        maps.config.insert(SYN_SUSPICIOUS, &1).unwrap();
        assert_eq!(run(&maps, &tcp(A, 80, TcpFlags::SYN), T0), Action::Suspicious);
        assert_eq!(run(&maps, &tcp(B, 80, TcpFlags::SYN), T0), Action::Suspicious);
        assert_eq!(maps.flows.get(&SourceKey::v4(A)), None, "A was evicted for B");
        assert_eq!(stats(&maps, B).syns, 1);
    }

    #[test]
    fn the_entry_point_uses_the_clock() {
        let mut maps = small();
        let (action, frame) = tcp(A, 80, TcpFlags::SYN).run(|pkt| packet(pkt, &mut maps));
        assert_eq!(action, Action::Benign);
        assert_eq!(frame, tcp(A, 80, TcpFlags::SYN).build(), "the frame is not modified");
        let s = stats(&maps, A);
        assert!(s.window_start_ns > 0 && s.window_start_ns <= nf_std::now_ns());
        assert_eq!(s.bytes, frame.len() as u64);
    }

    #[test]
    fn keys_are_the_bytes_a_kernel_map_holds() {
        let key = SourceKey::v4(A);
        // SAFETY: SourceKey is plain data of 20 bytes (asserted at its definition).
        let bytes: [u8; 20] = unsafe { core::mem::transmute(key) };
        assert_eq!(bytes, [198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0]);
        assert_ne!(SourceKey::v4(A), SourceKey::v4(B));
        assert_eq!(SourceKey::v6(A6).addr, A6);
    }

    #[test]
    fn ports_spread_over_the_bitmap() {
        let bits: std::collections::BTreeSet<u32> = (0..=u16::MAX).map(port_bit).collect();
        assert_eq!(bits.len(), PORT_BITS as usize, "every bit is reachable");
        assert!(bits.iter().all(|&b| b < PORT_BITS));
        // 64 neighbouring ports land on at least 50 different bits.
        let near: std::collections::BTreeSet<u32> = (8000..8064).map(port_bit).collect();
        assert!(near.len() >= 50, "{}", near.len());
    }

    /// `n` ports that hash to `n` different bits.
    fn distinct_bit_ports(n: usize) -> Vec<u16> {
        let mut seen = std::collections::BTreeSet::new();
        (1..=u16::MAX).filter(|&p| seen.insert(port_bit(p))).take(n).collect()
    }
}
