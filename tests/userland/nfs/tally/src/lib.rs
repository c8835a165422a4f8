//! A test fixture: counts frames by their first byte in `seen`, a map the
//! chain shares with the userland NF `flaky`. Its `#[maps]` struct is not
//! named `Maps`, which the generated XDP code must handle.
#![no_std]

use nf_std::Packet;
use nf_std::maps::Hash;

#[nf_std::maps]
pub struct Counts {
    seen: Hash<u32, u64>,
}

pub enum Action {
    Out,
}

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Counts) -> Action {
    if let Some(&[first]) = pkt.bytes::<1>(0) {
        let key = u32::from(first);
        let seen = maps.seen.get(&key).unwrap_or(0);
        let _ = maps.seen.insert(&key, &(seen + 1));
    }
    Action::Out
}
