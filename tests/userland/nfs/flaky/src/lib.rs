//! A test fixture for the userland tier. It uses std (so it is placed in
//! userland), counts frames in a hash map keyed by their first byte, panics
//! on a frame whose first byte is 0xff (the runtime must survive that), and
//! otherwise sends frames whose first byte is even to `even`. Its `#[maps]`
//! struct is not named `Maps`, which the generated library must handle.

use nf_std::Packet;
use nf_std::maps::Hash;

#[nf_std::maps]
pub struct FlakyState {
    seen: Hash<u32, u64>,
}

pub enum Action {
    Even,
    Odd,
}

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut FlakyState) -> Action {
    let first = pkt.bytes::<1>(0).map_or(0, |byte| byte[0]);
    if first == 0xff {
        panic!("flaky: frame starting with 0xff");
    }
    let key = u32::from(first);
    let seen = maps.seen.get(&key).unwrap_or(0);
    let _ = maps.seen.insert(&key, &(seen + 1));
    let label = std::format!("{first}");
    if label.len() <= 3 && first % 2 == 0 { Action::Even } else { Action::Odd }
}
