#![no_std]
use nf_std::maps::Hash;

#[derive(Clone, Copy)]
pub struct FlowStats {
    pub packets: u64,
    pub bytes: u64,
}

#[nf_std::maps]
pub struct Maps {
    flows: Hash<u32, FlowStats>,
}

pub enum Action { Out }

pub fn packet<P: Packet>(pkt: &mut P, maps: &mut Maps) -> Action { Action::Out }
