//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Every checksum here is a `u16` in the byte order it has on the wire read as
//! a big-endian number: the value `u16::from_be_bytes` gives for the two
//! checksum bytes of a header, and what `to_be_bytes` turns back into them.
//!
//! Two kinds of function live here:
//!
//! - Full computations over a byte slice ([`sum`], [`checksum`],
//!   [`ipv4_header_checksum`], [`l4_checksum_v4`], [`l4_checksum_v6`]). They
//!   loop over the slice, so they are meant for userland and host tests, where
//!   a frame is an ordinary slice; do not run them over packet data in XDP.
//! - Incremental updates ([`update_u16`], [`update_u32`], [`update_bytes`]):
//!   constant work, no loops over packet data, safe to use in XDP. A header
//!   setter that changes a covered field uses them to keep the checksum right.
//!
//! The incremental update is RFC 1624's equation 3, `HC' = ~(~HC + ~m + m')`,
//! which (unlike RFC 1141's `HC' = HC + m - m'`) gives exactly the checksum a
//! full recomputation gives, including the `0x0000`/`0xFFFF` case.

/// Adds `data` as a run of big-endian 16-bit words to `initial`, padding an odd
/// trailing byte with a zero, without folding. Feed the result to [`fold`], or
/// chain several calls (a pseudo-header, then a segment) by passing one's
/// result as the next one's `initial`. Only the first part of a chain may have
/// an odd length.
#[inline(always)]
pub fn sum(data: &[u8], initial: u64) -> u64 {
    let mut acc = initial;
    let mut words = data.chunks_exact(2);
    for word in &mut words {
        acc += u64::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    acc
}

/// Folds a wide one's-complement accumulator into 16 bits (end-around carry).
#[inline(always)]
pub fn fold(mut acc: u64) -> u16 {
    // Four rounds always suffice for a u64: each one at least halves the width
    // of the part above bit 16. A fixed count keeps the loop trivially bounded.
    acc = (acc & 0xffff_ffff) + (acc >> 32);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc = (acc & 0xffff) + (acc >> 16);
    acc as u16
}

/// The Internet checksum of `data`: the one's complement of the one's-complement
/// sum of its 16-bit words. Over data that already holds its correct checksum
/// the result is `0`.
#[inline(always)]
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum(data, 0))
}

/// The checksum an IPv4 header should carry: the Internet checksum of `header`
/// (its whole length, options included) with its checksum field (bytes 10 and
/// 11) counted as zero, whatever it holds now. `header` shorter than 12 bytes
/// is summed as it is.
#[inline(always)]
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let acc = sum(header, 0);
    let current = match header.get(10..12) {
        Some(&[hi, lo]) => u64::from(u16::from_be_bytes([hi, lo])),
        _ => 0,
    };
    // Subtracting the field from the unfolded sum is the same as summing with
    // the field zeroed: `acc` holds the field as one of its addends.
    !fold(acc - current)
}

/// The one's-complement sum (unfolded) of the IPv4 pseudo-header TCP, UDP use:
/// source, destination, zero, protocol, and the L4 length (header + payload).
#[inline(always)]
pub fn pseudo_header_sum_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, l4_len: u16) -> u64 {
    let acc = sum(&src, 0);
    let acc = sum(&dst, acc);
    acc + u64::from(protocol) + u64::from(l4_len)
}

/// The one's-complement sum (unfolded) of the IPv6 pseudo-header (RFC 8200
/// section 8.1) TCP, UDP and ICMPv6 use: source, destination, the 32-bit
/// upper-layer length, three zero bytes, next header.
#[inline(always)]
pub fn pseudo_header_sum_v6(src: [u8; 16], dst: [u8; 16], next_header: u8, l4_len: u32) -> u64 {
    let acc = sum(&src, 0);
    let acc = sum(&dst, acc);
    acc + u64::from(l4_len >> 16) + u64::from(l4_len & 0xffff) + u64::from(next_header)
}

/// The checksum a TCP or UDP segment (`segment` is its header and payload)
/// carried in IPv4 should hold, computed with its checksum field, at
/// `checksum_offset` in `segment` (16 for TCP, 6 for UDP), counted as zero.
/// For UDP, a result of `0x0000` must be sent as `0xFFFF` (see [`udp_wire`]).
/// Returns `None` when `segment` is longer than 65535 bytes or too short to
/// hold the field.
#[inline(always)]
pub fn l4_checksum_v4(src: [u8; 4], dst: [u8; 4], protocol: u8, segment: &[u8], checksum_offset: usize) -> Option<u16> {
    let len = u16::try_from(segment.len()).ok()?;
    let field = field_value(segment, checksum_offset)?;
    Some(!fold(sum(segment, pseudo_header_sum_v4(src, dst, protocol, len)) - field))
}

/// Like [`l4_checksum_v4`] for IPv6 (TCP, UDP and ICMPv6, whose checksum is at
/// offset 2).
#[inline(always)]
pub fn l4_checksum_v6(
    src: [u8; 16],
    dst: [u8; 16],
    next_header: u8,
    segment: &[u8],
    checksum_offset: usize,
) -> Option<u16> {
    let len = u32::try_from(segment.len()).ok()?;
    let field = field_value(segment, checksum_offset)?;
    Some(!fold(sum(segment, pseudo_header_sum_v6(src, dst, next_header, len)) - field))
}

#[inline(always)]
fn field_value(data: &[u8], offset: usize) -> Option<u64> {
    let end = offset.checked_add(2)?;
    match data.get(offset..end) {
        Some(&[hi, lo]) => Some(u64::from(u16::from_be_bytes([hi, lo]))),
        _ => None,
    }
}

/// How a computed UDP checksum goes on the wire: `0x0000` means "no checksum"
/// in UDP, so a computed zero is sent as `0xFFFF` (RFC 768), its other
/// one's-complement representation.
#[inline(always)]
pub fn udp_wire(checksum: u16) -> u16 {
    if checksum == 0 { 0xffff } else { checksum }
}

/// RFC 1624 equation 3: the new checksum after a 16-bit word covered by
/// `checksum` changes from `old` to `new` (the word must sit at an even offset
/// of the checksummed data, as every header field of 16 bits or more does).
#[inline(always)]
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    let acc = u64::from(!checksum) + u64::from(!old) + u64::from(new);
    !fold(acc)
}

/// RFC 1624 equation 3 for a 32-bit field (an IPv4 address, a TCP sequence
/// number) changing from `old` to `new`, both as big-endian numbers
/// (`u32::from_be_bytes` of the field's bytes).
#[inline(always)]
pub fn update_u32(checksum: u16, old: u32, new: u32) -> u16 {
    let acc = u64::from(!checksum)
        + u64::from(!(old >> 16) & 0xffff)
        + u64::from(!old & 0xffff)
        + u64::from(new >> 16)
        + u64::from(new & 0xffff);
    !fold(acc)
}

/// RFC 1624 equation 3 for a field of `N` bytes (`N` even, the field at an even
/// offset), e.g. an IPv6 address: `old` becomes `new`. A constant-size loop,
/// unrolled by the compiler, so it is usable in XDP.
#[inline(always)]
pub fn update_bytes<const N: usize>(checksum: u16, old: &[u8; N], new: &[u8; N]) -> u16 {
    const { assert!(N.is_multiple_of(2), "update_bytes needs an even number of bytes") };
    let mut acc = u64::from(!checksum);
    let mut i = 0;
    while i + 1 < N {
        acc += u64::from(!u16::from_be_bytes([old[i], old[i + 1]]));
        acc += u64::from(u16::from_be_bytes([new[i], new[i + 1]]));
        i += 2;
    }
    !fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic PRNG (xorshift64*) so the property tests need no
    /// dependency and always see the same inputs.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn byte(&mut self) -> u8 {
            (self.next() >> 56) as u8
        }
        fn fill(&mut self, buf: &mut [u8]) {
            for b in buf {
                *b = self.byte();
            }
        }
    }

    /// The example header of RFC 1071 section 3 ("Numerical Examples"): the
    /// words 0001 f203 f4f5 f6f7 sum (with end-around carry) to ddf2.
    #[test]
    fn rfc1071_numerical_example() {
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    /// RFC 1624 section 4 ("Examples"): a header with checksum 0xDD2F has a
    /// word changing from 0x5555 to 0x3285; the new checksum is 0x0000 (eqn. 3),
    /// where RFC 1141's eqn. 2 would give the wrong 0xFFFF.
    #[test]
    fn rfc1624_example() {
        assert_eq!(update_u16(0xdd2f, 0x5555, 0x3285), 0x0000);
        // The same example's sums: the header sums to 0x22D0 before (so its
        // checksum is !0x22D0 = 0xDD2F) and to 0xFFFF after.
        assert_eq!(!0x22d0u16, 0xdd2f);
        // Eqn. 2 (HC' = HC - m' + m in one's-complement arithmetic) gives 0xFFFF.
        let eqn2 = fold(u64::from(0xdd2fu16) + u64::from(!0x3285u16) + u64::from(0x5555u16));
        assert_eq!(eqn2, 0xffff);
    }

    /// Builds a concrete header for the RFC 1624 case: words whose sum is
    /// 0x22D0 and which contain 0x5555, then checks a full recomputation
    /// agrees with the incremental update.
    #[test]
    fn rfc1624_example_against_recomputation() {
        // 0x5555 + 0xCD7A = 0x122CF, which folds to 0x22D0.
        let mut data = [0x55, 0x55, 0xcd, 0x7a];
        assert_eq!(fold(sum(&data, 0)), 0x22d0);
        let c = checksum(&data);
        assert_eq!(c, 0xdd2f);
        data[0..2].copy_from_slice(&0x3285u16.to_be_bytes());
        assert_eq!(checksum(&data), 0x0000);
        assert_eq!(update_u16(c, 0x5555, 0x3285), checksum(&data));
    }

    /// A real IPv4 header (the one on Wikipedia's "IPv4 header checksum" page).
    #[test]
    fn known_ipv4_header() {
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8,
            0x00, 0xc7,
        ];
        assert_eq!(ipv4_header_checksum(&header), 0xb861);
        assert_eq!(checksum(&header), 0, "a header with its right checksum sums to all ones");
        let mut zeroed = header;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0xb861);
        assert_eq!(ipv4_header_checksum(&zeroed), 0xb861);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56], 0)), 0x1234 + 0x5600);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn fold_handles_huge_accumulators() {
        assert_eq!(fold(u64::MAX), 0xffff);
        assert_eq!(fold(0x1_0000), 0x0001);
        assert_eq!(fold(0xffff), 0xffff);
        // 65535 * 0xFFFF words of all ones still fold to all ones.
        assert_eq!(fold(0xffff * 0xffff), 0xffff);
    }

    /// Writes a correct checksum into a random 20..=60-byte IPv4-like header.
    fn random_ipv4_header(rng: &mut Rng, buf: &mut [u8; 60]) -> usize {
        rng.fill(buf);
        let ihl = 5 + (rng.next() % 11) as usize;
        buf[0] = 0x40 | ihl as u8;
        let len = ihl * 4;
        let c = ipv4_header_checksum(&buf[..len]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        len
    }

    #[test]
    fn incremental_u16_equals_recomputation() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut buf = [0u8; 60];
        for _ in 0..20_000 {
            let len = random_ipv4_header(&mut rng, &mut buf);
            let before = u16::from_be_bytes([buf[10], buf[11]]);
            assert_eq!(checksum(&buf[..len]), 0);
            // Any even offset but the checksum itself.
            let mut word = 2 * (rng.next() as usize % (len / 2));
            if word == 10 {
                word = 8;
            }
            let old = u16::from_be_bytes([buf[word], buf[word + 1]]);
            let new = match rng.next() % 4 {
                0 => 0,
                1 => 0xffff,
                2 => !old,
                _ => rng.next() as u16,
            };
            buf[word..word + 2].copy_from_slice(&new.to_be_bytes());
            let incremental = update_u16(before, old, new);
            assert_eq!(incremental, ipv4_header_checksum(&buf[..len]), "word {word}: {old:04x} -> {new:04x}");
        }
    }

    #[test]
    fn incremental_u32_and_bytes_equal_recomputation() {
        let mut rng = Rng(42);
        let mut buf = [0u8; 60];
        for _ in 0..20_000 {
            let len = random_ipv4_header(&mut rng, &mut buf);
            let before = u16::from_be_bytes([buf[10], buf[11]]);
            // The source (12) or destination (16) address, or an option word.
            let at = [12usize, 16, 20, 24][rng.next() as usize % 4];
            if at + 4 > len {
                continue;
            }
            let old: [u8; 4] = buf[at..at + 4].try_into().unwrap();
            let new = (rng.next() as u32).to_be_bytes();
            buf[at..at + 4].copy_from_slice(&new);
            let expected = ipv4_header_checksum(&buf[..len]);
            assert_eq!(update_u32(before, u32::from_be_bytes(old), u32::from_be_bytes(new)), expected);
            assert_eq!(update_bytes(before, &old, &new), expected);
        }
    }

    #[test]
    fn incremental_update_of_a_udp_checksum_over_ipv6_addresses() {
        let mut rng = Rng(7);
        let mut segment = [0u8; 37];
        for _ in 0..5_000 {
            let mut src = [0u8; 16];
            let mut dst = [0u8; 16];
            rng.fill(&mut src);
            rng.fill(&mut dst);
            rng.fill(&mut segment);
            let c = l4_checksum_v6(src, dst, 17, &segment, 6).unwrap();
            segment[6..8].copy_from_slice(&c.to_be_bytes());
            assert_eq!(!fold(sum(&segment, pseudo_header_sum_v6(src, dst, 17, 37))), 0);
            let mut new_src = [0u8; 16];
            rng.fill(&mut new_src);
            let incremental = update_bytes(c, &src, &new_src);
            assert_eq!(incremental, l4_checksum_v6(new_src, dst, 17, &segment, 6).unwrap());
        }
    }

    #[test]
    fn l4_checksum_verifies_to_zero() {
        let mut rng = Rng(3);
        for len in 8..200usize {
            let mut seg = [0u8; 200];
            rng.fill(&mut seg);
            let seg = &mut seg[..len];
            let src = [198, 18, 0, 1];
            let dst = [198, 18, 0, 2];
            let c = l4_checksum_v4(src, dst, 6, seg, 6).unwrap();
            seg[6..8].copy_from_slice(&c.to_be_bytes());
            assert_eq!(!fold(sum(seg, pseudo_header_sum_v4(src, dst, 6, len as u16))), 0, "len {len}");
        }
        assert_eq!(l4_checksum_v4([0; 4], [0; 4], 17, &[0; 7], 6), None);
        assert_eq!(udp_wire(0), 0xffff);
        assert_eq!(udp_wire(0x1234), 0x1234);
    }
}
