//! `std.rate_limit`: a token bucket per source address. A packet that finds
//! a token in its source's bucket takes it and leaves by `conform`; one that
//! finds the bucket empty leaves by `exceed` (link it to `drop` to police, or
//! to a lower-priority path to shape). Buckets refill continuously at the
//! configured rate, up to the burst, by [`nf_std::now_ns`]'s clock.
//!
//! # Ports
//!
//! - `conform`: within its source's rate (or burst); also every frame that is
//!   not IPv4 or IPv6 (ARP, runt frames, a cut IP header), which has no
//!   source to limit, and every packet while the rate is 0 (unconfigured).
//! - `exceed`: its source's bucket did not hold what the packet costs.
//!
//! # Maps
//!
//! - `buckets: LruHash<SourceKey, Bucket>`: one bucket per source address
//!   (`lru_hash<SourceKey, Bucket>` in a chain, e.g. 65 536 entries; the
//!   least recently seen sources are evicted when it is full, and a source
//!   seen again starts with a full bucket). IPv4 and IPv6 sources are
//!   distinct keys.
//! - `config: Array<u64>` (`array<u32, u64>[3]` in a chain), by index:
//!   - [`RATE`] (0): tokens added per second, per source. 0 means no limit:
//!     every packet conforms and no bucket is kept (so an unconfigured chain
//!     lets everything through);
//!   - [`BURST`] (1): the most tokens a bucket holds, the burst a source may
//!     send at once. 0 means one second's worth (the rate);
//!   - [`UNIT`] (2): what a token is. [`PACKETS`] (0, or anything but 1): a
//!     packet costs one token, so the rate is in packets per second and the
//!     burst in packets. [`BYTES`] (1): a packet costs its frame's length
//!     (Ethernet header included, no FCS), so the rate is in bytes per second
//!     and the burst in bytes; a frame longer than the burst never conforms.
//!
//! Inside a bucket a token is 10⁹ units ([`UNITS_PER_TOKEN`]): a bucket gains
//! `RATE` units per nanosecond, exactly. Any rate works; bursts up to
//! 1.8 × 10¹⁰ tokens are exact, larger ones saturate (and are as good as
//! unlimited).
//!
//! # Where it runs and what it costs
//!
//! `#![no_std]`: in XDP (the verifier accepts it), or natively. Per IP
//! packet: a parse of the Ethernet and IP headers, three array lookups, one
//! LRU hash lookup, one 64-bit division (the refill) and one update of a
//! 16-byte bucket. Reading and updating
//! the bucket are two steps: two CPUs taking tokens from one source's bucket
//! at the same moment may both succeed where only one token was left, so
//! under that race a source may exceed its rate slightly.
#![no_std]

use nf_std::Packet;
use nf_std::headers::{Ethernet, Ipv4, Ipv6, ethertype};
use nf_std::maps::{Array, LruHash, PlainData};

/// Index in `config` of the rate: tokens per second (0: no limit).
pub const RATE: u32 = 0;
/// Index in `config` of the burst: the most tokens a bucket holds (0: the rate).
pub const BURST: u32 = 1;
/// Index in `config` of the unit: [`PACKETS`] or [`BYTES`].
pub const UNIT: u32 = 2;
/// The number of entries `config` needs.
pub const CONFIG_LEN: u32 = 3;

/// `config[UNIT]`: a packet costs one token.
pub const PACKETS: u64 = 0;
/// `config[UNIT]`: a packet costs one token per byte of its frame.
pub const BYTES: u64 = 1;

/// A token, in the units a [`Bucket`] counts: a bucket gains `RATE` units
/// per nanosecond.
pub const UNITS_PER_TOKEN: u64 = 1_000_000_000;

/// The maps a chain binds.
#[nf_std::maps]
pub struct Maps {
    /// One bucket per source: `lru_hash<SourceKey, Bucket>` in a chain.
    buckets: LruHash<SourceKey, Bucket>,
    /// Rate, burst and unit, by the indices above: `array<u32, u64>[3]`.
    config: Array<u64>,
}

/// The ports of `rate_limit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Within the source's rate, or nothing to limit.
    Conform,
    /// Over the source's rate: its bucket was short of tokens.
    Exceed,
}

/// A source address, the key of `buckets`; shared with `std.classifier`.
pub use nf_std::maps::SourceKey;

/// One source's token bucket.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// What the bucket holds, in units ([`UNITS_PER_TOKEN`] per token).
    pub units: u64,
    /// When it was last refilled ([`nf_std::now_ns`]).
    pub last_ns: u64,
}

// Two u64: 16 bytes, no padding.
const _: () = assert!(core::mem::size_of::<Bucket>() == 16);

// SAFETY: `#[repr(C)]`, two integers, no padding (asserted above), no
// pointers, and every bit pattern is a valid `Bucket`.
unsafe impl PlainData for Bucket {}

/// The limits in force, read from `config`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Tokens per second; 0 for no limit.
    pub rate: u64,
    /// The most tokens a bucket holds (the rate when `config` says 0).
    pub burst: u64,
    /// Whether a token is a byte rather than a packet.
    pub bytes: bool,
}

impl Limits {
    /// The limits in `config`; an index the map does not have reads as 0.
    #[inline(always)]
    pub fn read(config: &Array<u64>) -> Limits {
        let rate = config.get(RATE).unwrap_or(0);
        let burst = match config.get(BURST) {
            Some(burst) if burst != 0 => burst,
            _ => rate,
        };
        Limits { rate, burst, bytes: config.get(UNIT) == Some(BYTES) }
    }
}

impl Bucket {
    /// A full bucket at `now`.
    #[inline(always)]
    pub fn full(limits: &Limits, now: u64) -> Bucket {
        Bucket { units: units(limits.burst), last_ns: now }
    }

    /// Refills the bucket for the time since it was last refilled, then takes
    /// `cost` units from it if it holds them. True if it did.
    #[inline(always)]
    pub fn take(&mut self, limits: &Limits, now: u64, cost: u64) -> bool {
        let capacity = units(limits.burst);
        // saturating: a clock read on another CPU may be a hair behind; it
        // then adds nothing and does not move `last_ns` back.
        let elapsed = now.saturating_sub(self.last_ns);
        // `elapsed * rate` capped at what is missing, without multiplying in
        // 128 bits (`__multi3`, which BPF does not have; LLVM turns a
        // `b > u64::MAX / a` check back into one): the bucket is full once
        // `missing / rate` nanoseconds have passed, and before that the
        // product is at most `missing`, so it cannot overflow. (A bucket
        // over capacity, after the burst was lowered, is cut down to it.)
        let missing = capacity.saturating_sub(self.units);
        self.units = match missing.checked_div(limits.rate) {
            Some(fill_ns) if missing > 0 && elapsed <= fill_ns => self.units + elapsed * limits.rate,
            _ => capacity,
        };
        if now > self.last_ns {
            self.last_ns = now;
        }
        if self.units >= cost {
            self.units -= cost;
            true
        } else {
            false
        }
    }
}

/// `tokens` in units, or `u64::MAX` if that overflows. Not
/// `u64::saturating_mul`, which multiplies in 128 bits (`__multi3`), which
/// BPF does not have: against a constant, the check is one comparison.
#[inline(always)]
pub fn units(tokens: u64) -> u64 {
    if tokens > u64::MAX / UNITS_PER_TOKEN { u64::MAX } else { tokens * UNITS_PER_TOKEN }
}

/// Polices one packet by its source, at the current time.
#[inline(always)]
pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action {
    police_at(pkt, maps, nf_std::now_ns())
}

/// [`packet`] at a given time `now` (nanoseconds of [`nf_std::now_ns`]'s
/// clock): for tests, and for callers that read the clock once for several
/// NFs.
#[inline(always)]
pub fn police_at<P: Packet>(pkt: &P, maps: &Maps, now: u64) -> Action {
    let Some(key) = source(pkt) else { return Action::Conform };
    let limits = Limits::read(maps.config);
    if limits.rate == 0 {
        return Action::Conform;
    }
    let tokens = if limits.bytes { pkt.len() as u64 } else { 1 };
    let cost = units(tokens);
    let mut bucket = maps.buckets.get(&key).unwrap_or(Bucket::full(&limits, now));
    let conforms = bucket.take(&limits, now, cost);
    // An LRU map makes room by evicting; if the update fails all the same,
    // this packet's verdict stands and the next one starts with a full bucket.
    let _ = maps.buckets.insert(&key, &bucket);
    if conforms { Action::Conform } else { Action::Exceed }
}

/// The packet's source address, if it is IPv4 or IPv6.
#[inline(always)]
fn source<P: Packet>(pkt: &P) -> Option<SourceKey> {
    let eth = Ethernet::parse(pkt)?;
    match eth.ethertype() {
        ethertype::IPV4 => Some(SourceKey::v4(Ipv4::parse_at(pkt, eth.payload_offset())?.src(pkt)?)),
        ethertype::IPV6 => Some(SourceKey::v6(Ipv6::parse_at(pkt, eth.payload_offset())?.src(pkt)?)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use nf_std::SlicePacket;
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;

    const A: [u8; 4] = [198, 18, 0, 1];
    const B: [u8; 4] = [198, 18, 0, 2];
    const DST: [u8; 4] = [198, 19, 0, 1];
    const A6: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const T0: u64 = 1_000_000_000_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    /// Fresh maps with `config` written at indices 0, 1, ...
    fn maps_with(config: &[u64]) -> Maps {
        let maps = Maps { buckets: memory_map(64), config: memory_map(CONFIG_LEN) };
        for (index, value) in (0u32..).zip(config) {
            maps.config.insert(index, value).unwrap();
        }
        maps
    }

    fn udp(src: [u8; 4]) -> PacketBuilder {
        PacketBuilder::new().ipv4(src, DST).udp(40000, 5000).payload(b"data")
    }

    fn run(maps: &Maps, builder: &PacketBuilder, now: u64) -> Action {
        builder.run(|pkt| police_at(pkt, maps, now)).0
    }

    /// How many of `n` packets from `src`, all at `now`, conform.
    fn conforming(maps: &Maps, src: [u8; 4], n: usize, now: u64) -> usize {
        (0..n).filter(|_| run(maps, &udp(src), now) == Action::Conform).count()
    }

    #[test]
    fn a_burst_conforms_and_the_rest_exceeds() {
        let maps = maps_with(&[10, 5]);
        let verdicts: Vec<Action> = (0..7).map(|_| run(&maps, &udp(A), T0)).collect();
        use Action::*;
        assert_eq!(verdicts, [Conform, Conform, Conform, Conform, Conform, Exceed, Exceed]);
        let bucket = maps.buckets.get(&SourceKey::v4(A)).unwrap();
        assert_eq!(bucket, Bucket { units: 0, last_ns: T0 });
    }

    #[test]
    fn buckets_refill_at_the_rate_up_to_the_burst() {
        let maps = maps_with(&[10, 5]);
        assert_eq!(conforming(&maps, A, 10, T0), 5);
        // 10 per second: one token every 100 ms.
        assert_eq!(conforming(&maps, A, 3, T0 + 99 * MS), 0);
        assert_eq!(conforming(&maps, A, 3, T0 + 100 * MS), 1);
        assert_eq!(conforming(&maps, A, 3, T0 + 350 * MS), 2);
        // The half token left at 350 ms makes a whole one at 400 ms.
        assert_eq!(conforming(&maps, A, 3, T0 + 400 * MS), 1);
        // A long silence fills the bucket to the burst, not beyond.
        assert_eq!(conforming(&maps, A, 20, T0 + 60 * S), 5);
    }

    #[test]
    fn a_source_sending_at_the_rate_always_conforms() {
        let maps = maps_with(&[1000, 1]);
        // 1000 per second with a burst of 1: one packet every millisecond.
        let verdicts: Vec<Action> = (0..5000).map(|i| run(&maps, &udp(A), T0 + i * MS)).collect();
        assert!(verdicts.iter().all(|v| *v == Action::Conform));
        // Twice as fast: every other packet exceeds.
        let maps = maps_with(&[1000, 1]);
        let fast = (0..1000).filter(|i| run(&maps, &udp(A), T0 + i * MS / 2) == Action::Conform).count();
        assert_eq!(fast, 500);
    }

    #[test]
    fn sources_have_buckets_of_their_own() {
        let maps = maps_with(&[1, 2]);
        assert_eq!(conforming(&maps, A, 5, T0), 2);
        assert_eq!(conforming(&maps, B, 5, T0), 2);
        let v6 = PacketBuilder::new().ipv6(A6, [0xfd; 16]).tcp(1234, 80);
        let verdicts: Vec<Action> = (0..3).map(|_| run(&maps, &v6, T0)).collect();
        assert_eq!(verdicts, [Action::Conform, Action::Conform, Action::Exceed]);
        assert!(maps.buckets.get(&SourceKey::v6(A6)).is_some());
        assert_eq!(maps.buckets.get(&SourceKey::v4([0xfd, 0, 0, 0])), None);
    }

    #[test]
    fn in_bytes_a_packet_costs_its_length() {
        let maps = maps_with(&[1000, 1500, BYTES]);
        let big = udp(A).payload(&[0; 958]); // 14 + 20 + 8 + 958 = 1000 bytes
        let small = udp(A).payload(&[0; 458]); // 500 bytes
        assert_eq!(big.build().len(), 1000);
        assert_eq!(run(&maps, &big, T0), Action::Conform);
        assert_eq!(run(&maps, &big, T0), Action::Exceed, "500 bytes left");
        assert_eq!(run(&maps, &small, T0), Action::Conform);
        assert_eq!(run(&maps, &small, T0), Action::Exceed, "empty");
        // 1000 bytes per second: 500 ms for a small one.
        assert_eq!(run(&maps, &small, T0 + 499 * MS), Action::Exceed);
        assert_eq!(run(&maps, &small, T0 + 500 * MS), Action::Conform);
        // A frame longer than the burst never conforms.
        let jumbo = udp(A).payload(&[0; 1500]);
        assert_eq!(run(&maps, &jumbo, T0 + 3600 * S), Action::Exceed);
        // An unknown unit counts packets.
        let maps = maps_with(&[1000, 2, 7]);
        assert_eq!(Limits::read(maps.config), Limits { rate: 1000, burst: 2, bytes: false });
        assert_eq!(conforming(&maps, A, 3, T0), 2);
    }

    #[test]
    fn a_rate_of_zero_is_no_limit() {
        let maps = maps_with(&[]);
        assert_eq!(conforming(&maps, A, 1000, T0), 1000);
        assert_eq!(maps.buckets.get(&SourceKey::v4(A)), None, "no bucket is kept");
        let maps = maps_with(&[0, 5]);
        assert_eq!(conforming(&maps, A, 10, T0), 10);
    }

    #[test]
    fn a_burst_of_zero_is_one_second_of_the_rate() {
        let maps = maps_with(&[4]);
        assert_eq!(Limits::read(maps.config), Limits { rate: 4, burst: 4, bytes: false });
        assert_eq!(conforming(&maps, A, 10, T0), 4);
        // A config map with only the rate in it works the same.
        let tiny = Maps { buckets: memory_map(4), config: memory_map(1) };
        tiny.config.insert(RATE, &3).unwrap();
        assert_eq!(conforming(&tiny, A, 10, T0), 3);
    }

    #[test]
    fn a_clock_behind_gives_nothing_back() {
        let maps = maps_with(&[10, 1]);
        assert_eq!(conforming(&maps, A, 1, T0 + S), 1);
        // Read on another CPU, 50 ms behind: no refill, and `last_ns` stays.
        assert_eq!(conforming(&maps, A, 1, T0 + S - 50 * MS), 0);
        assert_eq!(maps.buckets.get(&SourceKey::v4(A)).unwrap().last_ns, T0 + S);
        assert_eq!(conforming(&maps, A, 1, T0 + S + 99 * MS), 0);
        assert_eq!(conforming(&maps, A, 1, T0 + S + 100 * MS), 1);
    }

    #[test]
    fn huge_settings_saturate_instead_of_overflowing() {
        let maps = maps_with(&[u64::MAX, u64::MAX, BYTES]);
        assert_eq!(conforming(&maps, A, 100, T0), 100);
        assert_eq!(conforming(&maps, A, 100, u64::MAX), 100);
        let maps = maps_with(&[u64::MAX, 1]);
        assert_eq!(conforming(&maps, A, 3, 0), 1);
        assert_eq!(conforming(&maps, A, 3, u64::MAX), 1);
    }

    #[test]
    fn units_saturate() {
        assert_eq!(units(0), 0);
        assert_eq!(units(3), 3 * UNITS_PER_TOKEN);
        assert_eq!(units(u64::MAX / UNITS_PER_TOKEN), u64::MAX / UNITS_PER_TOKEN * UNITS_PER_TOKEN);
        assert_eq!(units(u64::MAX / UNITS_PER_TOKEN + 1), u64::MAX);
        assert_eq!(units(u64::MAX), u64::MAX);
    }

    #[test]
    fn a_bucket_over_a_lowered_burst_is_cut_down() {
        let maps = maps_with(&[1, 10]);
        assert_eq!(conforming(&maps, A, 1, T0), 1);
        maps.config.insert(BURST, &2).unwrap();
        assert_eq!(conforming(&maps, A, 5, T0), 2, "9 tokens left, but the bucket holds 2");
    }

    #[test]
    fn frames_that_are_not_ip_conform_and_leave_no_state() {
        let maps = maps_with(&[1, 1]);
        let arp = PacketBuilder::new().ethertype(nf_std::headers::ethertype::ARP).payload(&[0; 28]);
        for _ in 0..5 {
            assert_eq!(run(&maps, &arp, T0), Action::Conform);
        }
        let mut cut = udp(A).build();
        cut.truncate(14 + 15);
        let mut runt = [0u8; 12];
        for frame in [&mut cut[..], &mut runt[..]] {
            assert_eq!(police_at(&SlicePacket::new(frame), &maps, T0), Action::Conform);
        }
        assert_eq!(maps.buckets.get(&SourceKey::v4(A)), None);
    }

    #[test]
    fn vlan_tags_and_any_transport_are_limited_alike() {
        let maps = maps_with(&[1, 3]);
        let frames = [
            udp(A).vlan(7),
            PacketBuilder::new().ipv4(A, DST).icmp_echo(8, 1, 1).qinq(1, 2),
            PacketBuilder::new().ipv4(A, DST).ip_protocol(47).fragment(8, true),
            udp(A),
        ];
        let verdicts: Vec<Action> = frames.iter().map(|f| run(&maps, f, T0)).collect();
        assert_eq!(verdicts, [Action::Conform, Action::Conform, Action::Conform, Action::Exceed]);
    }

    #[test]
    fn a_full_map_evicts_and_an_evicted_source_starts_full() {
        let maps = Maps { buckets: memory_map(1), config: memory_map(CONFIG_LEN) };
        maps.config.insert(RATE, &1).unwrap();
        assert_eq!(conforming(&maps, A, 3, T0), 1);
        assert_eq!(conforming(&maps, B, 3, T0), 1);
        assert_eq!(maps.buckets.get(&SourceKey::v4(A)), None, "A was evicted for B");
        assert_eq!(conforming(&maps, A, 3, T0), 1);
    }

    #[test]
    fn the_entry_point_uses_the_clock_and_leaves_the_frame_alone() {
        let mut maps = maps_with(&[1, 1]);
        let (first, frame) = udp(A).run(|pkt| packet(pkt, &mut maps));
        let (second, _) = udp(A).run(|pkt| packet(pkt, &mut maps));
        assert_eq!((first, second), (Action::Conform, Action::Exceed));
        assert_eq!(frame, udp(A).build());
        let bucket = maps.buckets.get(&SourceKey::v4(A)).unwrap();
        assert!(bucket.last_ns > 0 && bucket.last_ns <= nf_std::now_ns());
    }
}
