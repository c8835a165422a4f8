#![no_std]

#[nf_std::maps]
pub struct Maps {
    flows: [u64; 16],
}

pub enum Action { Out }

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action { Action::Out }
