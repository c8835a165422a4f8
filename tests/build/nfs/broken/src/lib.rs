//! A test fixture: the shape galettec checks is right, but the body calls a
//! function that does not exist, so rustc rejects it. galettec must report
//! it as this NF's error, with rustc's message.
#![no_std]

use nf_std::Packet;

pub enum Action {
    Out,
}

pub fn packet<P: Packet>(pkt: &mut P) -> Action {
    swap_addresses(pkt);
    Action::Out
}
