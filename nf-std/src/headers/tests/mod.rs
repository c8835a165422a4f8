//! Host tests of the header views, on frames from `testing::PacketBuilder`.

extern crate std;

use std::vec::Vec;

use super::*;
use crate::SlicePacket;

mod flows;
mod l2_l3;
mod l4;
mod robustness;

pub(super) const A4: [u8; 4] = [198, 18, 0, 1];
pub(super) const B4: [u8; 4] = [198, 19, 255, 2];
pub(super) const A6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub(super) const B6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd, 0, 2];

/// xorshift64*: deterministic inputs for the property tests.
pub(super) struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        for b in &mut a {
            *b = self.next() as u8;
        }
        a
    }
}

pub(super) fn layers(frame: &mut [u8]) -> Option<Layers> {
    parse_l3_l4(&SlicePacket::new(frame))
}
