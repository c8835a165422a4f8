//! A test fixture: valid Rust and a valid Galette NF, but one the kernel
//! verifier must reject: its loop runs a million times per byte of the
//! frame, reading the frame at computed offsets, which the verifier cannot
//! prove safe and finite. galettec must say so.
#![no_std]

use nf_std::Packet;

pub enum Action {
    Even,
    Odd,
}

pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    let rounds = pkt.len() as u64 * 1_000_000;
    let mut sum = 0u8;
    let mut i = 0u64;
    while i < rounds {
        // Reading the packet keeps the loop from being optimised away.
        if let Some(&[byte]) = pkt.bytes::<1>((i % 64) as usize) {
            sum = sum.wrapping_add(byte);
        }
        i += 1;
    }
    // The verdict depends on the sum, so the loop must really run.
    if sum % 2 == 0 { Action::Even } else { Action::Odd }
}
