//! `std.sampler`: sends a configurable fraction of the packets, chosen at
//! random, to `sampled`, and the rest to `rest`. For handing a share of the
//! traffic to an expensive NF (`sampled: !inspect` upcalls it into a
//! userland worker) while the rest stays in the fast path.
//!
//! Ports:
//!
//! - `sampled`: the chosen packets;
//! - `rest`: every other packet.
//!
//! Packets are never changed, and every frame counts, IP or not, even a runt.
//!
//! Map: `config`, an `array<u32, u32>` of at least one entry; bind it as
//! `nf s = std.sampler { config: sampler_config }` with
//! `map sampler_config: array<u32, u32>[1]`.
//!
//! Configuration: index 0 of `config` ([`FRACTION`]) is the fraction sampled,
//! in parts per 65536 ([`ALL`]): 0 samples nothing (the value of a new
//! array, so a chain samples nothing until configured), 6554 about 10 %,
//! 32768 half, 65536 every packet; anything above 65536 counts as 65536. It
//! is read for every packet, so it can be changed while the chain runs:
//! `galette map set BUNDLE sampler_config 0 6554`. Each packet is chosen
//! independently, with probability `fraction / 65536`, by
//! [`nf_std::random_u32`] (`bpf_get_prandom_u32` in XDP): not a
//! cryptographic choice, and over a few packets the share sampled varies.
//!
//! Where it runs: anywhere; it is `#![no_std]` and the kernel verifier
//! accepts it, so by default it runs in XDP.
//!
//! Cost: one array look-up and one random number per packet; it reads no
//! byte of the packet.
#![no_std]

use nf_std::Packet;
use nf_std::maps::Array;

/// Index in `config` of the fraction sampled, in parts per [`ALL`].
pub const FRACTION: u32 = 0;

/// The fraction that samples every packet: 65536 parts per 65536.
pub const ALL: u32 = 1 << 16;

/// The maps a chain binds.
#[nf_std::maps]
pub struct Maps {
    /// Index [`FRACTION`] (0): the fraction of packets sent to `sampled`, in
    /// parts per 65536 (0 = none, 65536 or more = all). `array<u32, u32>`.
    config: Array<u32>,
}

/// The ports of `sampler`.
pub enum Action {
    /// The packets chosen, a `fraction / 65536` share of them. Unchanged.
    Sampled,
    /// Every other packet. Unchanged.
    Rest,
}

#[inline(always)]
pub fn packet<P: Packet>(_pkt: &mut P, maps: &mut Maps) -> Action {
    // `None` only for a map with no index 0, which a chain cannot declare;
    // it would sample nothing.
    let fraction = maps.config.get(FRACTION).unwrap_or(0);
    if chosen(fraction, nf_std::random_u32()) { Action::Sampled } else { Action::Rest }
}

/// Whether a packet that drew `random` is sampled at `fraction` parts per
/// 65536: the draw's top 16 bits, uniform in 0..65536, fall below it.
#[inline(always)]
fn chosen(fraction: u32, random: u32) -> bool {
    (random >> 16) < fraction
}

#[cfg(test)]
mod tests {
    use super::*;
    use nf_std::SlicePacket;
    use nf_std::headers::ethertype;
    use nf_std::maps::memory_map;
    use nf_std::testing::PacketBuilder;

    /// Maps for one test, with `fraction` at index 0.
    fn configured(fraction: u32) -> Maps {
        let maps = Maps { config: memory_map(1) };
        maps.config.insert(FRACTION, &fraction).unwrap();
        maps
    }

    fn udp() -> PacketBuilder {
        PacketBuilder::new().ipv4([198, 18, 0, 1], [198, 18, 0, 2]).udp(40000, 53).payload(b"query")
    }

    /// How many of `n` packets `maps` sends to `sampled`.
    fn sampled_of(maps: &mut Maps, n: usize) -> usize {
        let frame = udp().build();
        (0..n)
            .filter(|_| {
                let mut copy = frame.clone();
                matches!(packet(&mut SlicePacket::new(&mut copy), maps), Action::Sampled)
            })
            .count()
    }

    #[test]
    fn zero_samples_nothing_and_so_does_a_new_map() {
        assert_eq!(sampled_of(&mut configured(0), 10_000), 0);
        let mut unconfigured = Maps { config: memory_map(1) };
        assert_eq!(sampled_of(&mut unconfigured, 10_000), 0, "an array reads 0 until written");
    }

    #[test]
    fn all_and_more_than_all_sample_everything() {
        for fraction in [ALL, ALL + 1, u32::MAX] {
            assert_eq!(sampled_of(&mut configured(fraction), 10_000), 10_000, "fraction {fraction}");
        }
    }

    #[test]
    fn a_fraction_samples_about_that_share() {
        // 100 000 packets each: every range below reaches more than 9
        // standard deviations (158, 95 and 32 packets) either side of the mean.
        for (fraction, low, high) in [(32_768, 48_500, 51_500), (6_554, 8_700, 11_300), (655, 700, 1_300)] {
            let sampled = sampled_of(&mut configured(fraction), 100_000);
            assert!((low..=high).contains(&sampled), "fraction {fraction}: {sampled} of 100000 sampled");
        }
        // The smallest fraction still samples, rarely: 1 in 65536.
        assert!(sampled_of(&mut configured(1), 100_000) < 20);
    }

    #[test]
    fn the_choice_is_the_top_16_bits_of_the_draw_below_the_fraction() {
        assert!(!chosen(0, 0), "0 never samples, even the lowest draw");
        assert!(chosen(1, 0x0000_ffff));
        assert!(!chosen(1, 0x0001_0000));
        assert!(chosen(32_768, 0x7fff_ffff));
        assert!(!chosen(32_768, 0x8000_0000));
        assert!(!chosen(65_535, u32::MAX), "65535 misses only the highest draws");
        assert!(chosen(ALL, u32::MAX), "65536 samples even the highest draw");
    }

    #[test]
    fn the_configuration_is_read_for_every_packet() {
        let mut maps = configured(0);
        assert_eq!(sampled_of(&mut maps, 1_000), 0);
        maps.config.insert(FRACTION, &ALL).unwrap();
        assert_eq!(sampled_of(&mut maps, 1_000), 1_000);
    }

    #[test]
    fn any_frame_is_sampled_unchanged_even_not_ip_or_a_runt() {
        let mut maps = configured(ALL);
        let cases = [
            udp(),
            PacketBuilder::new().ipv6([0xfd; 16], [0xfe; 16]).tcp(1, 2).vlan(3),
            PacketBuilder::new().ethertype(ethertype::ARP).payload(&[0; 28]),
        ];
        for builder in cases {
            let (action, frame) = builder.run(|pkt| packet(pkt, &mut maps));
            assert!(matches!(action, Action::Sampled));
            assert_eq!(frame, builder.build());
        }
        let mut none = configured(0);
        for len in [0usize, 5] {
            let mut frame = [0x5au8; 5];
            let frame = &mut frame[..len];
            assert!(matches!(packet(&mut SlicePacket::new(frame), &mut maps), Action::Sampled));
            assert!(matches!(packet(&mut SlicePacket::new(frame), &mut none), Action::Rest));
            assert!(frame.iter().all(|&byte| byte == 0x5a));
        }
    }
}
